package importer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// sparseLayout is the sparse file of the test tree: data, a hole in the
// middle, data, and a hole at the end (the size is past the last data).
const (
	sparseA    = 8192
	sparseHole = 4 << 20
	sparseB    = 3 << 20 // more than one write record
	sparseSize = sparseA + sparseHole + sparseB + 2<<20
)

// buildTree makes a tree with every kind of thing the importer copies and
// says which of the optional ones the system let it make: a POSIX ACL (the
// file system must support them), a device node (a container may refuse).
func buildTree(t *testing.T, dir string) (withACL, withDevice bool) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel string, data []byte, mode os.FileMode) {
		t.Helper()
		must(os.WriteFile(filepath.Join(dir, rel), data, mode))
		must(os.Chmod(filepath.Join(dir, rel), mode)) // past the umask
	}
	must(os.MkdirAll(filepath.Join(dir, "a/deep/er"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "b"), 0o750))
	must(os.Mkdir(filepath.Join(dir, "empty"), 0o700))
	must(os.Mkdir(filepath.Join(dir, "sticky"), 0o777))
	must(os.Chmod(filepath.Join(dir, "sticky"), 0o1777|os.ModeSticky))
	must(unix.Chmod(filepath.Join(dir, "sticky"), 0o1777))
	// A set-group-ID directory: what is made in it takes its group (and a
	// directory the bit), so the importer must set both back.
	must(os.Mkdir(filepath.Join(dir, "sgid"), 0o755))
	must(os.Chown(filepath.Join(dir, "sgid"), 0, 4242))
	must(unix.Chmod(filepath.Join(dir, "sgid"), 0o2775))
	must(os.Mkdir(filepath.Join(dir, "sgid/plain"), 0o755))
	must(unix.Chmod(filepath.Join(dir, "sgid/plain"), 0o755))
	write("sgid/f", []byte("x"), 0o640)

	rnd := rand.New(rand.NewSource(1))
	big := make([]byte, 3<<20+123)
	rnd.Read(big)
	write("a/big", big, 0o644)
	write("a/deep/er/small", []byte("hello\n"), 0o600)
	write("empty-file", nil, 0o644)
	write("zero-mode", []byte("nobody may read me"), 0)
	write("setid", []byte("#!/bin/sh\n"), 0o755)
	must(unix.Chmod(filepath.Join(dir, "setid"), 0o6755))

	// The sparse file.
	f, err := os.OpenFile(filepath.Join(dir, "b/sparse"), os.O_CREATE|os.O_WRONLY, 0o600)
	must(err)
	a := bytes.Repeat([]byte{'A'}, sparseA)
	b := make([]byte, sparseB)
	rnd.Read(b)
	_, err = f.WriteAt(a, 0)
	must(err)
	_, err = f.WriteAt(b, sparseA+sparseHole)
	must(err)
	must(f.Truncate(sparseSize))
	must(f.Close())
	// A file that is only a hole.
	must(os.WriteFile(filepath.Join(dir, "hole-only"), nil, 0o644))
	must(os.Truncate(filepath.Join(dir, "hole-only"), 1<<20))

	// Hard links across directories, three names.
	write("a/h1", []byte("linked"), 0o640)
	must(os.Link(filepath.Join(dir, "a/h1"), filepath.Join(dir, "b/h2")))
	must(os.Link(filepath.Join(dir, "a/h1"), filepath.Join(dir, "a/deep/h3")))

	// Symlinks: to nothing, relative, absolute, with odd bytes.
	must(os.Symlink("does/not/exist", filepath.Join(dir, "dangling")))
	must(os.Symlink("../a/big", filepath.Join(dir, "b/rel")))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "abs")))
	must(os.Symlink("we ird\x01\xff name", filepath.Join(dir, "odd")))

	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o620))
	must(unix.Chmod(filepath.Join(dir, "fifo"), 0o620))
	withDevice = unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) == nil

	// Owners, set after the data (a chown drops set-ID bits as it would).
	must(os.Lchown(filepath.Join(dir, "a/deep/er/small"), 1234, 5678))
	must(os.Lchown(filepath.Join(dir, "dangling"), 1111, 2222))
	must(os.Lchown(filepath.Join(dir, "b"), 70, 71))

	// Extended attributes in every namespace the volume takes; the file
	// also gets them after its chown, which would drop a capability.
	for _, x := range []struct{ rel, name, val string }{
		{"a/big", "user.checksum", "abc"},
		{"a/big", "trusted.t", "\x00binary\xff"},
		{"a/big", "security.capability", string(capability())},
		{"b", "user.dir", "on a directory"},
		{".", "user.root", "on the root"},
		{"a/h1", "user.link", "shared by every name"},
		{"empty-file", "user.empty", ""},
	} {
		must(unix.Lsetxattr(filepath.Join(dir, x.rel), x.name, []byte(x.val), 0))
	}
	must(unix.Lsetxattr(filepath.Join(dir, "dangling"), "trusted.onlink", []byte("l"), 0))
	// A POSIX ACL (user 1000 may read), which the volume cannot hold.
	withACL = unix.Lsetxattr(filepath.Join(dir, "a/deep/er/small"), "system.posix_acl_access", extendedACL(), 0) == nil

	// Odd times, set last: nanoseconds, before 1970, far ahead, and the
	// directories' own (which every name made in them changed).
	times := map[string][2]time.Time{
		"a/big":           {time.Unix(946684800, 123456789), time.Unix(1234567890, 987654321)},
		"b/sparse":        {time.Unix(1, 1), time.Unix(-86400*365, 5)},
		"zero-mode":       {time.Unix(4102444800, 999999999), time.Unix(4102444800, 1)},
		"a/deep":          {time.Unix(1000000000, 42), time.Unix(1000000001, 43)},
		".":               {time.Unix(1500000000, 7), time.Unix(1500000001, 8)},
		"dangling":        {time.Unix(1600000000, 11), time.Unix(1600000001, 12)},
		"a/deep/er/small": {time.Unix(1700000000, 0), time.Unix(1700000000, 500)},
	}
	for rel, ts := range times {
		tv := []unix.Timespec{unix.NsecToTimespec(ts[0].UnixNano()), unix.NsecToTimespec(ts[1].UnixNano())}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, rel), tv, unix.AT_SYMLINK_NOFOLLOW))
	}
	return withACL, withDevice
}

// capability is a security.capability value (VFS_CAP_REVISION_2, no
// capabilities): the volume keeps it as bytes.
func capability() []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b, 0x02000000)
	return b
}

// extendedACL is a POSIX ACL in the kernel's xattr format that is more
// than the mode bits (a named user), so the file system keeps it.
func extendedACL() []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 2) // version
	entry := func(tag, perm uint16, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	entry(0x01, 6, 0xffffffff) // user::rw-
	entry(0x02, 4, 1000)       // user:1000:r--
	entry(0x04, 4, 0xffffffff) // group::r--
	entry(0x10, 4, 0xffffffff) // mask::r--
	entry(0x20, 0, 0xffffffff) // other::---
	return b
}

func importTree(t *testing.T, src string, keep bool) (string, Report) {
	t.Helper()
	vol := filepath.Join(t.TempDir(), "vol")
	var warned []string
	var total, done int64
	rep, err := Import(context.Background(), Options{
		Source: src, Volume: vol, Init: volume.InitOptions{Window: time.Hour, SegmentSize: 1 << 20},
		KeepMark: keep,
		Warn:     func(f string, a ...any) { warned = append(warned, f) },
		Started:  func(n int64) { total = n },
		Progress: func(n int64) { done += n },
	})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if total == 0 || done != total {
		t.Errorf("progress: %d of %d bytes", done, total)
	}
	if rep.ACLsSkipped != len(warned) {
		t.Errorf("%d ACLs skipped, %d warnings: %q", rep.ACLsSkipped, len(warned), warned)
	}
	return vol, rep
}

func TestImportTree(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: owners, trusted.* attributes, device nodes")
	}
	src := t.TempDir()
	withACL, withDevice := buildTree(t, src)
	before := lstatTree(t, src)
	vol, rep := importTree(t, src, true)
	// The import changes nothing in the source, not even access times.
	after := lstatTree(t, src)
	for rel, st := range before {
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			st.Atim = after[rel].Atim // readlink(2) sets a link's atime, and has no O_NOATIME
		}
		if a := after[rel]; a.Atim != st.Atim || a.Mtim != st.Mtim || a.Ctim != st.Ctim {
			t.Errorf("%s: the import changed its times: %+v, %+v, %+v -> %+v, %+v, %+v", rel, st.Atim, st.Mtim, st.Ctim, a.Atim, a.Mtim, a.Ctim)
		}
	}

	want := Report{Files: 9, Dirs: 9, Symlinks: 4, HardLinks: 2, Specials: 1, Xattrs: 8, Holes: 3,
		HoleBytes: sparseHole + 2<<20 + 1<<20}
	if withACL {
		want.ACLsSkipped = 1
	} else {
		t.Log("no POSIX ACL: the file system refused one")
	}
	if withDevice {
		want.Specials++
	} else {
		t.Log("no device node: mknod was refused")
	}
	got := Report{Files: rep.Files, Dirs: rep.Dirs, Symlinks: rep.Symlinks, HardLinks: rep.HardLinks, Specials: rep.Specials,
		Xattrs: rep.Xattrs, ACLsSkipped: rep.ACLsSkipped, Holes: rep.Holes, HoleBytes: rep.HoleBytes}
	if got != want {
		t.Errorf("report counts\n got %+v\nwant %+v", got, want)
	}
	if rep.Bytes != rep.Size-rep.HoleBytes {
		t.Errorf("%d bytes written of %d with %d in holes: holes were written", rep.Bytes, rep.Size, rep.HoleBytes)
	}
	if rep.MarkLSN == 0 || rep.BaseLSN != rep.MarkLSN || rep.HeadLSN <= rep.MarkLSN {
		t.Errorf("mark LSN %d, base LSN %d, head LSN %d: the import point should be the base", rep.MarkLSN, rep.BaseLSN, rep.HeadLSN)
	}
	if ents, _ := os.ReadDir(filepath.Dir(vol)); len(ents) != 1 {
		t.Errorf("beside the volume: %v", ents)
	}

	v, err := volume.Open(vol, volume.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	compareTree(t, src, before, v)
	// The data is in the base image, and the sparse file's holes are
	// holes there too.
	if st := v.Status(); st.BaseLSN != rep.MarkLSN {
		t.Errorf("base LSN %d, want the mark's %d", st.BaseLSN, rep.MarkLSN)
	}
	ino := lookup(t, v, "b/sparse")
	var pst unix.Stat_t
	if err := unix.Stat(filepath.Join(vol, baseimage.Dir, baseimage.PagesDir, pageName(ino)), &pst); err != nil {
		t.Fatalf("the sparse file's page file in the base image: %v", err)
	}
	if used := pst.Blocks * 512; used > sparseA+sparseB+1<<20 {
		t.Errorf("the sparse file takes %d bytes in the base image: its %d bytes of holes were written", used, sparseHole)
	}
	v.Close()
}

// pageName is the name of an inode's page file in the base image.
func pageName(ino uint64) string { return fmt.Sprintf("%016x", ino) }

// lookup finds rel in the volume's live state.
func lookup(t *testing.T, v *volume.Volume, rel string) uint64 {
	t.Helper()
	ino := fsstate.RootIno
	err := v.View(func(st *fsstate.State) error {
		for _, name := range strings.Split(rel, "/") {
			next, ok := st.Inodes[ino].Entries[name]
			if !ok {
				return errors.New(rel + ": not in the volume")
			}
			ino = next
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

// compareTree checks that the volume holds exactly the tree at src: the
// same names, types, modes, owners, sizes, times, link counts (and one
// inode for every name of a hard link), symlink targets, device numbers,
// extended attributes (but POSIX ACLs) and data.
func compareTree(t *testing.T, src string, before map[string]unix.Stat_t, v *volume.Volume) {
	t.Helper()
	byIno := map[uint64]uint64{} // source inode → volume inode
	var walk func(rel string, ino uint64)
	walk = func(rel string, ino uint64) {
		p := filepath.Join(src, rel)
		st, ok := before[rel]
		if !ok {
			t.Fatalf("%s: not in the source", rel)
		}
		var n fsstate.Inode
		var names []string
		_ = v.View(func(s *fsstate.State) error {
			n = *s.Inodes[ino]
			for name := range n.Entries {
				names = append(names, name)
			}
			n.Xattrs = map[string][]byte{}
			for k, x := range s.Inodes[ino].Xattrs {
				n.Xattrs[k] = x
			}
			return nil
		})
		if prev, ok := byIno[st.Ino]; ok && prev != ino {
			t.Errorf("%s: volume inode %d, another name of it is inode %d", rel, ino, prev)
		}
		byIno[st.Ino] = ino
		check := func(what string, got, want any) {
			t.Helper()
			if got != want {
				t.Errorf("%s: %s %v, want %v", rel, what, got, want)
			}
		}
		check("mode", n.Mode, st.Mode)
		check("uid", n.UID, st.Uid)
		check("gid", n.GID, st.Gid)
		check("nlink", n.Nlink, uint32(st.Nlink))
		check("atime", n.Atime, st.Atim.Nano())
		check("mtime", n.Mtime, st.Mtim.Nano())
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			check("size", int64(n.Size), st.Size)
		}
		check("rdev", uint64(n.Rdev), st.Rdev)
		want := sourceXattrs(t, p)
		if len(n.Xattrs) != len(want) {
			t.Errorf("%s: xattrs %q, want %q", rel, keys(n.Xattrs), keys(want))
		}
		for k, x := range want {
			if !bytes.Equal(n.Xattrs[k], x) {
				t.Errorf("%s: xattr %s = %q, want %q", rel, k, n.Xattrs[k], x)
			}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			check("target", n.Target, target)
		case unix.S_IFREG:
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want)+1)
			k, err := v.Read(ino, 0, got)
			if err != nil {
				t.Fatalf("%s: read from the volume: %v", rel, err)
			}
			if !bytes.Equal(got[:k], want) {
				t.Errorf("%s: %d bytes in the volume differ from the %d of the source", rel, k, len(want))
			}
		case unix.S_IFDIR:
			srcNames, err := readNames(p)
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(names)
			if strings.Join(names, "/") != strings.Join(srcNames, "/") {
				t.Errorf("%s: entries %q, want %q", rel, names, srcNames)
			}
			for _, name := range srcNames {
				walk(filepath.Join(rel, name), n.Entries[name])
			}
		}
	}
	walk(".", fsstate.RootIno)
}

// lstatTree returns the lstat of every name under dir, by relative path
// ("." for dir), without reading any file.
func lstatTree(t *testing.T, dir string) map[string]unix.Stat_t {
	t.Helper()
	out := map[string]unix.Stat_t{}
	es, _, err := scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		out[e.rel] = e.st
	}
	return out
}

func sourceXattrs(t *testing.T, p string) map[string][]byte {
	names, err := listXattrs(p)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		if strings.HasPrefix(n, "system.") {
			continue
		}
		v, err := getXattr(p, n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = v
	}
	return out
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestImportPointStays checks that the mark at the import point is a
// target after later writes and after compaction far past the window.
func TestImportPointStays(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "db"), []byte("imported"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol, rep := importTree(t, src, true)

	later := func() time.Time { return time.Now().Add(48 * time.Hour) }
	v, err := volume.Open(vol, volume.Options{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	ino := lookup(t, v, "db")
	if _, err := v.Write(ino, 0, []byte("CHANGED!")); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Mark("after", false); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Compact(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	target, err := lsn.ParseTarget(rep.Mark, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, err = volume.Open(vol, volume.Options{At: &target, Now: later})
	if err != nil {
		t.Fatalf("rewind to the import mark after later writes and compaction: %v", err)
	}
	defer v.Close()
	got := make([]byte, 16)
	n, err := v.Read(lookup(t, v, "db"), 0, got)
	if err != nil || string(got[:n]) != "imported" {
		t.Errorf("after the rewind to %q: %q, %v; want the imported bytes", rep.Mark, got[:n], err)
	}
}

// TestImportFailureLeavesNothing checks that a failed or interrupted
// import leaves no volume and no temporary directory, and that the error
// names the file.
func TestImportFailureLeavesNothing(t *testing.T) {
	src := t.TempDir()
	for i := range 20 {
		if err := os.WriteFile(filepath.Join(src, "f"+string(rune('a'+i))), bytes.Repeat([]byte{1}, 100000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A time the volume cannot hold (after 2262) fails the import midway.
	bad := filepath.Join(src, "fz-too-late")
	if err := os.WriteFile(bad, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := unix.Timespec{Sec: 10_000_000_000}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, bad, []unix.Timespec{future, future}, 0); err != nil {
		t.Skipf("cannot set a time past 2262 here: %v", err)
	}

	parent := t.TempDir()
	vol := filepath.Join(parent, "vol")
	small := volume.InitOptions{SegmentSize: 1 << 20}
	// What an import killed with SIGKILL left (pid 999999999 is not alive)
	// goes; what a live import is building (a live pid: this test's parent) stays.
	stale := filepath.Join(parent, ".vol.importing-999999999")
	live := filepath.Join(parent, fmt.Sprintf(".vol.importing-%d", os.Getppid()))
	for _, d := range []string{stale, live} {
		if err := os.MkdirAll(filepath.Join(d, "log"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	removeStale(vol)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a dead import's directory stayed: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live import's directory went: %v", err)
	}
	if err := os.RemoveAll(live); err != nil {
		t.Fatal(err)
	}
	_, err := Import(context.Background(), Options{Source: src, Volume: vol, Init: small})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "touch") {
		t.Errorf("import of a tree with a time past 2262: %v, want an error naming %s and the fix", err, bad)
	}
	assertEmpty(t, parent)

	// An empty directory stays, empty.
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(context.Background(), Options{Source: src, Volume: vol, Init: small}); err == nil {
		t.Error("the failing import into an empty directory succeeded")
	}
	if ents, err := os.ReadDir(vol); err != nil || len(ents) != 0 {
		t.Errorf("the empty directory after a failed import: %v, %v", ents, err)
	}
	if err := os.Remove(vol); err != nil {
		t.Fatal(err)
	}

	// Interrupted (Ctrl-C) once the copy has begun.
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = Import(ctx, Options{Source: src, Volume: vol, Init: small, Progress: func(int64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted import: %v, want context.Canceled", err)
	}
	assertEmpty(t, parent)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind after a failed import: %s", filepath.Join(dir, e.Name()))
	}
}

// TestImportRefuses checks the paths and the running-database check.
func TestImportRefuses(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(src, "f")
	for _, c := range []struct{ name, src, vol, want string }{
		{"source missing", filepath.Join(src, "nope"), filepath.Join(t.TempDir(), "v"), "no such file"},
		{"source a file", file, filepath.Join(t.TempDir(), "v"), "not a directory"},
		{"volume not empty", src, full, "not empty"},
		{"volume a file", src, file, "not a directory"},
		{"volume inside source", src, filepath.Join(src, "sub", "..", "v"), "inside the directory to import"},
		{"source inside volume", src, filepath.Dir(src), "not empty"},
		{"volume's parent missing", src, filepath.Join(t.TempDir(), "a", "v"), "parent directory"},
		{"source is the volume", src, src, "not empty"},
	} {
		_, err := Import(context.Background(), Options{Source: c.src, Volume: c.vol})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	if _, err := Import(context.Background(), Options{Source: src, Volume: filepath.Join(t.TempDir(), "v"), Mark: "5m"}); err == nil {
		t.Error("a mark name that is a duration was taken")
	}
	// A source inside an empty directory that is to be the volume.
	outer := t.TempDir()
	inner := filepath.Join(outer, "data")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if !within(inner, outer) || within(outer, inner) || within("/a/bc", "/a/b") {
		t.Error("within is wrong")
	}
	// A lock file naming a dead process is stale: no refusal.
	if err := os.WriteFile(filepath.Join(src, "postmaster.pid"), []byte("999999999\n/x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	es, _, err := scan(src)
	if err != nil {
		t.Fatal(err)
	}
	if pid, _ := runningPostgres(es); pid != 0 {
		t.Errorf("a stale postmaster.pid was taken for pid %d", pid)
	}
}
