package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// viewEnv names the environment variable that holds the view's path for
// the test command; lsnEnv holds the LSN it shows.
const (
	viewEnv = "REWINDFS_VIEW"
	lsnEnv  = "REWINDFS_LSN"
)

// maxRecordsShown is how many records after the answer bisect prints
// (--json prints all of them).
const maxRecordsShown = 40

func bisectCommand() *cli.Command {
	return &cli.Command{
		Name:      "bisect",
		Usage:     "find the last sync point where a test passes",
		ArgsUsage: "VOLUME|MOUNTPOINT --good TARGET --bad TARGET --test 'COMMAND'",
		Description: "Binary search over the sync points between --good (where the test passes) and --bad\n" +
			"(where it fails) for the last sync point where it passes: the moment just before the\n" +
			"mistake. For each candidate it mounts a read-only view of that state in a temporary\n" +
			"directory and runs the test command there with sh -c; $" + viewEnv + " is the view's path\n" +
			"and $" + lsnEnv + " its LSN. Exit status 0 means the test passes. Views are unmounted in\n" +
			"every outcome (also on Ctrl-C); processes the test leaves in its process group are\n" +
			"killed. The live volume is not changed. --good and --bad are checked first.\n\n" +
			"It prints the LSN found, its time, the records after it up to the first sync point\n" +
			"where the test fails (the mistake is among them) and the rewind that undoes them.\n\n" +
			"A sync point is a crash image and a view is read-only: a database that must run its crash\n" +
			"recovery to read it (SQLite with a hot rollback journal, PostgreSQL) needs a copy of the\n" +
			"view it can write. Copy the files to a temporary directory in the test and run the\n" +
			"database there (PostgreSQL: pg_ctl start on another port). SQLite's immutable=1 is no\n" +
			"way around it: it ignores the -wal file.\n\n" +
			"Examples:\n" +
			"  rewindfs bisect /srv/app --good 1h --test 'd=$(mktemp -d) && cp \"$" + viewEnv + "\"/shop.db* \"$d\" &&\n" +
			"      n=$(sqlite3 \"$d/shop.db\" \"SELECT count(*) FROM orders\"); rm -rf \"$d\"; [ \"$n\" = 500 ]'\n" +
			"  rewindfs bisect /srv/pg --good before-migration --bad 5m --allow-other --test ./check-pg.sh",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "good", Required: true, Usage: "a `TARGET` where the test passes"},
			&cli.StringFlag{Name: "bad", Usage: "a `TARGET` where the test fails (default: the live state)"},
			&cli.StringFlag{Name: "test", Required: true, Usage: "the shell `COMMAND` that passes (exit 0) on a good state"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up when one run of the test takes longer than this (0: no limit)"},
			&cli.StringFlag{Name: "view-dir", Usage: "make the views' mount points in `DIR` (default: $TMPDIR)"},
			&cli.BoolFlag{Name: "allow-other", Usage: "mount the views with --allow-other (a test that runs as another user)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress and discard the test's output"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON object"},
		},
		Action: runBisect,
	}
}

// bisectResult is what bisect found.
type bisectResult struct {
	LSN          lsn.LSN           `json:"lsn"` // the last sync point where the test passes
	Time         time.Time         `json:"time"`
	FirstBadLSN  lsn.LSN           `json:"first_bad_lsn"` // the first after it where the test fails
	FirstBadTime time.Time         `json:"first_bad_time"`
	GoodLSN      lsn.LSN           `json:"good_lsn"`
	BadLSN       lsn.LSN           `json:"bad_lsn"`
	SyncPoints   int               `json:"sync_points"` // between good and bad
	Views        int               `json:"views"`       // states the test ran on, the checks included
	Records      []volume.LogEntry `json:"records"`     // after LSN, up to and including FirstBadLSN
	Rewind       string            `json:"rewind_command"`
}

func runBisect(c *cli.Context) error {
	if err := needArgs(c, 1, "VOLUME|MOUNTPOINT --good TARGET --bad TARGET --test 'COMMAND'"); err != nil {
		return err
	}
	arg := c.Args().Get(0)
	t, err := resolve(arg)
	if err != nil {
		return err
	}
	good, bad, recs, err := bisectPlan(t.volume, c.String("good"), c.String("bad"))
	if err != nil {
		return err
	}
	var cands []volume.LogEntry
	for _, e := range recs {
		if e.Op == "sync" && e.LSN < bad.LSN {
			cands = append(cands, e)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	b := &bisector{
		ctx: ctx, vol: t.volume, test: c.String("test"), timeout: c.Duration("timeout"),
		allowOther: c.Bool("allow-other"), quiet: c.Bool("quiet"),
	}
	if err := b.setup(c.String("view-dir")); err != nil {
		return err
	}
	defer b.cleanup()

	steps := bits.Len(uint(len(cands))) // ceil(log2(n+1)): the views a search of n takes
	b.progress("%d sync point(s) between --good LSN %d and --bad LSN %d: about %d step(s) after checking both ends",
		len(cands), good.LSN, bad.LSN, steps)
	// A bar on a terminal; elsewhere the lines of each step are the progress.
	b.bar = newProgress(b.quiet || !term.IsTerminal(int(os.Stderr.Fd())), "bisect (views tested)", int64(steps+2), false)
	defer b.bar.done()
	check := func(e volume.LogEntry, flag string, wantPass bool) error {
		pass, err := b.try(e, "checking "+flag)
		if err != nil {
			return err
		}
		if pass != wantPass {
			verdict := "fails"
			if pass {
				verdict = "passes"
			}
			return fmt.Errorf("the test %s at %s (LSN %d, %s): bisect needs it to pass at --good and fail at --bad (see the test's output above)",
				verdict, flag, e.LSN, fmtTime(e.Time))
		}
		return nil
	}
	if err := check(good, "--good", true); err != nil {
		return err
	}
	if err := check(bad, "--bad", false); err != nil {
		return err
	}
	lo, hi := -1, len(cands) // the test passes at lo (good) and fails at hi (bad)
	for step := 1; hi-lo > 1; step++ {
		mid := lo + (hi-lo)/2
		pass, err := b.try(cands[mid], fmt.Sprintf("step %d of ~%d", step, steps))
		if err != nil {
			return err
		}
		if pass {
			lo = mid
		} else {
			hi = mid
		}
	}
	b.bar.done()
	found, firstBad := good, bad
	if lo >= 0 {
		found = cands[lo]
	}
	if hi < len(cands) {
		firstBad = cands[hi]
	}
	res := bisectResult{
		LSN: found.LSN, Time: found.Time, FirstBadLSN: firstBad.LSN, FirstBadTime: firstBad.Time,
		GoodLSN: good.LSN, BadLSN: bad.LSN, SyncPoints: len(cands), Views: b.views, Records: []volume.LogEntry{},
	}
	for _, e := range recs {
		if e.LSN > found.LSN && e.LSN <= firstBad.LSN {
			res.Records = append(res.Records, e)
		}
	}
	where := t.volume
	if t.mountpoint != "" && !t.view {
		where = t.mountpoint
	}
	res.Rewind = shellJoin("rewindfs", "rewind", where, "--to", found.LSN.String())
	if c.Bool("json") {
		return printJSON(res)
	}
	printBisect(res, where, lo < 0)
	return nil
}

// bisectPlan resolves both ends on the volume (opened read-only, as `log`
// does, also while it is mounted) and returns them with the records on the
// way from good to bad.
func bisectPlan(dir, goodArg, badArg string) (good, bad volume.LogEntry, recs []volume.LogEntry, err error) {
	v, err := volume.Open(dir, volume.Options{ReadOnly: true, Logf: func(string, ...any) {}})
	if err != nil {
		return good, bad, nil, err
	}
	defer v.Close()
	if good.LSN, err = resolveTarget(v, goodArg); err != nil {
		return good, bad, nil, fmt.Errorf("--good: %w", err)
	}
	bad.LSN = v.Head()
	if badArg != "" {
		if bad.LSN, err = resolveTarget(v, badArg); err != nil {
			return good, bad, nil, fmt.Errorf("--bad: %w", err)
		}
	}
	if good.LSN >= bad.LSN {
		return good, bad, nil, fmt.Errorf("--good (LSN %d) must come before --bad (LSN %d)", good.LSN, bad.LSN)
	}
	good.Time, bad.Time = v.TimeOf(good.LSN), v.TimeOf(bad.LSN)
	recs, err = v.Between(good.LSN, bad.LSN)
	if errors.Is(err, volume.ErrNotAncestor) {
		err = fmt.Errorf("--good (LSN %d) is not on the timeline that leads to --bad (LSN %d): a rewind in between abandoned it; give a --good after the rewind (rewindfs status shows the timeline)", good.LSN, bad.LSN)
	}
	return good, bad, recs, err
}

// bisector mounts views one at a time at one mount point and runs the test
// in them.
type bisector struct {
	ctx        context.Context
	vol        string
	test       string
	timeout    time.Duration
	allowOther bool
	quiet      bool

	root    string // the temporary directory holding mnt
	mnt     string
	mounted bool
	views   int
	bar     *progress // views tested, on a terminal
}

func (b *bisector) setup(viewDir string) error {
	var dirs []string
	if viewDir != "" {
		dirs = []string{viewDir}
	} else {
		dirs = []string{os.TempDir(), filepath.Dir(b.vol)}
	}
	var err error
	for _, d := range dirs {
		if b.root, err = os.MkdirTemp(d, "rewindfs-bisect-"); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("make a directory for the views: %w", err)
	}
	// A test running as another user (--allow-other) must reach the view.
	_ = os.Chmod(b.root, 0o755)
	b.mnt = filepath.Join(b.root, "view")
	if err := os.Mkdir(b.mnt, 0o755); err != nil {
		os.Remove(b.root)
		return fmt.Errorf("make a directory for the views: %w", err)
	}
	return nil
}

// cleanup unmounts the view if one is mounted and removes the directories
// (never recursively: nothing is removed through a mount).
func (b *bisector) cleanup() {
	if err := b.unmount(); err != nil {
		fmt.Fprintf(os.Stderr, "rewindfs bisect: %v\n", err)
	}
	if b.mounted {
		return
	}
	os.Remove(b.mnt)
	os.Remove(b.root)
}

func (b *bisector) progress(format string, args ...any) {
	switch {
	case b.quiet:
	case b.bar != nil:
		b.bar.println("bisect: "+format, args...)
	default:
		fmt.Fprintf(os.Stderr, "bisect: "+format+"\n", args...)
	}
}

// try mounts a view of state(e.LSN), runs the test in it and unmounts it.
func (b *bisector) try(e volume.LogEntry, what string) (bool, error) {
	if err := b.ctx.Err(); err != nil {
		return false, fmt.Errorf("bisect interrupted; no view is left mounted")
	}
	began := time.Now()
	if err := b.mount(e.LSN); err != nil {
		return false, err
	}
	b.views++
	if b.bar != nil {
		b.bar.hold(true) // the test writes to the terminal
	}
	pass, terr := b.run(e.LSN)
	if b.bar != nil {
		b.bar.add(1)
		b.bar.hold(false)
	}
	uerr := b.unmount()
	if terr != nil {
		return false, terr
	}
	if uerr != nil {
		return false, uerr
	}
	verdict := "fails"
	if pass {
		verdict = "passes"
	}
	b.progress("%s: LSN %d (%s): the test %s (%s)", what, e.LSN, fmtTime(e.Time), verdict, time.Since(began).Round(time.Millisecond))
	return pass, nil
}

// mount runs `rewindfs mount VOL MNT --at LSN --read-only` in a process
// group of its own, so that a Ctrl-C meant for bisect does not cut it short
// and leave a view behind that nobody knows about.
func (b *bisector) mount(l lsn.LSN) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"mount", b.vol, b.mnt, "--at", l.String(), "--read-only"}
	if b.allowOther {
		args = append(args, "--allow-other")
	}
	cmd := exec.Command(exe, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Run()
	if m, _ := rewindfsMounts(); m[b.mnt] != "" {
		b.mounted = true
	}
	if err != nil {
		msg := strings.TrimPrefix(strings.TrimSpace(out.String()), "rewindfs: ")
		return fmt.Errorf("mount a view of LSN %d at %s: %s", l, b.mnt, msg)
	}
	if !b.mounted {
		return fmt.Errorf("mount a view of LSN %d at %s: mount succeeded but the view is not listed in /proc/self/mountinfo", l, b.mnt)
	}
	return nil
}

// run runs the test command in the view and says whether it passed. The
// command has a process group of its own: on Ctrl-C or a timeout the group
// gets SIGTERM, then SIGKILL; whatever is left in it when the command ends
// is killed, so that nothing keeps the view busy.
func (b *bisector) run(l lsn.LSN) (bool, error) {
	cmd := exec.Command("sh", "-c", b.test)
	cmd.Dir = b.mnt
	cmd.Env = append(os.Environ(), viewEnv+"="+b.mnt, lsnEnv+"="+l.String())
	// Files, not pipes: a process the test leaves in the background must
	// not keep Wait waiting for its output to close.
	out := os.Stderr
	if b.quiet {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return false, err
		}
		defer null.Close()
		out = null
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("run the test: %w", err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var timeout <-chan time.Time
	if b.timeout > 0 {
		tm := time.NewTimer(b.timeout)
		defer tm.Stop()
		timeout = tm.C
	}
	killGroup := func() error {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return <-done
		}
	}
	var err error
	select {
	case err = <-done:
	case <-b.ctx.Done():
		killGroup()
		return false, fmt.Errorf("bisect interrupted while the test ran at LSN %d; the view was unmounted", l)
	case <-timeout:
		killGroup()
		return false, fmt.Errorf("the test ran longer than --timeout %s at LSN %d; the view was unmounted", b.timeout, l)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return false, fmt.Errorf("run the test: %w", err)
	}
	return err == nil, nil
}

// unmount unmounts the view, waiting a while for processes the test left
// using it; if it stays busy it is detached (lazily unmounted) and the
// processes are named.
func (b *bisector) unmount() error {
	if !b.mounted {
		return nil
	}
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err = unmount(b.mnt); err == nil {
			b.mounted = false
			return nil
		}
		if m, _ := rewindfsMounts(); m[b.mnt] == "" {
			b.mounted = false
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	who := describeHolders(b.mnt)
	if derr := syscall.Unmount(b.mnt, syscall.MNT_DETACH); derr != nil {
		return fmt.Errorf("the view at %s stays mounted: %v; %s; unmount it with rewindfs unmount %s", b.mnt, err, who, b.mnt)
	}
	b.mounted = false
	return fmt.Errorf("the view at %s was busy (%v; %s); it was detached and goes away when they exit", b.mnt, err, who)
}

func printBisect(r bisectResult, where string, atGood bool) {
	if atGood {
		fmt.Printf("the test fails at every sync point after --good; the last good state is --good itself:\n")
	}
	fmt.Printf("last good: LSN %d at %s\n", r.LSN, fmtTime(r.Time))
	fmt.Printf("first bad: LSN %d at %s\n", r.FirstBadLSN, fmtTime(r.FirstBadTime))
	fmt.Printf("%d sync point(s) between --good LSN %d and --bad LSN %d, %d view(s) tested\n", r.SyncPoints, r.GoodLSN, r.BadLSN, r.Views)
	fmt.Printf("the %d record(s) in between, where the mistake is:\n", len(r.Records))
	for i, e := range r.Records {
		if i == maxRecordsShown {
			fmt.Printf("  ... and %d more: rewindfs log %s --since %d --until %d\n", len(r.Records)-i, where, r.LSN+1, r.FirstBadLSN)
			break
		}
		fmt.Println("  " + formatEntry(e))
	}
	fmt.Printf("what they changed, file by file:\n  %s\n", shellJoin("rewindfs", "diff", where, "--from", r.LSN.String(), "--to", r.FirstBadLSN.String()))
	fmt.Printf("rewind there (stop the database first):\n  %s\n", r.Rewind)
}

// formatEntry is one record as `log` prints it.
func formatEntry(e volume.LogEntry) string {
	line := fmt.Sprintf("%10d  %s  %-8s %s", e.LSN, e.Time.Local().Format("2006-01-02 15:04:05.000000"), e.Op, e.Path)
	switch {
	case e.NewPath != "":
		line += " -> " + e.NewPath
	case e.Op == "write":
		line += fmt.Sprintf(" @%d +%d", e.Offset, e.Bytes)
	case e.Op == "setattr" && e.Bytes != 0:
		line += fmt.Sprintf(" size %d", e.Bytes)
	case e.Op == "rewind":
		line += fmt.Sprintf("to LSN %d", e.Target)
	case e.Op == "mark":
		line += e.Name
	}
	return strings.TrimRight(line, " ")
}

// shellJoin quotes words for a shell where they need it.
func shellJoin(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		if w != "" && !strings.ContainsAny(w, " \t\n'\"\\$`;&|<>()*?[]{}!#~") {
			q[i] = w
		} else {
			q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
