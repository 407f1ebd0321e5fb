package e2e

// Hostile and wrong input, beyond what badinput_test.go and rewind_test.go
// cover: every command with missing, malformed and out-of-range arguments;
// a directory of another program; damaged settings; damaged segments; two
// daemons racing for one volume; unmount with files open; a dead mount;
// names that are not text. Each refusal is one line on stderr and a
// non-zero exit, and leaves the volume byte for byte as it was
// (refuseUnchanged, volumeHashes). Where the design says the mount recovers
// (a torn tail), the test checks that it recovers exactly that and keeps a
// copy of what it cut (pagelog/recover.go).

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hostileVolume makes a volume (init with initArgs) holding a few files
// written and fsynced through a mount, and unmounts it. It returns the
// volume and what the files hold.
func hostileVolume(t *testing.T, initArgs ...string) (string, map[string][]byte) {
	t.Helper()
	vol := newVolume(t, initArgs...)
	mnt := mountVolume(t, vol)
	files := map[string][]byte{}
	for i := 0; i < 6; i++ {
		data := make([]byte, 20000+i*3000)
		_, _ = rand.Read(data) // random: compression cannot shrink it
		name := fmt.Sprintf("file%d", i)
		writeFileSync(t, filepath.Join(mnt, name), data, 0o644)
		files[name] = data
	}
	unmount(t, mnt)
	return vol, files
}

// spareName is the zero-filled spare segment pagelog keeps ready for its
// next segment (pagelog/spare.go). It holds no record, and opening a log
// removes it, as any *.seg.tmp, before the log is checked.
const spareName = "log/spare.seg.tmp"

// refuse runs rewindfs with args and checks that it is refused with one
// line and leaves dir (a volume) unchanged, as refuseUnchanged does, with
// one allowance: the spare segment, which holds no record, is runtime
// state. A mounted daemon may be writing it, and a command that got as far
// as opening the log read-write removes it. A change to it is logged, so
// that it stays visible.
func refuse(t *testing.T, dir string, args ...string) result {
	t.Helper()
	before := volumeHashes(t, dir)
	r := rwfs(t, args...)
	oneLineError(t, r)
	after := volumeHashes(t, dir)
	if before[spareName] != after[spareName] {
		t.Logf("rewindfs %s: %s was %q, is %q (a spare that holds no record)", args[0], spareName, before[spareName], after[spareName])
	}
	delete(before, spareName)
	delete(after, spareName)
	if d := diffMaps(before, after); d != "" {
		t.Errorf("rewindfs %v changed %s:\n%s", args, dir, d)
	}
	t.Logf("refused: %s", strings.TrimSpace(r.stderr))
	return r
}

// refuseMount runs `rewindfs mount VOL MNT extra...` and checks that it is
// refused (see refuse) and leaves neither a mount nor a daemon behind.
func refuseMount(t *testing.T, dir, vol, mnt string, extra ...string) result {
	t.Helper()
	pid := 0
	t.Cleanup(func() {
		if isMounted(mnt) {
			pid = findDaemonByArgs(mnt)
			cleanupMount(t, vol, mnt, &pid)
		}
	})
	r := refuse(t, dir, append([]string{"mount", vol, mnt}, extra...)...)
	noMountNoDaemon(t, mnt)
	return r
}

// untouched checks that running rewindfs with args is refused with one
// line and that nothing under dir changed: not one byte, and no file
// appeared or went (stricter than refuseUnchanged, which leaves out a
// volume's lock file and daemon log: a directory of another program has
// no such exceptions).
func untouched(t *testing.T, dir string, args ...string) result {
	t.Helper()
	before := treeHashes(t, dir, nil)
	r := rwfs(t, args...)
	oneLineError(t, r)
	if d := diffMaps(before, treeHashes(t, dir, nil)); d != "" {
		t.Errorf("rewindfs %v changed %s:\n%s", args, dir, d)
	}
	return r
}

// TestHostileArgs runs every command with arguments that are missing,
// malformed or out of range. Each is refused with one line on stderr and a
// non-zero exit, and the volume it names is unchanged.
func TestHostileArgs(t *testing.T) {
	vol, _ := hostileVolume(t)
	aux := newDir(t, "aux")
	file := filepath.Join(aux, "a-file")
	if err := os.WriteFile(file, []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(aux, "missing")
	long := "m" + strings.Repeat("x", 70000)
	head := headLSN(t, vol)
	beyond := strconv.FormatUint(head+1000, 10)

	cases := []struct {
		name string
		args []string
		want string // a regexp the error line must match, if set
	}{
		{"no such command", []string{"no-such-command"}, ""},
		{"init/none", []string{"init"}, "takes 1 argument"},
		{"init/two", []string{"init", filepath.Join(aux, "a"), filepath.Join(aux, "b")}, "takes 1 argument"},
		{"init/window malformed", []string{"init", filepath.Join(aux, "w1"), "--window", "a-while"}, "window"},
		{"init/window negative", []string{"init", filepath.Join(aux, "w2"), "--window", "-5m"}, "window"},
		{"init/window zero", []string{"init", filepath.Join(aux, "w3"), "--window", "0s"}, "window"},
		{"init/page size not a power of two", []string{"init", filepath.Join(aux, "p1"), "--page-size", "1000"}, "page size"},
		{"init/page size too big", []string{"init", filepath.Join(aux, "p2"), "--page-size", "131072"}, "page size"},
		{"init/page size zero", []string{"init", filepath.Join(aux, "p3"), "--page-size", "0"}, "page-size"},
		{"init/page size malformed", []string{"init", filepath.Join(aux, "p4"), "--page-size", "4k"}, "page-size"},
		{"init/segment size tiny", []string{"init", filepath.Join(aux, "s1"), "--segment-size", "1"}, "segment size"},
		{"init/segment size huge", []string{"init", filepath.Join(aux, "s2"), "--segment-size", "99999999999"}, "segment size"},
		{"init/max log bytes negative", []string{"init", filepath.Join(aux, "m1"), "--max-log-bytes", "-1"}, "max log bytes"},
		{"init/unknown flag", []string{"init", filepath.Join(aux, "u1"), "--no-such-flag"}, "no-such-flag"},
		{"init/a file", []string{"init", file}, ""},
		{"mount/none", []string{"mount"}, "takes 2 argument"},
		{"mount/one", []string{"mount", vol}, "takes 2 argument"},
		{"mount/three", []string{"mount", vol, aux, aux}, "takes 2 argument"},
		{"mount/volume is a file", []string{"mount", file, aux}, ""},
		{"mount/mount point is a file", []string{"mount", vol, file}, "not a directory"},
		{"mount/unknown flag", []string{"mount", vol, aux, "--no-such-flag"}, "no-such-flag"},
		{"unmount/none", []string{"unmount"}, "takes 1 argument"},
		{"unmount/two", []string{"unmount", aux, aux}, "takes 1 argument"},
		{"unmount/root", []string{"unmount", "/"}, "not a rewindfs mount"},
		{"unmount/missing", []string{"unmount", missing}, "not a rewindfs mount"},
		{"unmount/a file", []string{"unmount", file}, "not a rewindfs mount"},
		{"unmount/the volume", []string{"unmount", vol}, "not a rewindfs mount"},
		{"status/none", []string{"status"}, "takes 1 argument"},
		{"status/two", []string{"status", vol, vol}, "takes 1 argument"},
		{"status/a file", []string{"status", file}, "neither"},
		{"status/unknown flag", []string{"status", vol, "--no-such-flag"}, "no-such-flag"},
		{"log/none", []string{"log"}, "takes 1 argument"},
		{"log/since malformed", []string{"log", vol, "--since", "yesterday-ish!"}, ""},
		{"log/until beyond the head", []string{"log", vol, "--until", beyond}, "not restorable"},
		{"log/since in the future", []string{"log", vol, "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, ""},
		{"log/a file", []string{"log", file}, "neither"},
		{"rewind/none", []string{"rewind"}, ""},
		{"rewind/empty target", []string{"rewind", vol, "--to", ""}, "empty target"},
		{"rewind/negative", []string{"rewind", vol, "--to", "-5"}, "not a target"},
		{"rewind/zero", []string{"rewind", vol, "--to", "0"}, "LSNs start at 1"},
		{"rewind/overflow", []string{"rewind", vol, "--to", "99999999999999999999999"}, "at most"},
		{"rewind/beyond the head", []string{"rewind", vol, "--to", beyond}, "not restorable"},
		{"rewind/dry run beyond the head", []string{"rewind", vol, "--to", beyond, "--dry-run"}, "not restorable"},
		{"rewind/malformed time", []string{"rewind", vol, "--to", "2026-13-45T25:61:00Z"}, ""},
		{"rewind/a file", []string{"rewind", file, "--to", "1"}, "neither"},
		{"mark/none", []string{"mark"}, "takes 2 argument"},
		{"mark/one", []string{"mark", vol}, "takes 2 argument"},
		{"mark/empty", []string{"mark", vol, ""}, "empty mark name"},
		{"mark/an LSN", []string{"mark", vol, "123"}, "is an LSN"},
		{"mark/a duration", []string{"mark", vol, "5m"}, "is a duration"},
		{"mark/a time", []string{"mark", vol, "2026-11-24T10:15:00Z"}, "is a time"},
		{"mark/a slash", []string{"mark", vol, "a/b"}, "'/'"},
		{"mark/a space", []string{"mark", vol, "a b"}, ""},
		{"mark/invalid UTF-8", []string{"mark", vol, "a\xff"}, ""},
		{"mark/70000 bytes", []string{"mark", vol, long}, "bytes long"},
		{"mark/a file", []string{"mark", file, "name"}, "neither"},
		{"verify/none", []string{"verify"}, "takes 1 argument"},
		{"verify/two", []string{"verify", vol, vol}, "takes 1 argument"},
		{"verify/a file", []string{"verify", file}, "not a"},
		{"verify/missing", []string{"verify", missing}, "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := refuse(t, vol, tc.args...)
			if tc.want != "" && !regexp.MustCompile(tc.want).MatchString(r.stderr) {
				t.Errorf("the error does not say %q: %s", tc.want, clip(r.stderr))
			}
			if len(r.stderr) > 1000 && !strings.Contains(tc.name, "70000") {
				t.Errorf("a %d-byte error line", len(r.stderr))
			}
		})
	}
	// Nothing was made where init was refused.
	ents, _ := os.ReadDir(aux)
	for _, e := range ents {
		if e.Name() != "a-file" {
			t.Errorf("a refused command left %s in %s", e.Name(), aux)
		}
	}
	if got := headLSN(t, vol); got != head {
		t.Errorf("the head moved from %d to %d", head, got)
	}
	if r := rwfs(t, "verify", vol); !r.ok() {
		t.Errorf("verify after the refusals:\n%s", r)
	}
}

// TestHostileMountPoints: a mount point that is the volume, lies inside it
// or holds it would hide the volume from its own daemon, which then waits
// for itself for good. Each is refused at once; so is --at with a bad
// target, read-write or read-only.
func TestHostileMountPoints(t *testing.T) {
	vol, _ := hostileVolume(t)
	beyond := strconv.FormatUint(headLSN(t, vol)+1000, 10)
	alias := filepath.Join(newDir(t, "links"), "alias")
	if err := os.Symlink(vol, alias); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, mnt string
		extra     []string
		want      string
	}{
		{"the volume itself", vol, nil, "volume directory itself"},
		{"the log directory", filepath.Join(vol, "log"), nil, "inside the volume"},
		{"the volume through a symlink", alias, nil, "volume directory itself"},
		{"the volume's parent", filepath.Dir(vol), nil, "holds the volume"},
		{"--at malformed", newDir(t, "mnt"), []string{"--at", "yesterday-ish!"}, ""},
		{"--at beyond the head", newDir(t, "mnt"), []string{"--at", beyond}, "not restorable"},
		{"--at beyond the head, read-only", newDir(t, "mnt"), []string{"--at", beyond, "--read-only"}, "not restorable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := refuseMount(t, vol, vol, tc.mnt, tc.extra...)
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("the refusal took %v", d)
			}
			if tc.want != "" && !strings.Contains(r.stderr, tc.want) {
				t.Errorf("the error does not say %q: %s", tc.want, r.stderr)
			}
		})
	}
	// The volume still mounts where it should, with everything in it.
	mnt := mountVolume(t, vol)
	if _, err := os.Stat(filepath.Join(mnt, "file0")); err != nil {
		t.Errorf("after the refusals: %v", err)
	}
}

// TestHostileUnmountOtherFS: unmount of a mount that is not rewindfs (a
// tmpfs) is refused and leaves that mount alone.
func TestHostileUnmountOtherFS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := newDir(t, "tmpfs")
	run(t, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir)
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	if err := os.WriteFile(filepath.Join(dir, "kept"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	untouched(t, dir, "unmount", dir)
	if !isMounted(dir) {
		t.Errorf("rewindfs unmount removed a tmpfs mount")
	}
	run(t, "umount", dir)
}

// TestHostileForeignDir: a directory that belongs to another program (here
// one that looks like a PostgreSQL data directory, with a file named lock
// and a log/ directory holding a file named like a segment) is refused by
// every command, and not one byte of it changes.
func TestHostileForeignDir(t *testing.T) {
	needBinary(t)
	dir := newDir(t, "foreign")
	write := func(rel string, data []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	junk := make([]byte, 8192)
	_, _ = rand.Read(junk)
	write("PG_VERSION", []byte("15\n"))
	write("base/1/1259", junk)
	write("postmaster.pid", []byte("4242\n"))
	write("lock", []byte("someone else's lock\n"))
	write("daemon.log", []byte("another program's log\n"))
	write("log/0000000000000001.seg", junk)
	write("control.sock", []byte("not a socket\n"))
	mnt := newDir(t, "mnt")
	for _, args := range [][]string{
		{"status", dir},
		{"status", dir, "--json"},
		{"log", dir},
		{"rewind", dir, "--to", "1"},
		{"rewind", dir, "--to", "1", "--dry-run"},
		{"mark", dir, "name"},
		{"verify", dir},
		{"init", dir},
		{"unmount", dir},
	} {
		t.Run(strings.Join(args[:1], " "), func(t *testing.T) {
			r := untouched(t, dir, args...)
			t.Logf("%s: %s", args[0], strings.TrimSpace(r.stderr))
		})
	}
	t.Run("mount", func(t *testing.T) {
		before := treeHashes(t, dir, nil)
		refuseMount(t, dir, dir, mnt)
		if d := diffMaps(before, treeHashes(t, dir, nil)); d != "" {
			t.Errorf("a refused mount changed the foreign directory:\n%s", d)
		}
	})
}

// TestHostileSettings damages rewindfs.json in every way we could think of.
// Every command refuses the volume with one line that names the settings
// (or their version) and changes nothing; init does not overwrite it.
func TestHostileSettings(t *testing.T) {
	vol, _ := hostileVolume(t)
	settings := filepath.Join(vol, "rewindfs.json")
	good, err := os.ReadFile(settings)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	with := func(key string, v any) []byte {
		c := map[string]any{}
		for k, x := range m {
			c[k] = x
		}
		if v == nil {
			delete(c, key)
		} else {
			c[key] = v
		}
		b, _ := json.MarshalIndent(c, "", "  ")
		return b
	}
	garbage := make([]byte, 4096)
	_, _ = rand.Read(garbage)
	variants := []struct {
		name string
		data []byte // nil: special (see below)
	}{
		{"empty", []byte{}},
		{"truncated", good[:len(good)/2]},
		{"garbage", garbage},
		{"an array", []byte("[1,2,3]\n")},
		{"null", []byte("null\n")},
		{"wrong types", with("page_size", "big")},
		{"newer format version", with("format_version", 2)},
		{"format version 0", with("format_version", 0)},
		{"no format version", with("format_version", nil)},
		{"page size not a power of two", with("page_size", 1000)},
		{"page size 0", with("page_size", 0)},
		{"no volume id", with("volume_id", nil)},
		{"volume id not hex", with("volume_id", "zz")},
		{"unknown compression", with("compression", "lz4")},
		{"window malformed", with("window", "a while")},
		{"segment size 1", with("segment_size", 1)},
		{"huge", append(append([]byte("{"), bytes.Repeat([]byte(" "), 8<<20)...), '}')},
		{"a directory", nil},
		{"a symlink to /etc/passwd", nil},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			if err := os.RemoveAll(settings); err != nil {
				t.Fatal(err)
			}
			switch v.name {
			case "a directory":
				err = os.Mkdir(settings, 0o700)
			case "a symlink to /etc/passwd":
				err = os.Symlink("/etc/passwd", settings)
			default:
				err = os.WriteFile(settings, v.data, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = os.RemoveAll(settings)
				if err := os.WriteFile(settings, good, 0o600); err != nil {
					t.Fatal(err)
				}
			}()
			for _, args := range [][]string{
				{"status", vol, "--json"},
				{"log", vol},
				{"rewind", vol, "--to", "1"},
				{"mark", vol, "name"},
				{"verify", vol},
				{"init", vol},
			} {
				r := refuse(t, vol, args...)
				if !regexp.MustCompile(`(?i)rewindfs\.json|settings|version|not a rewindfs volume`).MatchString(r.stderr) {
					t.Errorf("%s: the error does not name the settings: %s", args[0], clip(r.stderr))
				}
			}
			refuseMount(t, vol, vol, newDir(t, "mnt"))
		})
	}
	// With the settings restored the volume is whole.
	if r := rwfs(t, "verify", vol); !r.ok() {
		t.Errorf("verify with the settings restored:\n%s", r)
	}
}

// segVolume makes a volume of several small segments (64 KiB each) holding
// files written and fsynced one after another, and unmounts it.
func segVolume(t *testing.T) (vol string, files map[string][]byte, segs []string) {
	t.Helper()
	vol, files = hostileVolume(t, "--segment-size", "65536")
	segs = segments(t, vol)
	if len(segs) < 4 {
		t.Fatalf("want at least 4 segments, got %d", len(segs))
	}
	return vol, files, segs
}

// segName is a segment's name without its directory and suffix: what an
// error must say.
func segName(seg string) string { return strings.TrimSuffix(filepath.Base(seg), ".seg") }

// refuseDamaged checks that verify and mount both refuse a damaged copy of
// a volume with one line naming the segment, and change nothing.
func refuseDamaged(t *testing.T, cp, seg string) {
	t.Helper()
	r := refuse(t, cp, "verify", cp)
	if !strings.Contains(r.stderr, segName(seg)) {
		t.Errorf("verify does not name the damaged segment %s: %s", filepath.Base(seg), r.stderr)
	}
	r = refuseMount(t, cp, cp, newDir(t, "mnt"))
	if !strings.Contains(r.stderr, segName(seg)) {
		t.Errorf("mount does not name the damaged segment %s: %s", filepath.Base(seg), r.stderr)
	}
}

// TestScrubRemembers: the daemon's background check reads the sealed
// segments after a read-write mount, and a remount within the week reads
// none of them again (checked.json), saying so in the daemon's log.
func TestScrubRemembers(t *testing.T) {
	vol, _, segs := segVolume(t)
	cp := copyTree(t, vol)
	if err := os.Remove(filepath.Join(cp, "checked.json")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sealed := len(segs) - 1
	from := len(readFile(filepath.Join(cp, "daemon.log"))) // the source's mounts logged before
	line := regexp.MustCompile(`checked every record of (\d+) sealed segments in \S+: no damage \((\d+) more were found whole`)
	// checkedLine waits for the k-th such line since the copy and returns
	// its two counts.
	checkedLine := func(k int) (read, trusted int) {
		t.Helper()
		var m [][]string
		if !eventually(60*time.Second, 100*time.Millisecond, func() bool {
			m = line.FindAllStringSubmatch(readFile(filepath.Join(cp, "daemon.log"))[from:], -1)
			return len(m) >= k
		}) {
			t.Fatalf("the daemon never logged check number %d:\n%s", k, clip(daemonLogs(cp)))
		}
		read, _ = strconv.Atoi(m[k-1][1])
		trusted, _ = strconv.Atoi(m[k-1][2])
		return read, trusted
	}
	// notChecking checks that status no longer says checking once the
	// daemon logged the end of the check.
	notChecking := func(when string) {
		t.Helper()
		if c, ok := status(t, cp).bool("checking"); !ok || c {
			t.Errorf("%s: status says checking %v (a boolean: %v) after the check's line in the log", when, c, ok)
		}
	}
	mnt := mountVolume(t, cp)
	if read, trusted := checkedLine(1); read != sealed || trusted != 0 {
		t.Errorf("first mount: read %d sealed segments and trusted %d, want %d and 0", read, trusted, sealed)
	}
	notChecking("first mount")
	unmount(t, mnt)
	mnt = mountVolume(t, cp)
	defer unmount(t, mnt)
	if read, trusted := checkedLine(2); read != 0 || trusted != sealed {
		t.Errorf("remount: read %d sealed segments and trusted %d, want 0 and %d", read, trusted, sealed)
	}
	notChecking("remount")
}

// TestHostileSegments damages segment files of copies of one volume. A
// segment cut to nothing, garbage in the middle of any segment, a missing
// segment, a foreign or a bad header: verify names the segment, mount
// refuses, nothing changes. Garbage after the last record of the last
// segment is a torn tail: mount cuts it (keeping a copy of exactly those
// bytes) and serves every synced file.
func TestHostileSegments(t *testing.T) {
	vol, _, segs := segVolume(t)
	names := make([]string, len(segs))
	for i, s := range segs {
		names[i] = filepath.Base(s)
	}
	t.Logf("segments: %v", names)
	other, _ := hostileVolume(t, "--segment-size", "65536")
	otherSegs := segments(t, other)

	damage := func(t *testing.T, fn func(logDir string) string) (string, string) {
		t.Helper()
		cp := copyTree(t, vol)
		// The source volume's mount may have recorded its sealed segments
		// as checked (checked.json), and the background check trusts that
		// for a week: damage made after a check is found by verify at once,
		// by the daemon only at the next check. These copies are damaged
		// afresh, so they start without the record.
		if err := os.Remove(filepath.Join(cp, "checked.json")); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		seg := fn(filepath.Join(cp, "log"))
		return cp, seg
	}
	overwrite := func(t *testing.T, p string, off int64, b []byte) {
		t.Helper()
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	garbage := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, logDir string) string // damages, returns the segment
	}{
		{"first cut to zero", func(t *testing.T, d string) string {
			p := filepath.Join(d, names[0])
			if err := os.Truncate(p, 0); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"middle cut to zero", func(t *testing.T, d string) string {
			p := filepath.Join(d, names[len(names)/2])
			if err := os.Truncate(p, 0); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"last cut to zero", func(t *testing.T, d string) string {
			p := filepath.Join(d, names[len(names)-1])
			if err := os.Truncate(p, 0); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"last cut inside its header", func(t *testing.T, d string) string {
			p := filepath.Join(d, names[len(names)-1])
			if err := os.Truncate(p, 40); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"garbage in the middle of the first, its index gone", func(t *testing.T, d string) string {
			// Without its index a sealed segment is scanned at mount,
			// as after a crash before the index was written.
			p := filepath.Join(d, names[0])
			overwrite(t, p, 20000, garbage(4096))
			if err := os.Remove(p + ".idx"); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"garbage in the middle of the last", func(t *testing.T, d string) string {
			p := filepath.Join(d, names[len(names)-1])
			overwrite(t, p, 100, garbage(200))
			return p
		}},
		{"bad magic", func(t *testing.T, d string) string {
			p := filepath.Join(d, names[1])
			overwrite(t, p, 0, []byte("NOTALOG!"))
			return p
		}},
		// A middle one: verify takes the volume's identity from the first
		// segment, so a foreign first segment is named by mount, and verify
		// names the next one as the stranger.
		{"a segment of another volume", func(t *testing.T, d string) string {
			p := filepath.Join(d, names[1])
			data, err := os.ReadFile(otherSegs[1])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"a middle segment missing", func(t *testing.T, d string) string {
			p := filepath.Join(d, names[len(names)/2])
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			// The gap is found at the segment after the missing one.
			return filepath.Join(d, names[len(names)/2+1])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp, seg := damage(t, func(d string) string { return tc.fn(t, d) })
			refuseDamaged(t, cp, seg)
		})
	}

	// A sealed segment with its index: a mount reads the index, not the
	// records, so it serves; the daemon's background check of the sealed
	// segments then names the damage in status, and verify refuses.
	t.Run("garbage in the middle of an indexed sealed segment", func(t *testing.T) {
		cp, seg := damage(t, func(d string) string {
			p := filepath.Join(d, names[0])
			if _, err := os.Stat(p + ".idx"); err != nil {
				t.Fatalf("the volume was unmounted cleanly, so every sealed segment has its index: %v", err)
			}
			overwrite(t, p, 20000, garbage(4096))
			return p
		})
		r := refuse(t, cp, "verify", cp)
		if !strings.Contains(r.stderr, segName(seg)) {
			t.Errorf("verify does not name the damaged segment %s: %s", filepath.Base(seg), r.stderr)
		}
		mnt := mountVolume(t, cp)
		var st volStatus
		if !eventually(30*time.Second, 200*time.Millisecond, func() bool {
			st = status(t, mnt)
			return strings.Contains(st.str("damaged"), segName(seg))
		}) {
			t.Errorf("status never named the damaged segment %s: %s", filepath.Base(seg), st.raw)
		}
		if ws, _ := json.Marshal(st.m["warnings"]); !strings.Contains(string(ws), "rewindfs verify") {
			t.Errorf("status does not warn of the damage with the fix: %s", st.raw)
		}
	})

	t.Run("garbage after the last record", func(t *testing.T) {
		// One segment: then log_bytes is where its records end.
		one, files := hostileVolume(t)
		segs := segments(t, one)
		if len(segs) != 1 {
			t.Fatalf("want one segment, got %v", segs)
		}
		cp := copyTree(t, one)
		last := filepath.Join(cp, "log", filepath.Base(segs[0]))
		end := logEnd(t, cp)
		tail := garbage(3000)
		for i := range tail {
			if tail[i] == 0 {
				tail[i] = 1 // a torn write, not the preallocated zeros
			}
		}
		before, err := os.ReadFile(last)
		if err != nil {
			t.Fatal(err)
		}
		if end > int64(len(before)) {
			t.Fatalf("log_bytes %d is past the end of %s (%d bytes)", end, filepath.Base(last), len(before))
		}
		overwrite(t, last, end, tail)
		// A torn tail is not corruption: verify passes and says what the
		// next mount will cut.
		hashes := volumeHashes(t, cp)
		r := rwfs(t, "verify", cp)
		if !r.ok() || !strings.Contains(r.stdout, fmt.Sprintf("torn tail after the last record: segment %s offset %d", filepath.Base(last), end)) {
			t.Errorf("verify of a volume with a torn tail:\n%s", r)
		}
		if d := diffMaps(hashes, volumeHashes(t, cp)); d != "" {
			t.Errorf("verify changed the volume:\n%s", d)
		}

		mnt := newDir(t, "mnt")
		mountAt(t, cp, mnt)
		for name, data := range files {
			got, err := os.ReadFile(filepath.Join(mnt, name))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s after recovering from a torn tail: %d bytes, %v", name, len(got), err)
			}
		}
		unmount(t, mnt)
		after, err := os.ReadFile(last)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after[:end], before[:end]) {
			t.Errorf("recovery changed the segment before the torn tail")
		}
		cuts, _ := filepath.Glob(filepath.Join(cp, "log", "cut-*"))
		if len(cuts) != 1 {
			t.Fatalf("want one copy of the cut tail in log/, got %v", cuts)
		}
		kept, err := os.ReadFile(cuts[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(kept, tail) {
			t.Errorf("the copy of the cut tail holds %d bytes, want the %d bytes of garbage", len(kept), len(tail))
		}
		if r := rwfs(t, "verify", cp); !r.ok() {
			t.Errorf("verify after the recovery:\n%s", r)
		}
	})

	t.Run("a stray file in log/", func(t *testing.T) {
		cp := copyTree(t, vol)
		stray := filepath.Join(cp, "log", "notes.txt")
		if err := os.WriteFile(stray, []byte("mine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := rwfs(t, "verify", cp); !r.ok() {
			t.Errorf("verify with a stray file in log/:\n%s", r)
		}
		mnt := mountVolume(t, cp)
		if _, err := os.Stat(filepath.Join(mnt, "file0")); err != nil {
			t.Error(err)
		}
		unmount(t, mnt)
		if got, err := os.ReadFile(stray); err != nil || string(got) != "mine\n" {
			t.Errorf("the stray file: %q, %v", got, err)
		}
	})
}

// TestHostileMountRace starts two daemons for one volume at the same
// moment, several times: exactly one serves, the other says the volume is
// in use, in one line, and leaves no mount and no daemon behind.
func TestHostileMountRace(t *testing.T) {
	vol, files := hostileVolume(t)
	for round := 0; round < 4; round++ {
		mnts := []string{newDir(t, "mntA"), newDir(t, "mntB")}
		if round == 3 {
			mnts[1] = mnts[0] // both on one mount point
		}
		pids := make([]int, 2)
		for i := range mnts {
			i := i
			t.Cleanup(func() {
				if isMounted(mnts[i]) {
					cleanupMount(t, vol, mnts[i], &pids[i])
				}
			})
		}
		res := make([]result, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range mnts {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				res[i] = mountCmd(t, vol, mnts[i])
			}(i)
		}
		close(start)
		wg.Wait()
		won := -1
		for i, r := range res {
			if r.ok() {
				if won >= 0 {
					t.Fatalf("round %d: both mounts succeeded:\n%s\n%s", round, res[0], res[1])
				}
				won = i
			}
		}
		if won < 0 {
			t.Fatalf("round %d: neither mount succeeded:\n%s\n%s", round, res[0], res[1])
		}
		lost := 1 - won
		oneLineError(t, res[lost])
		if !regexp.MustCompile(`in use|already mounted`).MatchString(res[lost].stderr) {
			t.Errorf("round %d: the losing mount does not say the volume is in use: %s", round, res[lost].stderr)
		}
		t.Logf("round %d: mount %d won; the other said: %s", round, won, strings.TrimSpace(res[lost].stderr))
		pids[won] = daemonPID(t, mnts[won])
		if mnts[lost] != mnts[won] {
			noMountNoDaemon(t, mnts[lost])
		}
		for name, data := range files {
			got, err := os.ReadFile(filepath.Join(mnts[won], name))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("round %d: %s on the winning mount: %d bytes, %v", round, name, len(got), err)
			}
		}
		if n := len(readMountsOf(mnts[won])); n != 1 {
			t.Errorf("round %d: %d mounts at %s, want 1", round, n, mnts[won])
		}
		unmount(t, mnts[won])
	}
	if r := rwfs(t, "verify", vol); !r.ok() {
		t.Errorf("verify after the races:\n%s", r)
	}
}

// readMountsOf lists the mount table entries at exactly mnt.
func readMountsOf(mnt string) []mountEntry {
	var out []mountEntry
	for _, e := range readMounts() {
		if e.point == mnt {
			out = append(out, e)
		}
	}
	return out
}

// TestHostileUnmountBusy: unmount while a file is open, or while a process
// has its working directory in the mount, is refused with one line and
// changes nothing; the open file keeps working; once it is closed the
// unmount goes through.
func TestHostileUnmountBusy(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	p := filepath.Join(mnt, "open")
	writeFileSync(t, p, []byte("before"), 0o644)
	if err := os.Mkdir(filepath.Join(mnt, "wd"), 0o755); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	r := refuse(t, vol, "unmount", mnt)
	if !strings.Contains(r.stderr, "open") && !strings.Contains(r.stderr, "busy") {
		t.Errorf("the refusal does not say what is open: %s", r.stderr)
	}
	if !isMounted(mnt) {
		t.Fatalf("a refused unmount removed the mount")
	}
	buf := make([]byte, 6)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "before" {
		t.Errorf("the open file after a refused unmount: %q, %v", buf, err)
	}
	if _, err := f.WriteAt([]byte("after!"), 0); err != nil {
		t.Errorf("write to the open file after a refused unmount: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Errorf("fsync: %v", err)
	}
	f.Close()

	// A process whose working directory is in the mount.
	sleeper := exec.Command("sleep", "300")
	sleeper.Dir = filepath.Join(mnt, "wd")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _, _ = sleeper.Process.Wait() }()
	r = refuse(t, vol, "unmount", mnt)
	t.Logf("with a working directory inside: %s", strings.TrimSpace(r.stderr))
	if !isMounted(mnt) {
		t.Fatalf("a refused unmount removed the mount")
	}
	_ = sleeper.Process.Kill()
	_, _ = sleeper.Process.Wait()

	unmount(t, mnt)
	mountAt(t, vol, mnt)
	if got, err := os.ReadFile(p); err != nil || string(got) != "after!" {
		t.Errorf("after the unmount and a remount: %q, %v", got, err)
	}
}

// TestHostileDeadMount: the daemon is SIGKILLed. Commands on the dead mount
// point answer (they do not hang), unmount detaches it, and the volume
// mounts again with every synced file.
func TestHostileDeadMount(t *testing.T) {
	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	pid := mountAt(t, vol, mnt)
	writeFileSync(t, filepath.Join(mnt, "f"), []byte("synced"), 0o644)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(pid, 10*time.Second)
	for _, args := range [][]string{
		{"status", mnt, "--json"},
		{"rewind", mnt, "--to", "1", "--dry-run"},
		{"log", mnt, "--sync-points"},
	} {
		start := time.Now()
		r := rwfs(t, args...)
		if r.err != nil || time.Since(start) > time.Minute {
			t.Errorf("%s on a dead mount did not answer: %s", args[0], r)
		}
		t.Logf("%s on a dead mount: exit %d %s", args[0], r.code, strings.TrimSpace(r.stderr))
	}
	if st := status(t, vol); st.int("pid") == pid {
		t.Errorf("status names the dead daemon: %s", st.raw)
	}
	if r := rwfs(t, "unmount", mnt); !r.ok() {
		t.Errorf("unmount of a dead mount:\n%s", r)
	}
	if isMounted(mnt) {
		t.Errorf("the dead mount is still there after unmount")
		lazyUnmount(t, mnt)
	}
	mountAt(t, vol, mnt)
	if got, err := os.ReadFile(filepath.Join(mnt, "f")); err != nil || string(got) != "synced" {
		t.Errorf("after the remount: %q, %v", got, err)
	}
}

// TestHostileNames: names are bytes. Invalid UTF-8, control characters and
// a newline work as names, survive an unmount and a remount byte for byte,
// and `log` prints one record per line for them, in text and in JSON. A
// name can never hold a '/': the kernel splits paths there, and a path
// through a name that is not a directory fails.
func TestHostileNames(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	names := []string{"\xff\xfe", "caf\xe9", "a\x80b", "\x01ctl", "tab\there", "new\nline",
		"x\n      999  2026-01-01 00:00:00.000000  rewind   forged", "\u202eevil"}
	for i, n := range names {
		writeFileSync(t, filepath.Join(mnt, n), []byte(strconv.Itoa(i)), 0o644)
	}
	if err := os.WriteFile(filepath.Join(mnt, "plain"), []byte("p"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/b", "plain/b", "no-dir/b/c"} {
		if err := os.WriteFile(filepath.Join(mnt, p), []byte("x"), 0o644); err == nil {
			t.Errorf("creating %q succeeded", p)
		}
	}
	check := func(when string) {
		t.Helper()
		ents, err := os.ReadDir(mnt)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ents {
			if strings.Contains(e.Name(), "/") {
				t.Errorf("%s: a name with '/': %q", when, e.Name())
			}
			got = append(got, e.Name())
		}
		want := append(slices.Clone(names), "plain")
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: names %q, want %q", when, got, want)
		}
		for i, n := range names {
			if b, err := os.ReadFile(filepath.Join(mnt, n)); err != nil || string(b) != strconv.Itoa(i) {
				t.Errorf("%s: %q holds %q, %v", when, n, b, err)
			}
		}
	}
	check("mounted")
	unmount(t, mnt)
	if r := rwfs(t, "verify", vol); !r.ok() {
		t.Errorf("verify:\n%s", r)
	}

	recs := 0
	out := mustRwfs(t, "log", vol, "--json")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log --json printed a line that is not one JSON object: %q", line)
		}
		recs++
	}
	text := mustRwfs(t, "log", vol)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != recs {
		t.Errorf("log printed %d lines for %d records: a name broke a line", len(lines), recs)
	}
	for _, line := range lines {
		if strings.Contains(line, "rewind   forged") && !strings.Contains(line, `\n`) {
			t.Errorf("a name forged a line of log's output: %q", line)
		}
	}
	mountAt(t, vol, mnt)
	check("after a remount")
}

// TestHostileControlSocket sends what is not a request to the daemon's
// control socket: garbage, half a request, an unknown operation. The
// daemon answers with an error or hangs up, and keeps serving.
func TestHostileControlSocket(t *testing.T) {
	python := requireTool(t, "python3")
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	sock := filepath.Join(vol, "control.sock")
	if _, err := os.Stat(sock); err != nil {
		t.Skipf("no control socket in the volume (%v): its path may be too long", err)
	}
	for _, msg := range []string{
		"garbage\n",
		"\x00\xff\xfe\n",
		`{"op":"no-such-op"}` + "\n",
		`{"op":"rewind","target":"` + strings.Repeat("9", 5000) + `"}` + "\n",
		`{"op":"mark","name":"../../etc/passwd"}` + "\n",
		`{"op":"status"`, // no newline: the client hangs up
	} {
		r := runCmd(t, cmdOpts{timeout: 30 * time.Second, stdin: strings.NewReader(msg)},
			python, "-c", `import socket,sys
s=socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR)
sys.stdout.write(s.recv(65536).decode("utf-8","replace"))`, sock)
		if r.err != nil {
			t.Errorf("%q: %s", msg, r)
		}
		if strings.Contains(r.stdout, `"ok":true`) {
			t.Errorf("%.40q was accepted: %s", msg, r.stdout)
		}
		t.Logf("%.40q -> %s", msg, strings.TrimSpace(r.stdout))
	}
	st := status(t, mnt)
	if m, _ := st.bool("mounted"); !m {
		t.Errorf("the daemon stopped serving: %s", st.raw)
	}
	if _, err := os.ReadDir(mnt); err != nil {
		t.Errorf("the mount stopped serving: %v", err)
	}
	if out := mustRwfs(t, "log", vol, "--json"); strings.Contains(out, "passwd") {
		t.Errorf("a mark named after a path was recorded:\n%s", out)
	}
}
