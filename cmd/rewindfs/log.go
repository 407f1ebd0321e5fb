package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

func logCommand() *cli.Command {
	return &cli.Command{
		Name:      "log",
		Usage:     "list the records of a volume's log",
		ArgsUsage: "VOLUME|MOUNTPOINT",
		Description: "Prints one line per record: LSN, time, operation, path and bytes (never file\n" +
			"contents). --sync-points lists only the LSNs where an application's fsync completed and\n" +
			"the marks: the natural places to rewind to. Works on a mounted volume too (it reads the\n" +
			"log without stopping the daemon).\n\n" +
			"Examples:\n" +
			"  rewindfs log /srv/pg --since 15m --sync-points\n" +
			"  rewindfs log /srv/pg --since 18000 --until 18233 --json",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "since", Usage: "first `TARGET` to list"},
			&cli.StringFlag{Name: "until", Usage: "last `TARGET` to list"},
			&cli.BoolFlag{Name: "sync-points", Usage: "only sync points, marks and rewinds"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per line"},
		},
		Action: func(c *cli.Context) error {
			t, err := resolveArg(c, "VOLUME|MOUNTPOINT")
			if err != nil {
				return err
			}
			v, err := volume.Open(t.volume, volume.Options{ReadOnly: true, Logf: func(string, ...any) {}})
			if err != nil {
				return err
			}
			defer v.Close()
			from, to := lsn.LSN(0), v.Head()
			if s := c.String("since"); s != "" {
				if from, err = resolveTarget(v, s); err != nil {
					return err
				}
			}
			if s := c.String("until"); s != "" {
				if to, err = resolveTarget(v, s); err != nil {
					return err
				}
			}
			enc := json.NewEncoder(os.Stdout)
			return v.Log(from, to, func(e volume.LogEntry) error {
				if c.Bool("sync-points") && e.Op != "sync" && e.Op != "mark" && e.Op != "rewind" {
					return nil
				}
				if c.Bool("json") {
					return enc.Encode(e)
				}
				line := fmt.Sprintf("%10d  %s  %-8s %s", e.LSN, e.Time.Local().Format("2006-01-02 15:04:05.000000"), e.Op, printable(e.Path))
				switch {
				case e.NewPath != "":
					line += " -> " + printable(e.NewPath)
				case e.Op == "write":
					line += fmt.Sprintf(" @%d +%d", e.Offset, e.Bytes)
				case e.Op == "rewind":
					line += fmt.Sprintf("to LSN %d", e.Target)
				case e.Op == "mark":
					line += e.Name
				}
				_, err := fmt.Println(line)
				return err
			})
		},
	}
}

func resolveTarget(v *volume.Volume, s string) (lsn.LSN, error) {
	t, err := lsn.ParseTarget(s, time.Now())
	if err != nil {
		return 0, err
	}
	return v.Resolve(t)
}
