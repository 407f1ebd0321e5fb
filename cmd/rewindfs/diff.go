package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "list the files created, removed, renamed or changed between two points",
		ArgsUsage: "VOLUME|MOUNTPOINT --from TARGET [--to TARGET]",
		Description: "Compares state(--from) with state(--to) (the live state if --to is left out) file by\n" +
			"file: what a rewind from one to the other would change. A file's bytes changed are the\n" +
			"pages written in between (cut at its end) and what a size change added or cut; file\n" +
			"contents are never read, so a page rewritten with the same bytes counts. A file renamed\n" +
			"keeps its identity (inode numbers are never reused); the entries of a renamed directory\n" +
			"are not listed as renamed themselves. A mounted volume is asked through its daemon.\n\n" +
			"Examples:\n" +
			"  rewindfs diff /srv/pg --from before-migration          # what happened since the mark\n" +
			"  rewindfs diff /srv/pg --from 10m --to 18233 --json",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Required: true, Usage: "the `TARGET` to compare from"},
			&cli.StringFlag{Name: "to", Usage: "the `TARGET` to compare to (default: the live state)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		},
		Action: func(c *cli.Context) error {
			t, err := resolveArg(c, "VOLUME|MOUNTPOINT --from TARGET [--to TARGET]")
			if err != nil {
				return err
			}
			d, err := diff(t, c.String("from"), c.String("to"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(d)
			}
			printDiff(d)
			return nil
		},
	}
}

// diff asks the daemon of a mounted volume, or opens an unmounted one
// read-only. An empty to means the live state.
func diff(t target, from, to string) (volume.Diff, error) {
	now := time.Now()
	ft, err := lsn.ParseTarget(from, now)
	if err != nil {
		return volume.Diff{}, fmt.Errorf("--from: %w", err)
	}
	tt := lsn.Target{}
	if to != "" {
		if tt, err = lsn.ParseTarget(to, now); err != nil {
			return volume.Diff{}, fmt.Errorf("--to: %w", err)
		}
	}
	var d volume.Diff
	if volume.Locked(t.volume) {
		err = control.Call(t.volume, control.Request{Op: "diff", From: from, Target: to}, &d, 10*time.Minute)
		switch {
		case err == nil || !errors.Is(err, control.ErrNoDaemon):
			return d, err
		case t.mountpoint != "":
			return d, fmt.Errorf("volume %s is mounted at %s but its daemon does not answer: %w", t.volume, t.mountpoint, err)
		}
		// Locked by another command, not a daemon: read the log.
	}
	v, err := volume.Open(t.volume, volume.Options{ReadOnly: true, Logf: func(string, ...any) {}})
	if err != nil {
		return d, err
	}
	defer v.Close()
	if tt.Kind == 0 {
		tt = lsn.Target{Kind: lsn.TargetLSN, LSN: v.Head()}
	}
	return v.Diff(ft, tt)
}

func printDiff(d volume.Diff) {
	fmt.Printf("from LSN %d (%s) to LSN %d (%s)\n", d.From, fmtTime(d.FromTime), d.To, fmtTime(d.ToTime))
	width := 0
	names := make([]string, len(d.Files))
	for i, f := range d.Files {
		names[i] = f.Path
		if f.OldPath != "" {
			names[i] = f.OldPath + " -> " + f.Path
		}
		if f.Type == "dir" {
			names[i] += "/"
		}
		width = max(width, len(names[i]))
	}
	width = min(width, 60)
	for i, f := range d.Files {
		var notes []string
		if f.Type != "file" && f.Type != "dir" {
			notes = append(notes, f.Type)
		}
		for _, w := range f.What {
			if w == "size" {
				w = fmt.Sprintf("size %d -> %d", f.OldSize, f.Size)
			}
			notes = append(notes, w)
		}
		line := fmt.Sprintf("  %-8s %-*s", f.Change, width, names[i])
		if f.Type == "file" {
			line += fmt.Sprintf("  %10s", humanBytes(f.Bytes))
		}
		if len(notes) > 0 {
			line += "  (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Println(strings.TrimRight(line, " "))
	}
	if len(d.Files) == 0 {
		fmt.Println("  no differences")
		return
	}
	fmt.Printf("%d created, %d removed, %d renamed, %d changed; %s changed\n",
		d.Created, d.Removed, d.Renamed, d.Changed, humanBytes(d.Bytes))
}
