package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/backtrack"
	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

func rewindCommand() *cli.Command {
	return &cli.Command{
		Name:      "rewind",
		Usage:     "rewind a volume to an LSN, time, duration ago or mark",
		ArgsUsage: "VOLUME|MOUNTPOINT --to TARGET",
		Description: "Switches the volume to state(TARGET). Nothing is deleted: a rewind record is appended and\n" +
			"new writes continue from the target; the states left behind stay restorable (rewind\n" +
			"forward) while they are in the window. A mounted volume is rewound live by its daemon,\n" +
			"which refuses while files on the mount are open: stop the database first.\n\n" +
			"TARGET: an LSN (18233), an RFC 3339 time (2026-11-24T10:15:00Z), a duration ago (5m,\n" +
			"1h30m) or a mark name. A time means the last record at or before it on the current\n" +
			"timeline.\n\n" +
			"With --stop and --start it does what Aurora's backtrack does in one action: runs the stop\n" +
			"command, waits until no file on the mount is open (--open-timeout; on timeout it names\n" +
			"the processes holding files), rewinds, runs the start command, and reports each step's\n" +
			"time. The target is resolved before the stop command runs. If the stop command fails,\n" +
			"nothing is rewound; if the rewind fails, the start command still runs; if the start\n" +
			"command fails, the rewind stays done. The commands run with sh -c.\n\n" +
			"Examples:\n" +
			"  rewindfs rewind /srv/pg --to 10m --dry-run\n" +
			"  rewindfs rewind /srv/pg --to before-migration\n" +
			"  rewindfs rewind /srv/pg --to before-migration \\\n" +
			"      --stop 'pg_ctl -D /srv/pg/data stop -m fast' --start 'pg_ctl -D /srv/pg/data start -l /tmp/pg.log'",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Required: true, Usage: "the `TARGET` to rewind to"},
			&cli.BoolFlag{Name: "dry-run", Usage: "say what would be undone, change nothing"},
			&cli.BoolFlag{Name: "earliest-if-unavailable", Usage: "if TARGET has left the window, take the earliest restorable state"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON object"},
			&cli.StringFlag{Name: "stop", Usage: "run shell `COMMAND` first to stop the database, then wait until no file on the mount is open"},
			&cli.StringFlag{Name: "start", Usage: "run shell `COMMAND` after the rewind (also after a failed one) to start the database"},
			&cli.DurationFlag{Name: "open-timeout", Value: time.Minute, Usage: "with --stop: how long to wait for files on the mount to close"},
			quietFlag,
		},
		Action: func(c *cli.Context) error {
			t, err := resolveArg(c, "VOLUME|MOUNTPOINT --to TARGET")
			if err != nil {
				return err
			}
			if t.view {
				return fmt.Errorf("%s is a read-only view; rewind the volume %s or its read-write mount point", c.Args().Get(0), t.volume)
			}
			if _, err := lsn.ParseTarget(c.String("to"), time.Now()); err != nil {
				return err
			}
			req := control.Request{Op: "rewind", Target: c.String("to"), DryRun: c.Bool("dry-run")}
			if c.IsSet("stop") || c.IsSet("start") {
				return rewindStopStart(c, t, req)
			}
			var plan volume.RewindPlan
			p := newProgress(c.Bool("quiet"), "rewinding", 0, false)
			if volume.Locked(t.volume) {
				err = control.Call(t.volume, req, &plan, 10*time.Minute)
				if err != nil && c.Bool("earliest-if-unavailable") && isOutsideWindow(err) {
					var s volume.Status
					if serr := control.Call(t.volume, control.Request{Op: "status"}, &s, time.Minute); serr == nil {
						req.Target = s.EarliestLSN.String()
						err = control.Call(t.volume, req, &plan, 10*time.Minute)
					}
				}
			} else {
				plan, err = rewindOffline(t.volume, req, c.Bool("earliest-if-unavailable"))
			}
			p.done()
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(plan)
			}
			printPlan(plan, req.DryRun)
			return nil
		},
	}
}

// isOutsideWindow recognizes the window error, also when it crossed the
// control socket as text.
func isOutsideWindow(err error) bool {
	return errors.Is(err, backtrack.ErrOutsideWindow) || strings.Contains(err.Error(), backtrack.ErrOutsideWindow.Error())
}

// rewindOffline rewinds an unmounted volume in place.
func rewindOffline(dir string, req control.Request, earliest bool) (volume.RewindPlan, error) {
	ro := req.DryRun
	v, err := volume.Open(dir, volume.Options{ReadOnly: ro, Purpose: "rewind", Logf: func(string, ...any) {}})
	if err != nil {
		return volume.RewindPlan{}, err
	}
	defer v.Close()
	tg, err := lsn.ParseTarget(req.Target, time.Now())
	if err != nil {
		return volume.RewindPlan{}, err
	}
	target, err := v.Resolve(tg)
	if err != nil && earliest && errors.Is(err, backtrack.ErrOutsideWindow) {
		target, err = v.Status().EarliestLSN, nil
	}
	if err != nil {
		return volume.RewindPlan{}, err
	}
	if req.DryRun {
		return v.Plan(target)
	}
	plan, _, err := v.Rewind(target)
	return plan, err
}

func printPlan(p volume.RewindPlan, dry bool) {
	verb := "rewound"
	if dry {
		verb = "would rewind"
	}
	fmt.Printf("%s from LSN %d to LSN %d (%s)\n", verb, p.From, p.To, fmtTime(p.ToTime))
	fmt.Printf("  undone: %d records, %s", p.Undone, humanBytes(p.UndoneBytes))
	if !p.SpanFrom.IsZero() {
		fmt.Printf(", written %s to %s", fmtTime(p.SpanFrom), fmtTime(p.SpanTo))
	}
	fmt.Println()
	if p.Redone > 0 {
		fmt.Printf("  redone: %d records, %s (from an abandoned timeline)\n", p.Redone, humanBytes(p.RedoneBytes))
	}
	fmt.Printf("  files touched: %d\n", p.Files)
	if !dry {
		fmt.Printf("  rewind record: LSN %d (the previous state stays restorable: rewindfs rewind --to %d)\n", p.RewindLSN, p.From)
	}
}
