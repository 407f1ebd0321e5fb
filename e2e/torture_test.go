package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTorture runs scripts/torture.sh for TORTURE_SECONDS (45 unless set):
// SQLite and PostgreSQL under load on one mount, the daemon SIGKILLed at
// random moments, live rewinds to marks and back, background compaction;
// after every round the databases' own checks pass and no acknowledged
// commit is missing. The script cleans up after itself; this test also
// checks that no mount, daemon or PostgreSQL server is left behind, and
// that the daemon's log reports no race, panic or fatal error.
func TestTorture(t *testing.T) {
	requireFUSE(t)
	needBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("the torture runs PostgreSQL as postgres and mounts with --allow-other: it needs root")
	}
	for _, name := range append([]string{"bash", "sqlite3", "python3", "setsid"}, pgTools...) {
		requireTool(t, name)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	secs := 45
	if s := os.Getenv("TORTURE_SECONDS"); s != "" {
		if secs, err = strconv.Atoi(s); err != nil {
			t.Fatalf("TORTURE_SECONDS=%q: %v", s, err)
		}
	}
	dir := newDir(t, "torture")
	t.Cleanup(func() { tortureLeftovers(t, dir) })
	env := []string{
		"TORTURE_SECONDS=" + strconv.Itoa(secs),
		"TORTURE_DIR=" + dir,
		"TORTURE_KEEP=1", // the test's own cleanup removes it, after looking at it
		"REWINDFS_BIN=" + binPath,
		"REWINDFS_MOUNT_BIN=" + mountBinPath,
	}
	// The script bounds itself; the timeout is for a hang.
	r := runCmd(t, cmdOpts{timeout: time.Duration(secs)*time.Second + 8*time.Minute, env: env},
		"bash", filepath.Join(root, "scripts", "torture.sh"))
	checkDaemonLog(t, filepath.Join(dir, "vol"))
	switch {
	case r.code == 77:
		skipOrFail(t, "torture.sh skipped: %s", strings.TrimSpace(r.stderr))
	case !r.ok():
		t.Fatalf("torture.sh failed:\n%s", r)
	}
	t.Logf("%s", strings.TrimSpace(r.stdout))
}

// tortureLeftovers stops whatever a torture run that was cut short left:
// a PostgreSQL server (its pid is in postmaster.pid, readable only while
// the mount serves) and the mount; and fails the test if it found any.
func tortureLeftovers(t *testing.T, dir string) {
	mnt := filepath.Join(dir, "mnt")
	if data, err := os.ReadFile(filepath.Join(mnt, "pgdata", "postmaster.pid")); err == nil {
		first, _, _ := strings.Cut(string(data), "\n")
		if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && pidAlive(pid) {
			t.Errorf("torture.sh left PostgreSQL (%d) running; killing it", pid)
			killTree(pid)
		}
	}
	if isMounted(mnt) {
		t.Errorf("torture.sh left %s mounted", mnt)
		if p := findDaemonByArgs(mnt); p > 0 {
			_ = syscall.Kill(p, syscall.SIGKILL)
			waitGone(p, 10*time.Second)
		}
		lazyUnmount(t, mnt)
	}
	if sock, err := os.ReadFile(filepath.Join(dir, "sockdir")); err == nil {
		if d := strings.TrimSpace(string(sock)); strings.HasPrefix(d, "/tmp/rewindfs-torture-pg.") {
			_ = os.RemoveAll(d)
		}
	}
}
