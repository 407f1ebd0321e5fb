package fusefs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/hanwen/go-fuse/v2/posixtest"
	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/volume"
)

// mountTest makes a volume, mounts it in this process on a temporary
// directory, and unmounts in t.Cleanup, failing the test if that fails.
// The test process must not mmap files of its own mount (see go-fuse's
// fs/api.go on deadlocks); real databases run as separate processes in e2e.
func mountTest(t testing.TB) (string, *FS, *volume.Volume) {
	t.Helper()
	return mountWith(t, volume.InitOptions{SegmentSize: 4 << 20}, volume.Options{Logf: t.Logf}, Options{}, nil)
}

// mountWith is mountTest with the volume's settings, its open options and
// the mount's options given, and every answered request passed to obs if
// it is not nil.
func mountWith(t testing.TB, io volume.InitOptions, o volume.Options, mo Options, obs Observer) (string, *FS, *volume.Volume) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting with DirectMount needs root")
	}
	dir := t.TempDir()
	volDir := filepath.Join(dir, "vol")
	mnt := filepath.Join(dir, "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	_, err := volume.Init(volDir, io)
	require.NoError(t, err)
	v, err := volume.Open(volDir, o)
	require.NoError(t, err)
	fs := New(v, mo, t.Logf)
	var raw fuse.RawFileSystem = fs
	if obs != nil {
		raw = Observe(fs, obs)
	}
	mo.Name = volDir
	server, err := fuse.NewServer(raw, mnt, MountOptions(mo))
	if err != nil {
		v.Close()
		t.Fatalf("mount: %v", err)
	}
	go server.Serve()
	require.NoError(t, server.WaitMount())
	t.Cleanup(func() {
		var err error
		for i := 0; i < 50; i++ {
			if err = server.Unmount(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond) // a closing fd may still hold the mount
		}
		if err != nil {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
			t.Errorf("unmount %s: %v", mnt, err)
		}
		server.Wait()
		require.NoError(t, v.Close())
	})
	return mnt, fs, v
}

// TestPOSIX runs go-fuse's POSIX test set against a rewindfs mount.
func TestPOSIX(t *testing.T) {
	skip := map[string]string{
		// It expects two opens of a file in one process to conflict, the
		// per-open-file (OFD) semantics of go-fuse's loopback. POSIX record
		// locks belong to the process, so the second lock is granted, as
		// SQLite expects; the kernel keeps them for us.
		"FcntlFlockLocksFile": "POSIX record locks are per process, not per open file",
	}
	for name, fn := range posixtest.All {
		t.Run(name, func(t *testing.T) {
			if why, ok := skip[name]; ok {
				t.Skip(why)
			}
			mnt, _, _ := mountTest(t)
			fn(t, mnt)
		})
	}
}

// TestLiveRewindInvalidatesKernelCaches: after a live rewind, the kernel
// shows the rewound names and contents, not what it had cached.
func TestLiveRewindInvalidatesKernelCaches(t *testing.T) {
	mnt, fs, v := mountTest(t)
	p := filepath.Join(mnt, "f")
	require.NoError(t, os.WriteFile(p, []byte("good data"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(mnt, "keep"), 0o755))
	good := v.Head()
	require.NoError(t, os.WriteFile(p, []byte("BAD!"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "new"), []byte("x"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(mnt, "keep")))
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "BAD!", string(got))

	_, err = fs.Rewind(good)
	require.NoError(t, err)
	got, err = os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "good data", string(got))
	_, err = os.Stat(filepath.Join(mnt, "new"))
	require.True(t, os.IsNotExist(err), "a file made after the target is still visible: %v", err)
	st, err := os.Stat(filepath.Join(mnt, "keep"))
	require.NoError(t, err)
	require.True(t, st.IsDir())
}

// TestRewindRefusedWhileOpen: a live rewind with a file open changes nothing.
func TestRewindRefusedWhileOpen(t *testing.T) {
	mnt, fs, v := mountTest(t)
	p := filepath.Join(mnt, "f")
	require.NoError(t, os.WriteFile(p, []byte("one"), 0o644))
	good := v.Head()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("two"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	head := v.Head()
	_, err = fs.Rewind(good)
	require.ErrorIs(t, err, volume.ErrFilesOpen)
	require.Equal(t, head, v.Head())
	buf := make([]byte, 3)
	_, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "two", string(buf))
}

// TestDirectoryFsync: PostgreSQL fsyncs directories and PANICs on ENOSYS.
func TestDirectoryFsync(t *testing.T) {
	mnt, _, v := mountTest(t)
	require.NoError(t, os.Mkdir(filepath.Join(mnt, "d"), 0o755))
	d, err := os.Open(filepath.Join(mnt, "d"))
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Sync())
	s := v.Status()
	require.Equal(t, s.HeadLSN, s.DurableLSN, "directory fsync did not make the namespace durable")
}

// TestODirect: InnoDB opens its files with O_DIRECT.
func TestODirect(t *testing.T) {
	mnt, _, _ := mountTest(t)
	p := filepath.Join(mnt, "direct")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|syscall.O_DIRECT, 0o644)
	require.NoError(t, err)
	buf := make([]byte, 8192+4096)
	// O_DIRECT wants aligned buffers: take a 4 KiB aligned window.
	off := 4096 - int(uintptr(unsafePointer(buf))%4096)
	if off == 4096 {
		off = 0
	}
	blk := buf[off : off+8192]
	for i := range blk {
		blk[i] = byte(i)
	}
	_, err = f.WriteAt(blk, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.True(t, bytes.Equal(blk, got))
}

// TestCloseWritesOut: a close on the mount hands the log's buffered
// records to the OS (FUSE's flush), without a sync: another process that
// reads the volume's files (a read-only view) sees them at once, and they
// would survive a kill -9 of the daemon.
func TestCloseWritesOut(t *testing.T) {
	mnt, _, v := mountTest(t)
	for i := range 4 {
		f, err := os.Create(filepath.Join(mnt, fmt.Sprintf("f%d", i)))
		require.NoError(t, err)
		_, err = f.Write(bytes.Repeat([]byte{byte(i + 1)}, 3000))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	s := v.Status()
	require.Less(t, s.DurableLSN, s.HeadLSN, "nothing asked for a sync, yet everything is durable: the test shows nothing")
	view, err := volume.Open(v.Dir, volume.Options{ReadOnly: true, Logf: t.Logf})
	require.NoError(t, err)
	defer view.Close()
	require.Equal(t, s.HeadLSN, view.Head(), "records of closed files are not in the log's files")
}
