package fusetrace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/require"
)

// needTracing skips a test that cannot trace FUSE here, or fails it where
// the test command requires every tool (REWINDFS_REQUIRE_TOOLS=1, as in CI).
func needTracing(t *testing.T) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "tracing and mounting need root"
	case !exists("/dev/fuse"):
		why = "no /dev/fuse"
	case !exists("/sys/kernel/tracing/events/fuse/fuse_request_send"):
		why = "no tracefs with FUSE tracepoints at /sys/kernel/tracing"
	default:
		return
	}
	if os.Getenv("REWINDFS_REQUIRE_TOOLS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// mountLoopback serves a fresh directory through go-fuse's loopback file
// system, without kernel passthrough so that every WRITE reaches the
// daemon, and returns the mount point. Cleanup unmounts it.
func mountLoopback(t *testing.T) string {
	t.Helper()
	root, err := fs.NewLoopbackRoot(t.TempDir())
	require.NoError(t, err)
	mnt := t.TempDir()
	srv, err := fs.Mount(mnt, root, &fs.Options{MountOptions: fuse.MountOptions{
		DirectMount: true, DisabledCapabilities: fuse.CAP_PASSTHROUGH,
	}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Unmount()) })
	return mnt
}

// writeSync writes and fsyncs a file on a mount n times.
func writeSync(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	for i := 0; i < n; i++ {
		_, err := f.WriteAt(make([]byte, 4096), int64(i)*4096)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
	}
}

func TestSessionCountsOneMountsRequests(t *testing.T) {
	needTracing(t)
	mnt, other := mountLoopback(t), mountLoopback(t)
	conn, err := Connection(mnt)
	require.NoError(t, err)
	oconn, err := Connection(other)
	require.NoError(t, err)
	require.NotEqual(t, conn, oconn)

	s, err := Start(conn)
	require.NoError(t, err)
	writeSync(t, filepath.Join(mnt, "f"), 20)
	writeSync(t, filepath.Join(other, "g"), 5) // another connection: not counted
	r, _, err := s.Stop()
	require.NoError(t, err)

	fsync, write := r.Op("fsync"), r.Op("write")
	require.Equal(t, 20, fsync.Count, "one FSYNC per fsync: %+v", r)
	require.Equal(t, 20, write.Count, "one WRITE per write: %+v", r)
	require.Equal(t, 1, r.Op("create").Count, "%+v", r)
	require.Zero(t, fsync.Errors)
	require.Positive(t, fsync.P50)
	require.LessOrEqual(t, fsync.P50, fsync.Max)
	// Each close's RELEASE is sent after close returns: the last one may
	// still be in flight when Stop is called.
	require.LessOrEqual(t, r.Unanswered, 2)
	require.Equal(t, 0, r.Lost)
	require.NoDirExists(t, s.Dir, "Stop removes the trace instance")
}

func TestStartRemovesInstancesOfDeadSessions(t *testing.T) {
	needTracing(t)
	// A pid that is surely gone: a process that has exited and been reaped.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	stale := filepath.Join("/sys/kernel/tracing/instances", InstancePrefix+strconv.Itoa(cmd.Process.Pid))
	require.NoError(t, os.Mkdir(stale, 0o700))
	t.Cleanup(func() { _ = os.Remove(stale) })

	s, err := Start(0)
	require.NoError(t, err)
	_, _, err = s.Stop()
	require.NoError(t, err)
	require.NoDirExists(t, stale)
}
