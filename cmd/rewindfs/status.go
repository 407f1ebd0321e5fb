package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/volume"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a volume's head, window and size",
		ArgsUsage: "VOLUME|MOUNTPOINT",
		Description: "For a mounted volume the daemon answers; an unmounted one is read (not changed).\n" +
			"--json prints one object with head_lsn, earliest_lsn, earliest_time, window, log_bytes,\n" +
			"base_lsn, mounted, pid, mountpoint and more. A kept mark shows what it costs: the log it\n" +
			"holds that compaction would otherwise delete (cost_bytes).\n\n" +
			"Examples:\n" +
			"  rewindfs status /srv/pg\n" +
			"  rewindfs status /var/lib/rewindfs/pg --json | jq .earliest_time",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print one JSON object"}},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "VOLUME|MOUNTPOINT"); err != nil {
				return err
			}
			s, err := status(c.Args().Get(0))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(s)
			}
			printStatus(s)
			return nil
		},
	}
}

func status(arg string) (volume.Status, error) {
	t, err := resolve(arg)
	if err != nil {
		return volume.Status{}, err
	}
	var s volume.Status
	if t.view {
		err := control.CallSocket(t.socket(), control.Request{Op: "status"}, &s, time.Minute)
		if err != nil {
			return s, fmt.Errorf("read-only view %s of %s does not answer: %w", t.mountpoint, t.volume, err)
		}
		return s, nil
	}
	if volume.Locked(t.volume) {
		if err := control.Call(t.volume, control.Request{Op: "status"}, &s, time.Minute); err == nil {
			return s, nil
		} else if t.mountpoint != "" {
			return s, fmt.Errorf("volume %s is mounted at %s but its daemon does not answer: %w", t.volume, t.mountpoint, err)
		}
	}
	v, err := volume.Open(t.volume, volume.Options{ReadOnly: true, Logf: func(string, ...any) {}})
	if err != nil {
		return s, err
	}
	defer v.Close()
	s = v.Status()
	s.ReadOnly = false
	return s, nil
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	return enc.Encode(v)
}

func printStatus(s volume.Status) {
	state := "not mounted"
	if s.Mounted {
		state = fmt.Sprintf("mounted at %s (daemon pid %d)", s.Mountpoint, s.PID)
	}
	fmt.Printf("volume     %s, %s\n", s.Volume, state)
	fmt.Printf("head       LSN %d at %s (durable through LSN %d)\n", s.HeadLSN, fmtTime(s.HeadTime), s.DurableLSN)
	fmt.Printf("window     %s configured, %s held: restorable from LSN %d (%s)\n", s.Window, s.WindowActual, s.EarliestLSN, fmtTime(s.EarliestTime))
	fmt.Printf("base       LSN %d; compaction %d record(s) (%.0fs) behind the window's edge\n", s.BaseLSN, s.CompactionLag, s.CompactionLagSeconds)
	fmt.Printf("last sync  LSN %d\n", s.LastSyncLSN)
	fmt.Printf("log        %s in %d segment(s), %d records; page size %d, compression %s\n", humanBytes(s.LogBytes), s.Segments, s.Records, s.PageSize, s.Compression)
	fmt.Printf("files      %d inodes, %d open handle(s)\n", s.Files, s.OpenFiles)
	if s.Checking {
		fmt.Printf("check      reading the sealed segments' records in the background (after the mount)\n")
	}
	if s.MetricsAddr != "" {
		fmt.Printf("metrics    http://%s/metrics\n", s.MetricsAddr)
	}
	printArchiveStatus(s.Archive)
	for _, b := range s.Timeline {
		fmt.Printf("rewind     at LSN %d (%s) back to LSN %d\n", b.LSN, fmtTime(b.Time), b.Target)
	}
	for _, m := range s.Marks {
		kept := ""
		if m.Keep {
			kept = fmt.Sprintf(" (kept: holds %s of history older than the window)", humanBytes(m.CostBytes))
		}
		fmt.Printf("mark       %s = LSN %d%s\n", m.Name, m.LSN, kept)
	}
	for _, w := range s.Warnings {
		fmt.Printf("WARNING    %s\n", w)
	}
}

func fmtTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05.000 MST") }

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
