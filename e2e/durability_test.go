package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBackgroundFlush: a write that no application syncs becomes durable
// within a few seconds anyway (the daemon flushes the log every second), so
// syncfs(2) users, whose call Linux does not forward to FUSE, lose little.
func TestBackgroundFlush(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	if err := os.WriteFile(filepath.Join(mnt, "unsynced"), []byte("no fsync here"), 0o644); err != nil {
		t.Fatal(err)
	}
	head := headLSN(t, mnt)
	ok := eventually(10*time.Second, 50*time.Millisecond, func() bool {
		d, _ := status(t, mnt).uint("durable_lsn")
		return d >= head
	})
	if !ok {
		t.Fatalf("durable_lsn did not reach head LSN %d within 10s without fsync: %s", head, status(t, mnt).raw)
	}
}
