package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// tornFile is one file written and fsynced through the mount; synced is the
// end of the log (status --json log_bytes) right after its fsync returned, so
// every record of it lies below that position.
type tornFile struct {
	name   string
	data   []byte
	synced int64
}

// logEnd is where the log ends: status --json log_bytes. In a volume with
// one segment it is an offset in that segment (checked by tornVolume).
func logEnd(t testing.TB, target string) int64 {
	t.Helper()
	st := status(t, target)
	n, ok := st.uint("log_bytes")
	if !ok {
		t.Fatalf("status --json has no log_bytes: %s", st.raw)
	}
	return int64(n)
}

// tornVolume makes a volume holding several files, each written and fsynced
// in turn, and unmounts it. It returns the volume, its one segment, the
// files and the end of the log.
func tornVolume(t testing.TB) (vol, seg string, files []tornFile, end int64) {
	t.Helper()
	vol = newVolume(t)
	mnt := mountVolume(t, vol)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 8; i++ {
		data := make([]byte, 48*1024+i*1000) // random: compresses to nothing less
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		name := fmt.Sprintf("f%d", i)
		writeFileSync(t, filepath.Join(mnt, name), data, 0o644)
		files = append(files, tornFile{name: name, data: data, synced: logEnd(t, mnt)})
	}
	unmount(t, mnt)
	for i := 1; i < len(files); i++ {
		if files[i].synced <= files[i-1].synced {
			t.Fatalf("log_bytes did not grow between fsyncs of %s and %s (%d, %d)",
				files[i-1].name, files[i].name, files[i-1].synced, files[i].synced)
		}
	}
	segs := segments(t, vol)
	if len(segs) != 1 {
		t.Fatalf("want the test volume in one segment, got %d: %v", len(segs), segs)
	}
	seg = segs[0]
	end = logEnd(t, vol)
	// log_bytes must be the offset where the records end: past it the segment
	// holds nothing but preallocated zeros (or nothing at all).
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if end > int64(len(data)) || end < files[len(files)-1].synced {
		t.Fatalf("log_bytes %d is not an offset in %s (%d bytes) at or past the last fsync (%d)",
			end, filepath.Base(seg), len(data), files[len(files)-1].synced)
	}
	if i := bytes.IndexFunc(data[end:], func(r rune) bool { return r != 0 }); i >= 0 {
		t.Fatalf("%s holds non-zero bytes at %d, past the end of the log (log_bytes %d)", filepath.Base(seg), end+int64(i), end)
	}
	return vol, seg, files, end
}

// checkPrefixState checks that the mount shows the state of some prefix of the
// log cut at position cut: a file synced below cut is complete; a file created
// after cut is absent; the one file in flight may be there partly (each 4 KiB
// page either its data or zeros, size at most its length).
func checkPrefixState(t testing.TB, mnt string, files []tornFile, cut int64) {
	t.Helper()
	for i, f := range files {
		got, err := os.ReadFile(filepath.Join(mnt, f.name))
		exists := err == nil
		if err != nil && !os.IsNotExist(err) {
			t.Errorf("read %s: %v", f.name, err)
			continue
		}
		switch {
		case f.synced <= cut:
			if !exists {
				t.Errorf("%s (synced at log position %d) is missing after a cut at %d", f.name, f.synced, cut)
			} else if !bytes.Equal(got, f.data) {
				t.Errorf("%s (synced at log position %d) has %d bytes (sha %.12s), want %d (sha %.12s) after a cut at %d",
					f.name, f.synced, len(got), sha(got), len(f.data), sha(f.data), cut)
			}
		case i > 0 && files[i-1].synced >= cut:
			if exists {
				t.Errorf("%s was created after log position %d but exists after a cut at %d (%d bytes)", f.name, files[i-1].synced, cut, len(got))
			}
		case exists:
			if len(got) > len(f.data) {
				t.Errorf("%s (in flight at the cut) has %d bytes, more than the %d written", f.name, len(got), len(f.data))
				continue
			}
			zero := make([]byte, 4096)
			for off := 0; off < len(got); off += 4096 {
				end := min(off+4096, len(got))
				if !bytes.Equal(got[off:end], f.data[off:end]) && !bytes.Equal(got[off:end], zero[:end-off]) {
					t.Errorf("%s (in flight at the cut): page at %d is neither the data written nor zeros", f.name, off)
					break
				}
			}
		}
	}
}

// cutAmount finds "cut N bytes" or "N bytes cut" in a line.
var cutAmount = regexp.MustCompile(`(?i)\bcut (\d+) bytes|\b(\d+) bytes cut\b`)

// cutReport returns the first line that says a non-zero number of bytes was
// cut, and that number; or the first line about a cut and 0.
func cutReport(text string) (string, int64) {
	first := ""
	for _, line := range strings.Split(text, "\n") {
		m := cutAmount.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(m[1]+m[2], 10, 64)
		if n > 0 {
			return strings.TrimSpace(line), n
		}
		if first == "" {
			first = strings.TrimSpace(line)
		}
	}
	return first, 0
}

// newLogText returns what the volume's daemon.log (and other *.log files)
// gained since the last call for that volume.
func newLogText(vol string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(vol, "*.log"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		logSeenMu.Lock()
		from := logSeen[f]
		logSeen[f] = len(data)
		logSeenMu.Unlock()
		if from > len(data) {
			from = 0
		}
		b.Write(data[from:])
	}
	return b.String()
}

var (
	logSeenMu sync.Mutex
	logSeen   = map[string]int{}
)

// TestTornTail cuts the log short at several offsets, each on a copy of the
// volume, in two ways: the segment file truncated there, or (as a torn write
// in a preallocated segment looks) the bytes from there to the end of the log
// zeroed. The mount must succeed, show a prefix state, say what it cut, and
// keep working: a new file written after the cut survives a remount, and
// verify then finds the log clean.
func TestTornTail(t *testing.T) {
	vol, seg, files, end := tornVolume(t)
	t.Logf("segment %s, log ends at %d; files synced at %v", filepath.Base(seg), end, syncedPositions(files))

	mid := func(a, b int64) int64 { return a + (b-a)/2 }
	cuts := map[string][]int64{
		"truncate": {
			end - 1,
			mid(files[6].synced, files[7].synced),
			mid(files[3].synced, files[4].synced) + 3,
			files[5].synced, // exactly at a synced boundary
		},
		"zero": {
			end - 37,
			mid(files[3].synced, files[4].synced) + 3,
		},
	}
	for _, how := range []string{"truncate", "zero"} {
		for _, cut := range cuts[how] {
			t.Run(fmt.Sprintf("%s%d", how, cut), func(t *testing.T) {
				cp := copyTree(t, vol)
				cpSeg := filepath.Join(cp, "log", filepath.Base(seg))
				if how == "truncate" {
					if err := os.Truncate(cpSeg, cut); err != nil {
						t.Fatal(err)
					}
				} else {
					f, err := os.OpenFile(cpSeg, os.O_RDWR, 0)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					tail := make([]byte, end-cut)
					if _, err := f.ReadAt(tail, cut); err != nil {
						t.Fatal(err)
					}
					// The damage starts at the first byte that zeroing changes.
					i := bytes.IndexFunc(tail, func(r rune) bool { return r != 0 })
					if i < 0 {
						t.Skipf("bytes %d..%d are zero already (record padding): zeroing them changes nothing", cut, end)
					}
					cut += int64(i)
					if _, err := f.WriteAt(make([]byte, end-cut), cut); err != nil {
						t.Fatal(err)
					}
				}
				tornMountAndCheck(t, cp, files, cut, end)
			})
		}
	}
}

// tornMountAndCheck mounts a volume whose log was cut at cut and checks the
// prefix state, the daemon's word about the cut, and that the log goes on.
func tornMountAndCheck(t *testing.T, cp string, files []tornFile, cut, end int64) {
	t.Helper()
	mnt := newDir(t, "mnt")
	newLogText(cp) // what the copy's log says already is not about this mount
	r := mountCmd(t, cp, mnt)
	pid := 0
	t.Cleanup(func() { cleanupMount(t, cp, mnt, &pid) })
	if !r.ok() {
		t.Fatalf("mount of a volume with a torn tail (cut at %d) failed:\n%s\ndaemon log:\n%s", cut, r, daemonLogs(cp))
	}
	if !isMounted(mnt) {
		t.Fatalf("mount returned 0 but %s is not mounted", mnt)
	}
	pid = daemonPID(t, mnt)
	checkPrefixState(t, mnt, files, cut)

	// What the daemon said about this mount: mount's output, status, and the
	// part of daemon.log written since the copy was made.
	said := r.stdout + r.stderr + rwfs(t, "status", cp, "--json").stdout + newLogText(cp)
	atBoundary := slices.ContainsFunc(files, func(f tornFile) bool { return f.synced == cut })
	line, n := cutReport(said)
	switch {
	case atBoundary:
		// A cut exactly after a synced record leaves no torn record: nothing to cut.
		t.Logf("cut at a record boundary; the daemon said: %q", line)
		if n > 0 {
			t.Errorf("the log was cut at a record boundary, yet the daemon says it cut %d bytes: %q", n, line)
		}
	case n <= 0:
		t.Errorf("nothing says how much was cut (no line saying \"cut N bytes\" or \"N bytes cut\" with N > 0 in mount output, status or daemon.log):\n%s", clip(said))
	default:
		t.Logf("daemon said: %s", line)
		// What was cut lies between the last record that survived (at or
		// after the last fsync before the cut) and the end of the log.
		var prev int64
		for _, f := range files {
			if f.synced <= cut {
				prev = f.synced
			}
		}
		if n > end-prev {
			t.Errorf("the daemon says it cut %d bytes, but the log held only %d bytes past the last fsync before the cut (%d..%d): "+
				"preallocated space counted as cut? %q", n, end-prev, prev, end, line)
		}
	}

	// The log goes on after the cut.
	extra := bytes.Repeat([]byte("after the cut\n"), 1000)
	writeFileSync(t, filepath.Join(mnt, "after-cut"), extra, 0o644)
	unmount(t, mnt)
	if r := rwfs(t, "verify", cp); !r.ok() {
		t.Errorf("verify after recovering from the cut and appending failed:\n%s", r)
	}
	pid = mountAt(t, cp, mnt)
	checkPrefixState(t, mnt, files, cut)
	if got, err := os.ReadFile(filepath.Join(mnt, "after-cut")); err != nil || !bytes.Equal(got, extra) {
		t.Errorf("file written after the cut: %d bytes, err %v; want %d bytes", len(got), err, len(extra))
	}
}

func syncedPositions(files []tornFile) []int64 {
	var out []int64
	for _, f := range files {
		out = append(out, f.synced)
	}
	return out
}

// TestCorruptRecord flips one byte in a record well before the tail: verify
// must fail naming the segment or the LSN, mount must refuse, and neither may
// change the volume.
func TestCorruptRecord(t *testing.T) {
	vol, seg0, files, end := tornVolume(t)
	for _, tc := range []struct {
		name string
		pos  int64
	}{
		{"file2-data", files[1].synced + (files[2].synced-files[1].synced)/2},
		{"file4-data", files[3].synced + (files[4].synced-files[3].synced)/3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := copyTree(t, vol)
			seg, off := filepath.Join(cp, "log", filepath.Base(seg0)), tc.pos
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			data[off] ^= 0xff
			if err := os.WriteFile(seg, data, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("flipped the byte at offset %d of %s (the log ends at %d)", off, filepath.Base(seg), end)
			before := volumeHashes(t, cp)

			r := rwfs(t, "verify", cp)
			oneLineError(t, r)
			segHex := strings.TrimSuffix(filepath.Base(seg), ".seg")
			names := regexp.MustCompile(`(?i)(` + segHex + `|\blsn\b\D{0,3}\d+)`)
			if !names.MatchString(r.stderr) {
				t.Errorf("verify's error names neither the segment %s nor an LSN: %q", filepath.Base(seg), r.stderr)
			}

			mnt := newDir(t, "mnt")
			r = rwfs(t, "mount", cp, mnt)
			pid := 0
			t.Cleanup(func() { cleanupMount(t, cp, mnt, &pid) })
			oneLineError(t, r)
			if isMounted(mnt) {
				pid = findDaemonByArgs(mnt)
				t.Errorf("mount of a volume with a corrupt record left %s mounted", mnt)
			}
			// A daemon that failed must not linger.
			eventually(5*time.Second, 50*time.Millisecond, func() bool { return findDaemonByArgs(mnt) == 0 })
			if p := findDaemonByArgs(mnt); p > 0 {
				t.Errorf("a daemon (%d) is still running after the refused mount", p)
			}
			if d := diffMaps(before, volumeHashes(t, cp)); d != "" {
				t.Errorf("verify or the refused mount changed the volume:\n%s", d)
			}
		})
	}
}
