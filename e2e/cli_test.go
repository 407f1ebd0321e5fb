package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCLIBasics walks the command line contract once: init, status of an
// unmounted volume, mount, status by volume and by mount point, a synced
// write, unmount, verify, and a remount that still shows the file.
func TestCLIBasics(t *testing.T) {
	vol := newVolume(t)

	st := status(t, vol)
	for _, key := range []string{"head_lsn", "earliest_lsn", "earliest_time", "window", "log_bytes", "base_lsn", "mounted"} {
		if !st.has(key) {
			t.Errorf("status --json of an unmounted volume lacks %q: %s", key, st.raw)
		}
	}
	if m, ok := st.bool("mounted"); !ok || m {
		t.Errorf("status of an unmounted volume: mounted = %v (present %v), want false: %s", m, ok, st.raw)
	}
	head0, _ := st.uint("head_lsn")

	mnt := mountVolume(t, vol)
	for _, target := range []string{vol, mnt} {
		st := status(t, target)
		if m, _ := st.bool("mounted"); !m {
			t.Errorf("status %s: mounted is not true: %s", target, st.raw)
		}
		if pid := st.int("pid"); !isRewindfs(pid) {
			t.Errorf("status %s: pid %d is not a live rewindfs process: %s", target, pid, st.raw)
		}
		if got := st.str("mountpoint"); got != mnt {
			t.Errorf("status %s: mountpoint = %q, want %q", target, got, mnt)
		}
		if got := st.str("volume"); filepath.Clean(got) != vol {
			t.Errorf("status %s: volume = %q, want %q", target, got, vol)
		}
	}

	data := bytes.Repeat([]byte("rewindfs\n"), 10000)
	writeFileSync(t, filepath.Join(mnt, "hello.txt"), data, 0o644)
	st = status(t, mnt)
	if head, _ := st.uint("head_lsn"); head <= head0 {
		t.Errorf("head_lsn did not grow after a synced write: before %d, after %d", head0, head)
	}
	if lb, _ := st.uint("log_bytes"); lb == 0 {
		t.Errorf("log_bytes is 0 after a write: %s", st.raw)
	}

	unmount(t, mnt)
	st = status(t, vol)
	if m, _ := st.bool("mounted"); m {
		t.Errorf("status after unmount: mounted is true: %s", st.raw)
	}
	if len(segments(t, vol)) == 0 {
		t.Errorf("no segment files in %s/log after a write", vol)
	}
	if r := rwfs(t, "verify", vol); !r.ok() {
		t.Errorf("verify of a cleanly unmounted volume failed:\n%s", r)
	}

	mountAt(t, vol, mnt)
	got, err := os.ReadFile(filepath.Join(mnt, "hello.txt"))
	if err != nil {
		t.Fatalf("after remount: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("after remount hello.txt has %d bytes (sha %s), want %d bytes (sha %s)", len(got), sha(got), len(data), sha(data))
	}
}
