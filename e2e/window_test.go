package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWindowCompactionUnderChurn is issue #5's demonstration: a volume with
// a 10 s window under 30 s of 8 MiB overwrites with fsync. After
// compaction the log holds well under half of what was written, the
// earliest LSN has moved, a rewind to an LSN that left the window is
// refused with the earliest restorable time, and a rewind inside the
// window gives exactly the bytes read at that LSN.
func TestWindowCompactionUnderChurn(t *testing.T) {
	vol := newVolume(t, "--window", "10s", "--segment-size", strconv.Itoa(4<<20))
	mnt := mountVolume(t, vol)
	file := filepath.Join(mnt, "churn.bin")
	type noted struct {
		lsn  uint64
		hash string
		at   time.Time
	}
	var notes []noted
	var written int64
	buf := make([]byte, 8<<20)
	start := time.Now()
	for time.Since(start) < 30*time.Second {
		rand.Read(buf)
		writeFileSync(t, file, buf, 0o644)
		written += int64(len(buf))
		st := status(t, mnt)
		l, _ := st.uint("last_sync_lsn")
		notes = append(notes, noted{l, sha(buf), time.Now()})
		time.Sleep(200 * time.Millisecond)
	}
	out := mustRwfs(t, "compact", mnt, "--json")
	t.Logf("compact: %s", strings.TrimSpace(out))
	st := status(t, mnt)
	logBytes, _ := st.uint("log_bytes")
	earliest, _ := st.uint("earliest_lsn")
	t.Logf("wrote %d MiB in %d overwrites; log holds %d MiB; earliest LSN %d; status %s",
		written>>20, len(notes), logBytes>>20, earliest, st.raw)
	if int64(logBytes) >= written/2 {
		t.Errorf("the log holds %d bytes of the %d written: compaction did not keep it to the window", logBytes, written)
	}
	if earliest <= notes[0].lsn {
		t.Errorf("earliest_lsn %d did not move past the first overwrite's LSN %d", earliest, notes[0].lsn)
	}
	for _, key := range []string{"earliest_time", "base_lsn", "window_actual", "compaction_lag"} {
		if !st.has(key) {
			t.Errorf("status --json lacks %q: %s", key, st.raw)
		}
	}

	// Out of the window: refused, naming the earliest restorable time.
	r := rwfs(t, "rewind", mnt, "--to", strconv.FormatUint(notes[0].lsn, 10))
	if r.ok() {
		t.Fatalf("rewind to LSN %d, which left the window, succeeded:\n%s", notes[0].lsn, r)
	}
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "not restorable") || !strings.Contains(r.stderr, st.str("earliest_time")[:10]) {
		t.Errorf("the refusal does not name the earliest restorable time %s:\n%s", st.str("earliest_time"), r.stderr)
	}
	// Inside the window: exactly the bytes read at that LSN.
	var in *noted
	for i := len(notes) - 1; i >= 0; i-- {
		if notes[i].lsn >= earliest && time.Since(notes[i].at) > 2*time.Second {
			in = &notes[i]
			break
		}
	}
	if in == nil {
		t.Fatalf("no noted overwrite inside the window (earliest %d)", earliest)
	}
	mustRwfs(t, "rewind", mnt, "--to", strconv.FormatUint(in.lsn, 10))
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if sha(got) != in.hash {
		t.Errorf("after a rewind to LSN %d the file does not hold the bytes written then", in.lsn)
	}
}

// TestCompactionSurvivesSIGKILL kills the daemon (a test hook sends
// SIGKILL to itself) at different steps of a background compaction. After
// each remount the tree is what it was, and every noted state that status
// still offers rewinds to exactly its tree.
func TestCompactionSurvivesSIGKILL(t *testing.T) {
	vol := newVolume(t, "--window", "2s", "--segment-size", strconv.Itoa(1<<20))
	type noted struct {
		lsn  uint64
		tree map[string]string
	}
	for _, step := range []int{1, 3, 6, 10, 20, 45} {
		mnt := mountVolume(t, vol)
		var notes []noted
		// History: files created, overwritten in part, truncated and
		// removed, with a sync point noted now and then.
		for i := 0; i < 40; i++ {
			name := filepath.Join(mnt, fmt.Sprintf("f%d", i%7))
			data := bytes.Repeat([]byte{byte(step), byte(i)}, 3000+i*517)
			writeFileSync(t, name, data, 0o644)
			if i%5 == 4 {
				if err := os.Truncate(name, int64(1000+i)); err != nil {
					t.Fatal(err)
				}
			}
			if i%9 == 8 {
				os.Remove(filepath.Join(mnt, fmt.Sprintf("f%d", (i+3)%7)))
			}
			syncDir(t, mnt)
			if i%4 == 3 {
				l, _ := status(t, mnt).uint("last_sync_lsn")
				notes = append(notes, noted{l, treeHashes(t, mnt, nil)})
			}
			time.Sleep(80 * time.Millisecond)
		}
		before := treeHashes(t, mnt, nil)
		unmount(t, mnt)
		time.Sleep(2500 * time.Millisecond) // everything written leaves the window

		// Mount with the hook: the background compaction kills the
		// daemon before its step-th change to the base image.
		mnt = newDir(t, "mnt")
		pid := 0
		t.Cleanup(func() { cleanupMount(t, vol, mnt, &pid) })
		r := runCmd(t, cmdOpts{env: []string{"REWINDFS_TEST_CRASH_AT_BASE_OP=" + strconv.Itoa(step)}}, mountBinPath, "mount", vol, mnt)
		if !r.ok() {
			t.Fatalf("mount with the crash hook failed:\n%s", r)
		}
		// The daemon may be gone already (the hook fired before status
		// could ask it), so find it by its command line, not by status.
		pid = findDaemonByArgs(mnt)
		if pid > 0 && !waitGone(pid, 20*time.Second) {
			t.Logf("step %d: compaction finished before its %dth base change; the daemon lives", step, step)
			unmount(t, mnt)
		} else {
			lazyUnmount(t, mnt)
		}

		mnt = mountVolume(t, vol)
		if d := diffMaps(before, treeHashes(t, mnt, nil)); d != "" {
			t.Fatalf("step %d: the tree changed across a SIGKILL in compaction:\n%s", step, d)
		}
		st := status(t, mnt)
		earliest, _ := st.uint("earliest_lsn")
		head, _ := st.uint("head_lsn")
		checked := 0
		for _, n := range notes {
			if n.lsn < earliest {
				continue
			}
			mustRwfs(t, "rewind", mnt, "--to", strconv.FormatUint(n.lsn, 10))
			if d := diffMaps(n.tree, treeHashes(t, mnt, nil)); d != "" {
				t.Errorf("step %d: rewind to LSN %d (earliest %d) after the crash:\n%s", step, n.lsn, earliest, d)
			}
			checked++
		}
		mustRwfs(t, "rewind", mnt, "--to", strconv.FormatUint(head, 10))
		if d := diffMaps(before, treeHashes(t, mnt, nil)); d != "" {
			t.Fatalf("step %d: back at the head the tree differs:\n%s", step, d)
		}
		t.Logf("step %d: tree intact, earliest LSN %d, %d noted states still in the window rewound exactly", step, earliest, checked)
		unmount(t, mnt)
		if r := rwfs(t, "verify", vol); !r.ok() {
			t.Fatalf("step %d: verify failed:\n%s", step, r)
		}
	}
}
