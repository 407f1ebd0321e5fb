// Package e2e tests the rewindfs binary from the outside, through its command
// line contract (shared/DESIGN.md, "Command line contract"): it builds
// cmd/rewindfs once, makes volumes, mounts them and runs real programs
// (sqlite3, PostgreSQL, plain file operations) against the mount.
//
// Every test that mounts unmounts in all outcomes, and every process a test
// starts is stopped by it. Directories live under /tmp/rewindfs-e2e-XXXX with
// mode 0755 (not t.TempDir(), whose 0700 parents block the postgres user).
//
// Environment:
//
//	REWINDFS_BIN=path          use this binary instead of building cmd/rewindfs
//	REWINDFS_E2E_RACE=1|0      build the daemon with -race, or not; by default it is when
//	                           the tests run with -race. The race-built binary serves only
//	                           `mount` (and so the daemon it starts); other commands use a
//	                           plain build, since a race-built program takes a second to start.
//	                           A data race or panic in the daemon's log fails the test.
//	REWINDFS_E2E_DIR=dir       make the test directories here (default: $TMPDIR if every
//	                           user can reach it, else /tmp)
//	REWINDFS_REQUIRE_TOOLS=1   a missing tool (sqlite3, postgres, ...) fails instead of skipping; CI=true does the same
//	REWINDFS_SEED=N            replay the differential test with this seed
//	REWINDFS_KEEP=1            keep the test directories (volumes, logs) after the run
//	REWINDFS_KEEP_FAILED=1     keep the directories of failed tests only
//	REWINDFS_E2E_TRACE=1       log every command the tests run, with its duration
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	// binPath is the rewindfs binary under test, built by TestMain.
	binPath string
	// mountBinPath runs `mount`, and so the daemon: binPath, or a -race build of it.
	mountBinPath string
	// buildErr is set when the binary could not be built; every test fails with it.
	buildErr error
	// baseDir holds every directory the tests make (mode 0755).
	baseDir string
	// seq makes directory names unique.
	seq atomic.Int64
)

const (
	// cmdTimeout bounds every command a test runs unless it asks for another.
	cmdTimeout = 3 * time.Minute
	// daemonExitTimeout is how long a daemon may take to exit after unmount.
	daemonExitTimeout = 20 * time.Second
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp(baseParent(), "rewindfs-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	baseDir = dir
	code := 1
	defer func() { removeBase(dir, code != 0) }()

	if p := os.Getenv("REWINDFS_BIN"); p != "" {
		binPath, err = filepath.Abs(p)
		if err != nil {
			buildErr = err
		}
		mountBinPath = binPath
	} else {
		binPath = filepath.Join(dir, "bin", "rewindfs")
		mountBinPath = binPath
		buildErr = buildBinary(binPath, false)
		race := raceBuild
		if v := os.Getenv("REWINDFS_E2E_RACE"); v != "" {
			race = v == "1"
		}
		if buildErr == nil && race {
			mountBinPath = filepath.Join(dir, "racebin", "rewindfs")
			buildErr = buildBinary(mountBinPath, true)
		}
	}
	code = m.Run()
	return code
}

// baseParent is where the base directory goes: $REWINDFS_E2E_DIR, else the
// temporary directory if every user can reach it (PostgreSQL runs as
// postgres), else /tmp.
func baseParent() string {
	if d := os.Getenv("REWINDFS_E2E_DIR"); d != "" {
		return d
	}
	tmp := os.TempDir()
	for p := tmp; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if p == filepath.Dir(p) {
			return tmp
		}
	}
}

// removeBase removes the base directory, but never through a mount that is
// still there: a leftover mount is lazily unmounted first, and if it stays,
// the directory is left alone.
func removeBase(dir string, failed bool) {
	if os.Getenv("REWINDFS_KEEP") == "1" || (failed && os.Getenv("REWINDFS_KEEP_FAILED") == "1") {
		fmt.Fprintln(os.Stderr, "e2e: keeping", dir)
		return
	}
	for _, mp := range mountsUnder(dir) {
		fmt.Fprintln(os.Stderr, "e2e: leftover mount", mp, "- lazy unmount")
		_ = exec.Command("umount", "-l", mp).Run()
	}
	if left := mountsUnder(dir); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "e2e: mounts remain, not removing", dir, left)
		return
	}
	_ = os.RemoveAll(dir)
}

// moduleRoot finds the directory holding go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("cannot find the module root: %w", err)
	}
	return root, nil
}

func buildBinary(out string, race bool) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/rewindfs")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	output, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), root, err, output)
	}
	return nil
}

// needBinary fails the test when the binary could not be built.
func needBinary(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("building rewindfs failed:\n%v", buildErr)
	}
}

// toolsRequired says whether a missing tool fails the test instead of skipping it.
func toolsRequired() bool {
	return os.Getenv("REWINDFS_REQUIRE_TOOLS") == "1" || os.Getenv("CI") == "true"
}

// skipOrFail skips the test, or fails it when tools are required.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if toolsRequired() {
		t.Fatalf(format+" (REWINDFS_REQUIRE_TOOLS=1 or CI=true)", args...)
	}
	t.Skipf(format, args...)
}

// requireTool returns the path of a program, or skips (fails under CI) when it is missing.
// PostgreSQL's programs are also looked for in /usr/lib/postgresql/*/bin, newest first.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	skipOrFail(t, "tool %q not found", name)
	return ""
}

// requireFUSE skips (fails under CI) when FUSE mounts are impossible here.
func requireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(t, "/dev/fuse: %v", err)
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			skipOrFail(t, "not root and no fusermount3")
		}
	}
}

// ---------------------------------------------------------------- directories

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// testRoot returns the test's own directory under baseDir, made on first use.
// Its removal is registered first, so it runs after every other cleanup.
func testRoot(t testing.TB) string {
	t.Helper()
	// Short: the daemon's control socket lives in the volume directory, and a
	// unix socket path must fit in 107 bytes.
	name := unsafeName.ReplaceAllString(strings.TrimPrefix(t.Name(), "Test"), "_")
	if len(name) > 24 {
		name = name[:24]
	}
	dir := filepath.Join(baseDir, fmt.Sprintf("%s-%d", name, seq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("mkdir %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if os.Getenv("REWINDFS_KEEP") == "1" || (t.Failed() && os.Getenv("REWINDFS_KEEP_FAILED") == "1") {
			t.Logf("keeping %s", dir)
			return
		}
		for _, mp := range mountsUnder(dir) {
			t.Errorf("cleanup: %s is still mounted; lazy unmount", mp)
			_ = exec.Command("umount", "-l", mp).Run()
		}
		if left := mountsUnder(dir); len(left) > 0 {
			t.Errorf("cleanup: mounts remain under %s, not removing it: %v", dir, left)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("cleanup: remove %s: %v", dir, err)
		}
	})
	return dir
}

// newDir makes a fresh directory (mode 0755) named after prefix inside the test's directory.
func newDir(t testing.TB, prefix string) string {
	t.Helper()
	dir := filepath.Join(testRootOf(t), fmt.Sprintf("%s-%d", prefix, seq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("mkdir %s: %v", dir, err)
	}
	return dir
}

var (
	rootsMu sync.Mutex
	roots   = map[testing.TB]string{}
)

// testRootOf returns the test's directory, making it on first use.
func testRootOf(t testing.TB) string {
	t.Helper()
	rootsMu.Lock()
	d, ok := roots[t]
	rootsMu.Unlock()
	if ok {
		return d
	}
	d = testRoot(t)
	rootsMu.Lock()
	roots[t] = d
	rootsMu.Unlock()
	t.Cleanup(func() {
		rootsMu.Lock()
		delete(roots, t)
		rootsMu.Unlock()
	})
	return d
}

// ---------------------------------------------------------------- commands

// result is what a finished command left behind.
type result struct {
	cmd    string
	stdout string
	stderr string
	code   int // exit status; -1 when it did not exit normally
	err    error
	dur    time.Duration
}

func (r result) ok() bool { return r.err == nil && r.code == 0 }

func (r result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ %s\n  exit %d after %v", r.cmd, r.code, r.dur.Round(time.Millisecond))
	if r.err != nil {
		fmt.Fprintf(&b, " (%v)", r.err)
	}
	fmt.Fprintf(&b, "\n  stdout: %s\n  stderr: %s", clip(r.stdout), clip(r.stderr))
	return b.String()
}

// clip shortens long output for failure messages, keeping both ends.
func clip(s string) string {
	const limit = 4000
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "(empty)"
	}
	if len(s) > limit {
		s = s[:limit/2] + fmt.Sprintf("\n  ... (%d bytes left out) ...\n", len(s)-limit) + s[len(s)-limit/2:]
	}
	return strings.ReplaceAll(s, "\n", "\n          ")
}

// cmdOpts changes how a command runs; the zero value is fine.
type cmdOpts struct {
	timeout time.Duration // default cmdTimeout
	stdin   io.Reader
	dir     string
	env     []string // added to the environment
}

// runCmd runs a program and returns what it did; it never fails the test.
// Output goes to files, not pipes, so that a daemon the program leaves behind
// cannot keep the call waiting for its output to close.
func runCmd(t testing.TB, o cmdOpts, name string, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = cmdTimeout
	}
	r := result{cmd: shellQuote(append([]string{name}, args...)), code: -1}
	outF, err := os.CreateTemp(baseDir, "stdout-")
	if err != nil {
		t.Fatalf("%v", err)
	}
	errF, err := os.CreateTemp(baseDir, "stderr-")
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer func() {
		outF.Close()
		errF.Close()
		os.Remove(outF.Name())
		os.Remove(errF.Name())
	}()

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr, cmd.Stdin, cmd.Dir = outF, errF, o.stdin, o.dir
	if len(o.env) > 0 {
		cmd.Env = append(os.Environ(), o.env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second

	start := time.Now()
	r.err = cmd.Run()
	r.dur = time.Since(start)
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	var exitErr *exec.ExitError
	if errors.As(r.err, &exitErr) {
		r.err = nil // the exit status says it
	}
	if ctx.Err() != nil {
		r.err = fmt.Errorf("timed out after %v", o.timeout)
	}
	so, _ := os.ReadFile(outF.Name())
	se, _ := os.ReadFile(errF.Name())
	r.stdout, r.stderr = string(so), string(se)
	if os.Getenv("REWINDFS_E2E_TRACE") == "1" {
		t.Logf("%v exit %d: %s", r.dur.Round(time.Millisecond), r.code, r.cmd)
	}
	return r
}

// run runs a program and fails the test unless it exits 0; it returns stdout.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	r := runCmd(t, cmdOpts{}, name, args...)
	if !r.ok() {
		t.Fatalf("command failed:\n%s", r)
	}
	return r.stdout
}

// runIn is run with options.
func runIn(t testing.TB, o cmdOpts, name string, args ...string) string {
	t.Helper()
	r := runCmd(t, o, name, args...)
	if !r.ok() {
		t.Fatalf("command failed:\n%s", r)
	}
	return r.stdout
}

// rwfs runs the rewindfs binary and returns what it did; it does not judge the result.
func rwfs(t testing.TB, args ...string) result {
	t.Helper()
	needBinary(t)
	return runCmd(t, cmdOpts{}, binPath, args...)
}

// mountCmd runs `rewindfs mount VOLUME MOUNTPOINT extraArgs...` with the
// binary meant for the daemon (a -race build when enabled).
func mountCmd(t testing.TB, vol, mnt string, extraArgs ...string) result {
	t.Helper()
	needBinary(t)
	return runCmd(t, cmdOpts{}, mountBinPath, append([]string{"mount", vol, mnt}, extraArgs...)...)
}

// mustRwfs runs the rewindfs binary and fails the test unless it exits 0.
func mustRwfs(t testing.TB, args ...string) string {
	t.Helper()
	r := rwfs(t, args...)
	if !r.ok() {
		t.Fatalf("rewindfs failed:\n%s", r)
	}
	return r.stdout
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]{}!#~") {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// oneLineError checks the contract for a refused command: a non-zero exit and
// exactly one non-empty line on stderr.
func oneLineError(t testing.TB, r result) {
	t.Helper()
	if r.err != nil {
		t.Errorf("command did not finish: %v\n%s", r.err, r)
		return
	}
	if r.code == 0 {
		t.Errorf("want a non-zero exit, got 0:\n%s", r)
		return
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if strings.TrimSpace(msg) == "" || strings.Contains(msg, "\n") {
		t.Errorf("want exactly one line on stderr, got %d:\n%s", strings.Count(r.stderr, "\n")+boolInt(!strings.HasSuffix(r.stderr, "\n") && r.stderr != ""), r)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---------------------------------------------------------------- polling

// eventually polls cond until it returns true or the deadline passes.
func eventually(timeout, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
}

// ---------------------------------------------------------------- mounts

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point  string
	fstype string
	source string
}

func readMounts() []mountEntry {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []mountEntry
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		e := mountEntry{point: unescapeMount(f[4])}
		if i := slices.Index(f, "-"); i >= 0 && i+2 < len(f) {
			e.fstype, e.source = f[i+1], f[i+2]
		}
		out = append(out, e)
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf returns the mount at exactly mnt, if there is one.
func mountOf(mnt string) (mountEntry, bool) {
	mnt = filepath.Clean(mnt)
	var found mountEntry
	ok := false
	for _, e := range readMounts() {
		if e.point == mnt {
			found, ok = e, true // the last one is on top
		}
	}
	return found, ok
}

func isMounted(mnt string) bool {
	_, ok := mountOf(mnt)
	return ok
}

func mountsUnder(dir string) []string {
	var out []string
	for _, e := range readMounts() {
		if e.point == dir || strings.HasPrefix(e.point, dir+"/") {
			out = append(out, e.point)
		}
	}
	return out
}

// ---------------------------------------------------------------- volumes

// newVolume runs `rewindfs init` on a fresh empty directory and returns its path.
func newVolume(t testing.TB, initArgs ...string) string {
	t.Helper()
	needBinary(t)
	vol := newDir(t, "vol")
	mustRwfs(t, append([]string{"init", vol}, initArgs...)...)
	return vol
}

// mountVolume mounts vol on a fresh directory and returns the mount point.
// Cleanup unmounts it and makes sure the daemon is gone.
func mountVolume(t testing.TB, vol string, extraArgs ...string) string {
	t.Helper()
	mnt := newDir(t, "mnt")
	mountAt(t, vol, mnt, extraArgs...)
	return mnt
}

// mountAt mounts vol on the existing directory mnt and returns the daemon's pid.
// Cleanup unmounts it (rewindfs unmount, then umount -l) and fails the test if
// the mount stays; it kills the daemon if it is still running.
func mountAt(t testing.TB, vol, mnt string, extraArgs ...string) int {
	t.Helper()
	requireFUSE(t)
	needBinary(t)
	r := mountCmd(t, vol, mnt, extraArgs...)
	// Register the cleanup before judging the result: a failed mount may still
	// have left a mount or a daemon behind.
	pid := 0
	t.Cleanup(func() { cleanupMount(t, vol, mnt, &pid) })
	if !r.ok() {
		t.Fatalf("mount failed:\n%s", r)
	}
	// The contract: mount returns once the file system is mounted and serving.
	e, ok := mountOf(mnt)
	if !ok {
		t.Fatalf("rewindfs mount returned 0 but %s is not in /proc/self/mountinfo:\n%s", mnt, r)
	}
	if !strings.HasPrefix(e.fstype, "fuse") {
		t.Fatalf("%s is mounted with type %q, want fuse*", mnt, e.fstype)
	}
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatalf("mount point %s is not serving: %v", mnt, err)
	}
	pid = daemonPID(t, mnt)
	return pid
}

// daemonPID asks status --json for the daemon's pid; when status does not give
// one, the test fails and the pid is found by looking at /proc instead.
func daemonPID(t testing.TB, mnt string) int {
	t.Helper()
	st := status(t, mnt)
	if pid := st.int("pid"); pid > 0 {
		return pid
	}
	t.Errorf("status --json %s has no pid: %s", mnt, st.raw)
	return findDaemonByArgs(mnt)
}

// findDaemonByArgs finds a rewindfs process whose command line names mnt.
func findDaemonByArgs(mnt string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cl), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "rewindfs" && slices.Contains(args, mnt) && pidAlive(pid) {
			return pid
		}
	}
	return 0
}

// pidAlive says whether pid is a running process (a zombie counts as gone).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	state := s[i+2]
	return state != 'Z' && state != 'X'
}

// isRewindfs says whether pid is a live rewindfs process (guards against pid reuse).
func isRewindfs(pid int) bool {
	if !pidAlive(pid) {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err == nil && strings.HasPrefix(filepath.Base(exe), "rewindfs") {
		return true
	}
	cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	first, _, _ := strings.Cut(string(cl), "\x00")
	return filepath.Base(first) == "rewindfs"
}

func waitGone(pid int, timeout time.Duration) bool {
	return eventually(timeout, 20*time.Millisecond, func() bool { return !pidAlive(pid) })
}

var (
	usersMu sync.Mutex
	// mountUsers are stop functions for processes using a mount (a database
	// server), run before the mount is removed, whichever cleanup comes first.
	mountUsers = map[string][]func(){}
)

// stopBeforeUnmount registers stop to run before the mount at mnt is removed
// by a cleanup (a remount registers a new cleanup, which runs before the
// cleanups registered earlier).
func stopBeforeUnmount(mnt string, stop func()) {
	usersMu.Lock()
	defer usersMu.Unlock()
	mountUsers[mnt] = append(mountUsers[mnt], stop)
}

func stopMountUsers(mnt string) {
	usersMu.Lock()
	stops := mountUsers[mnt]
	delete(mountUsers, mnt)
	usersMu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
}

func cleanupMount(t testing.TB, vol, mnt string, pid *int) {
	t.Helper()
	defer checkDaemonLog(t, vol)
	stopMountUsers(mnt)
	unmountedByUs := false
	if isMounted(mnt) {
		alive := *pid > 0 && isRewindfs(*pid)
		r := runCmd(t, cmdOpts{timeout: time.Minute}, binPath, "unmount", mnt)
		switch {
		case r.ok():
			unmountedByUs = true
		case alive:
			t.Errorf("cleanup: rewindfs unmount failed while the daemon was running:\n%s", r)
		default:
			t.Logf("cleanup: rewindfs unmount of a dead mount failed (expected):\n%s", r)
		}
		if isMounted(mnt) {
			if unmountedByUs {
				t.Errorf("cleanup: rewindfs unmount %s exited 0 but the mount is still there", mnt)
			}
			lazyUnmount(t, mnt)
		}
		if isMounted(mnt) {
			t.Errorf("cleanup: could not remove the mount at %s", mnt)
		}
	}
	if *pid > 0 && isRewindfs(*pid) {
		if !waitGone(*pid, daemonExitTimeout) {
			if unmountedByUs {
				t.Errorf("cleanup: daemon %d still running %v after rewindfs unmount; killing it", *pid, daemonExitTimeout)
			}
			_ = syscall.Kill(*pid, syscall.SIGKILL)
			waitGone(*pid, 10*time.Second)
		}
	}
	if p := findDaemonByArgs(mnt); p > 0 {
		t.Errorf("cleanup: a rewindfs process (%d) for %s is still running; killing it", p, mnt)
		_ = syscall.Kill(p, syscall.SIGKILL)
		waitGone(p, 10*time.Second)
	}
}

// lazyUnmount detaches a (possibly dead) FUSE mount and waits until it is gone.
func lazyUnmount(t testing.TB, mnt string) {
	t.Helper()
	if !isMounted(mnt) {
		return
	}
	r := runCmd(t, cmdOpts{timeout: 30 * time.Second}, "umount", "-l", mnt)
	if !r.ok() && isMounted(mnt) {
		r2 := runCmd(t, cmdOpts{timeout: 30 * time.Second}, "fusermount3", "-u", "-z", mnt)
		if !r2.ok() {
			t.Logf("lazy unmount failed:\n%s\n%s", r, r2)
		}
	}
	if !eventually(10*time.Second, 20*time.Millisecond, func() bool { return !isMounted(mnt) }) {
		t.Errorf("%s is still mounted after umount -l", mnt)
	}
}

// unmount runs `rewindfs unmount` and checks the contract: exit 0, the mount
// is gone when it returns, and the daemon exits.
func unmount(t testing.TB, mnt string) {
	t.Helper()
	pid := daemonPID(t, mnt)
	r := runCmd(t, cmdOpts{timeout: 2 * time.Minute}, binPath, "unmount", mnt)
	if !r.ok() {
		t.Fatalf("unmount failed:\n%s", r)
	}
	if isMounted(mnt) {
		t.Errorf("rewindfs unmount %s returned 0 but the mount is still listed", mnt)
		if !eventually(10*time.Second, 20*time.Millisecond, func() bool { return !isMounted(mnt) }) {
			t.Fatalf("%s still mounted 10s after rewindfs unmount", mnt)
		}
	}
	if pid > 0 && !waitGone(pid, daemonExitTimeout) {
		t.Fatalf("daemon %d still running %v after rewindfs unmount", pid, daemonExitTimeout)
	}
}

// killDaemon SIGKILLs the daemon serving mnt and lazily unmounts the dead mount.
func killDaemon(t testing.TB, mnt string, pid int) {
	t.Helper()
	if pid <= 0 || !isRewindfs(pid) {
		t.Fatalf("no live rewindfs daemon with pid %d for %s", pid, mnt)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	if !waitGone(pid, 10*time.Second) {
		t.Fatalf("daemon %d survived SIGKILL for 10s", pid)
	}
	lazyUnmount(t, mnt)
}

// ---------------------------------------------------------------- status

// volStatus is the object `rewindfs status --json` prints.
type volStatus struct {
	raw string
	m   map[string]any
}

// status runs `rewindfs status TARGET --json` and checks that it printed one JSON object.
func status(t testing.TB, target string) volStatus {
	t.Helper()
	r := rwfs(t, "status", target, "--json")
	if !r.ok() {
		t.Fatalf("status failed:\n%s", r)
	}
	st, err := parseStatus(r.stdout)
	if err != nil {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	return st
}

func parseStatus(out string) (volStatus, error) {
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return volStatus{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return volStatus{}, fmt.Errorf("more than one JSON value")
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		return volStatus{}, fmt.Errorf("trailing data after the JSON object")
	}
	return volStatus{raw: strings.TrimSpace(out), m: m}, nil
}

func (s volStatus) has(key string) bool { _, ok := s.m[key]; return ok }

// uint returns a numeric field (a JSON number or a decimal string).
func (s volStatus) uint(key string) (uint64, bool) {
	switch v := s.m[key].(type) {
	case json.Number:
		n, err := strconv.ParseUint(v.String(), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseUint(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func (s volStatus) int(key string) int {
	n, _ := s.uint(key)
	return int(n)
}

func (s volStatus) bool(key string) (bool, bool) {
	b, ok := s.m[key].(bool)
	return b, ok
}

func (s volStatus) str(key string) string {
	v, _ := s.m[key].(string)
	return v
}

// ---------------------------------------------------------------- files

// treeHashes hashes every file under dir: regular files by content, symlinks
// by target, directories by presence; skip says which relative paths to leave out.
func treeHashes(t testing.TB, dir string, skip func(rel string, d fs.DirEntry) bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if skip != nil && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out[rel] = fmt.Sprintf("dir %o", info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink " + target
		case d.Type().IsRegular():
			h, err := fileHash(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %o %d %s", info.Mode().Perm(), info.Size(), h)
		default:
			out[rel] = "special " + d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

func fileHash(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// diffMaps describes how two hash maps differ, or returns "" when they are equal.
func diffMaps(want, got map[string]string) string {
	var b strings.Builder
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	n := 0
	for _, k := range sorted {
		w, wok := want[k]
		g, gok := got[k]
		if wok && gok && w == g {
			continue
		}
		if n++; n > 40 {
			b.WriteString("  ...\n")
			break
		}
		switch {
		case !gok:
			fmt.Fprintf(&b, "  %s: missing (want %s)\n", k, w)
		case !wok:
			fmt.Fprintf(&b, "  %s: unexpected (%s)\n", k, g)
		default:
			fmt.Fprintf(&b, "  %s: want %s, got %s\n", k, w, g)
		}
	}
	return b.String()
}

// copyTree copies a (not mounted) volume directory with cp -a.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := newDir(t, "cp")
	run(t, "cp", "-a", "--sparse=always", src+"/.", dst) // segments are preallocated: keep the zeros as holes
	return dst
}

// writeFileSync writes a file and fsyncs it and its directory.
func writeFileSync(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		t.Fatalf("write %s: %v", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		t.Fatalf("fsync %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", path, err)
	}
	syncDir(t, filepath.Dir(path))
}

func syncDir(t testing.TB, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatalf("fsync directory %s: %v", dir, err)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	return freePorts(t, 1)[0]
}

// freePorts returns n different TCP ports on 127.0.0.1 that were free a
// moment ago. Every listener stays open until all n are chosen: a port
// whose listener is closed is free again, and the kernel handed one out
// twice to successive calls of freePort (TestArchiveOps on 2026-12-07:
// SeaweedFS's master gRPC and S3 servers both got 46469).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("%v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// daemonLogs returns the text of every *.log file in the volume directory
// (outside log/, which holds segments) — where the daemon writes what it did.
func daemonLogs(vol string) string {
	var b bytes.Buffer
	_ = filepath.WalkDir(vol, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && p != vol && filepath.Base(p) == "log" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".log") {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "==> %s <==\n%s\n", p, data)
		}
		return nil
	})
	return b.String()
}

var (
	logCheckMu sync.Mutex
	// logChecked is how far each volume's daemon.log has been checked.
	logChecked = map[string]int64{}
	// daemonTrouble is what must never be in the daemon's log.
	daemonTrouble = regexp.MustCompile(`WARNING: DATA RACE|(?m)^panic: |(?m)^fatal error: `)
)

// checkDaemonLog fails the test if the volume's *.log files gained a data race
// report, a panic or a fatal error since the last check.
func checkDaemonLog(t testing.TB, vol string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(vol, "*.log"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		logCheckMu.Lock()
		from := logChecked[f]
		logChecked[f] = int64(len(data))
		logCheckMu.Unlock()
		if from > int64(len(data)) {
			from = 0
		}
		chunk := string(data[from:])
		if loc := daemonTrouble.FindStringIndex(chunk); loc != nil {
			start := max(0, loc[0]-200)
			t.Errorf("the daemon's log %s reports trouble:\n%s", f, clip(chunk[start:]))
		}
	}
}

// isDaemonLog says whether rel (relative to a volume) is the daemon's own log
// file, which may change whenever the daemon runs.
func isDaemonLog(rel string, d fs.DirEntry) bool {
	return d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".log") && !strings.HasPrefix(rel, "log/")
}

// volumeHashes hashes every file of a volume except the daemon's log file,
// sockets (the control socket has no content) and the lock file, whose
// content is the last holder's pid and purpose (volume/lock.go): runtime
// state, not the volume's. A probe for a free volume does not write it.
// base/lock is the same kind of file: an empty flock target that a view
// creates when it first looks at the base image (baseimage/pins.go).
func volumeHashes(t testing.TB, vol string) map[string]string {
	t.Helper()
	return treeHashes(t, vol, func(rel string, d fs.DirEntry) bool {
		return isDaemonLog(rel, d) || d.Type()&fs.ModeSocket != 0 || rel == "lock" || rel == "base/lock"
	})
}

// settledHashes returns dir's volumeHashes once two pictures taken half a
// second apart agree, failing the test if dir is still changing after a
// minute.
func settledHashes(t testing.TB, dir string) map[string]string {
	t.Helper()
	last := volumeHashes(t, dir)
	for deadline := time.Now().Add(time.Minute); ; {
		time.Sleep(500 * time.Millisecond)
		now := volumeHashes(t, dir)
		d := diffMaps(last, now)
		if d == "" {
			return now
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still changing after a minute with nothing running against it:\n%s", dir, d)
		}
		last = now
	}
}

// segments lists the volume's segment files in LSN order.
func segments(t testing.TB, vol string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(vol, "log", "*.seg"))
	if err != nil {
		t.Fatalf("%v", err)
	}
	re := regexp.MustCompile(`^[0-9a-f]{16}\.seg$`)
	var out []string
	for _, s := range segs {
		if re.MatchString(filepath.Base(s)) {
			out = append(out, s)
		} else {
			t.Errorf("segment file %s does not match 16 hex digits + .seg", s)
		}
	}
	slices.Sort(out)
	return out
}
