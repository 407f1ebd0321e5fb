package e2e

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFullDisk: when the disk under the volume fills, the application's
// fsync (or write) fails with ENOSPC, the mount keeps serving reads and
// status, and once space is freed writes and syncs work again. Everything
// whose fsync succeeded is there after a remount, and the log verifies.
func TestFullDisk(t *testing.T) {
	requireFUSE(t)
	disk := newDir(t, "disk")
	run(t, "mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", disk)
	t.Cleanup(func() {
		if r := runCmd(t, cmdOpts{}, "umount", disk); !r.ok() {
			t.Errorf("umount tmpfs %s: %s", disk, r)
		}
	})
	ballast := filepath.Join(disk, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 6<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(disk, "vol")
	mustRwfs(t, "init", vol, "--segment-size", "2097152")
	mnt := mountVolume(t, vol)

	f, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 256<<10) }
	// write appends chunk i and fsyncs; it returns the error of either.
	write := func(i int) error {
		if _, err := f.WriteAt(chunk(i), int64(i)*256<<10); err != nil {
			return err
		}
		return f.Sync()
	}
	acked := map[int]bool{}
	var full error
	i := 0
	for ; i < 400; i++ {
		if err := write(i); err != nil {
			full = err
			break
		}
		acked[i] = true
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("after %d chunks of 256 KiB on a 24 MiB disk: error %v, want ENOSPC", i, full)
	}
	t.Logf("disk full after %d acknowledged chunks", len(acked))
	st := status(t, mnt) // the daemon still answers
	if st.m["mounted"] != true {
		t.Fatalf("status after ENOSPC: %s", st.raw)
	}
	got := make([]byte, 256<<10)
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, chunk(0)) {
		t.Fatalf("reading after ENOSPC: %v", err)
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	for k := i + 1; k < i+4; k++ {
		if err := write(k); err != nil {
			t.Fatalf("write after freeing space: %v", err)
		}
		acked[k] = true
	}
	f.Close()
	unmount(t, mnt)
	mustRwfs(t, "verify", vol)
	mountAt(t, vol, mnt)
	data, err := os.ReadFile(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range acked {
		off := k * 256 << 10
		if off+256<<10 > len(data) || !bytes.Equal(data[off:off+256<<10], chunk(k)) {
			t.Fatalf("acknowledged chunk %d is not intact after the remount", k)
		}
	}
}
