package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/volume"
)

// openPoll is how often rewind --stop asks the daemon whether files are
// still open.
const openPoll = 20 * time.Millisecond

// stepReport is one step of `rewind --stop --start` and how long it took.
type stepReport struct {
	Step    string  `json:"step"` // stop, wait, rewind, start
	Seconds float64 `json:"seconds"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
}

// stopStartReport is what `rewind --stop --start --json` prints: the plan
// carried out (empty if none was) and every step.
type stopStartReport struct {
	volume.RewindPlan
	Rewound bool         `json:"rewound"`
	Steps   []stepReport `json:"steps"`
}

// rewindStopStart stops the database, waits until nothing on the mount is
// open, rewinds, and starts the database again, reporting each step. The
// target is resolved to an LSN before anything runs, so a bad target stops
// nothing and a time target does not move while the database stops. If the
// stop command fails nothing is rewound and start is not run (the database
// was not stopped, as far as anyone knows). If the rewind fails, start
// still runs: the database comes back on the state it had.
func rewindStopStart(c *cli.Context, t target, req control.Request) error {
	if req.DryRun {
		return fmt.Errorf("--dry-run runs neither --stop nor --start: leave them out to see what the rewind would undo")
	}
	stopCmd, startCmd := c.String("stop"), c.String("start")
	earliest := c.Bool("earliest-if-unavailable")
	mounted := volume.Locked(t.volume)

	// Pin the target: a dry run resolves it and refuses what would be refused.
	dry := req
	dry.DryRun = true
	var plan volume.RewindPlan
	var err error
	if mounted {
		plan, err = liveRewind(t, dry, earliest)
	} else {
		plan, err = rewindOffline(t.volume, dry, earliest)
	}
	if err != nil {
		return err
	}
	req.Target = plan.To.String()

	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()
	rep := stopStartReport{Steps: []stepReport{}}
	asJSON := c.Bool("json")
	step := func(name string, began time.Time, err error, detail string) {
		s := stepReport{Step: name, Seconds: time.Since(began).Seconds(), OK: err == nil}
		if err != nil {
			s.Error = err.Error()
			detail = "FAILED: " + s.Error
		}
		rep.Steps = append(rep.Steps, s)
		if !asJSON {
			fmt.Printf("%-7s %8.3fs  %s\n", name, s.Seconds, detail)
		}
	}
	finish := func(err error) error {
		if asJSON {
			if perr := printJSON(rep); err == nil {
				err = perr
			}
		} else if rep.Rewound {
			printPlan(rep.RewindPlan, false)
		}
		return err
	}

	// The processes that use the mount now: after the stop, the rewind waits
	// for those that exit to be gone from the process table too.
	var before []int
	if mounted && t.mountpoint != "" {
		before = users(t.mountpoint)
	}
	began := time.Now()
	if stopCmd != "" {
		if err := runShell(stopCmd); err != nil {
			step("stop", began, err, "")
			return finish(fmt.Errorf("--stop failed (%v): nothing was rewound and --start was not run", err))
		}
		step("stop", began, nil, stopCmd)
	}

	var rewindErr error
	if mounted {
		began = time.Now()
		n, procs, err := waitClosed(ctx, t, c.Duration("open-timeout"), before)
		switch {
		case errors.Is(err, control.ErrNoDaemon):
			mounted = false // --stop unmounted it: rewind in place
			step("wait", began, nil, "the volume is no longer mounted")
		case err != nil:
			rewindErr = err
			step("wait", began, err, "")
		default:
			detail := "no files open on " + mountName(t)
			if n > 0 {
				detail += fmt.Sprintf(" (waited for %d to close)", n)
			}
			if procs > 0 {
				detail += fmt.Sprintf("; waited for %d exiting process(es) that used it to be gone", procs)
			}
			step("wait", began, nil, detail)
		}
	}
	if rewindErr == nil {
		began = time.Now()
		if mounted {
			plan, rewindErr = liveRewind(t, req, false)
		} else {
			plan, rewindErr = rewindOffline(t.volume, req, false)
		}
		detail := ""
		if rewindErr == nil {
			rep.RewindPlan, rep.Rewound = plan, true
			detail = fmt.Sprintf("to LSN %d: %d records undone", plan.To, plan.Undone)
		}
		step("rewind", began, rewindErr, detail)
	}

	if startCmd == "" {
		return finish(rewindErr)
	}
	began = time.Now()
	startErr := runShell(startCmd)
	step("start", began, startErr, startCmd)
	switch {
	case rewindErr != nil && startErr != nil:
		return finish(fmt.Errorf("nothing was rewound: %v; and --start failed too (%v): the database is stopped", rewindErr, startErr))
	case rewindErr != nil:
		return finish(fmt.Errorf("nothing was rewound: %v; --start ran, the database is back on the state it had", rewindErr))
	case startErr != nil:
		return finish(fmt.Errorf("rewound to LSN %d, but --start failed (%v): the rewind stays done; start the database by hand (to undo the rewind: rewindfs rewind --to %d)",
			plan.To, startErr, plan.From))
	}
	return finish(nil)
}

// liveRewind asks the daemon for a rewind (or a dry run), falling back to
// the earliest restorable state when asked to.
func liveRewind(t target, req control.Request, earliest bool) (volume.RewindPlan, error) {
	var plan volume.RewindPlan
	err := control.Call(t.volume, req, &plan, 10*time.Minute)
	if err != nil && earliest && isOutsideWindow(err) {
		var s volume.Status
		if serr := control.Call(t.volume, control.Request{Op: "status"}, &s, time.Minute); serr == nil {
			req.Target = s.EarliestLSN.String()
			err = control.Call(t.volume, req, &plan, 10*time.Minute)
		}
	}
	return plan, err
}

// waitClosed polls the daemon until no file on the mount is open and none
// of the processes in before (those that used the mount before the stop) is
// still exiting, and returns how many files were open when it began. On
// timeout it names the processes that hold files under the mount point; if
// only exiting processes remain, it gives up waiting for them without an
// error (they hold nothing a rewind cares about). It also returns how many
// of them it found exiting.
func waitClosed(ctx context.Context, t target, timeout time.Duration, before []int) (int, int, error) {
	deadline := time.Now().Add(timeout)
	first := -1
	waitedFor := map[int]bool{}
	for {
		var s volume.Status
		if err := control.Call(t.volume, control.Request{Op: "status"}, &s, time.Minute); err != nil {
			return first, len(waitedFor), err
		}
		if first < 0 {
			first = s.OpenFiles
		}
		gone := true
		for _, pid := range before {
			if exiting(pid) {
				gone = false
				waitedFor[pid] = true
			}
		}
		if s.OpenFiles == 0 && (gone || time.Now().After(deadline)) {
			return first, len(waitedFor), nil
		}
		if time.Now().After(deadline) {
			return first, len(waitedFor), fmt.Errorf("%d file handle(s) on %s still open %s after --stop (--open-timeout); %s",
				s.OpenFiles, mountName(t), timeout, describeHolders(s.Mountpoint))
		}
		select {
		case <-ctx.Done():
			return first, len(waitedFor), fmt.Errorf("interrupted while waiting for %d open file handle(s) on %s to close and the database's processes to exit", s.OpenFiles, mountName(t))
		case <-time.After(openPoll):
		}
	}
}

func mountName(t target) string {
	if t.mountpoint != "" {
		return t.mountpoint
	}
	return t.volume
}

// runShell runs a command with sh -c; its output goes to stderr, so that
// stdout holds only the report.
func runShell(command string) error {
	cmd := exec.Command("sh", "-c", command)
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
