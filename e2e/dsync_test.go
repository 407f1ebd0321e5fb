package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDsyncDirectMmap: on a --dsync-direct mount a file opened O_DSYNC
// bypasses the page cache, which Linux refuses to map shared (ENODEV)
// unless the mount allows it; the mount does. Bytes written through the
// mapping and through the descriptor are both there after a remount
// without the option.
func TestDsyncDirectMmap(t *testing.T) {
	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	mountAt(t, vol, mnt, "--dsync-direct")
	p := filepath.Join(mnt, "log")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|unix.O_DSYNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("w"), 8192)
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		t.Fatalf("mmap MAP_SHARED of a file opened O_DSYNC on a --dsync-direct mount: %v", err)
	}
	copy(m[4096:], "mapped")
	copy(want[4096:], "mapped")
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		t.Errorf("msync: %v", err)
	}
	if err := unix.Munmap(m); err != nil {
		t.Errorf("munmap: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	unmount(t, mnt)

	mountAt(t, vol, mnt)
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("after a remount the file holds %q..., want the direct write with %q at 4096", got[:16], "mapped")
	}
	unmount(t, mnt)
}
