package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDifferential applies one seeded random sequence of file operations to
// the mount and to a plain directory side by side. Every operation must give
// the same result (the same error or none, the same bytes read) on both; the
// two trees are compared along the way and after all handles are closed. Half
// way the volume is unmounted and mounted again. At the end every file and
// directory is fsynced and the daemon is SIGKILLed: after a remount the tree
// must be the same (what fsync acknowledged is durable), and again after a
// clean unmount, verify and remount. REWINDFS_SEED=N replays a run.
func TestDifferential(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REWINDFS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("REWINDFS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with REWINDFS_SEED=%d)", seed, seed)
	ops := 3000
	if testing.Short() {
		ops = 800
	}

	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	daemon := mountAt(t, vol, mnt)
	ref := newDir(t, "ref")
	d := &differ{
		t:    t,
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		m:    filepath.Join(mnt, "tree"),
		r:    filepath.Join(ref, "tree"),
		seed: seed,
	}
	for _, root := range []string{d.m, d.r} {
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatalf("mkdir %s: %v", root, err)
		}
	}
	defer d.closeAll()

	for i := 0; i < ops; i++ {
		d.step(i)
		if t.Failed() {
			d.dumpHistory()
			return
		}
		if (i+1)%500 == 0 {
			d.compareTrees(fmt.Sprintf("after op %d", i+1))
			if t.Failed() {
				d.dumpHistory()
				return
			}
		}
		if i+1 == ops/2 {
			d.closeAll()
			unmount(t, mnt)
			daemon = mountAt(t, vol, mnt)
			d.compareTrees(fmt.Sprintf("after a remount at op %d", i+1))
			if t.Failed() {
				d.dumpHistory()
				return
			}
		}
	}
	d.closeAll()
	d.logStats()
	d.compareTrees("after all ops")
	if t.Failed() {
		d.dumpHistory()
		return
	}

	syncTree(t, d.m)
	killDaemon(t, mnt, daemon)
	mountAt(t, vol, mnt)
	d.compareTrees("after fsync of every file and directory, SIGKILL of the daemon and a remount")

	unmount(t, mnt)
	if r := rwfs(t, "verify", vol); !r.ok() {
		t.Errorf("verify failed:\n%s", r)
	}
	mountAt(t, vol, mnt)
	d.compareTrees("after a clean unmount and remount")
}

// syncTree fsyncs every regular file and directory under root, deepest first.
func syncTree(t testing.TB, root string) {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() || de.Type().IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	slices.Reverse(paths)
	paths = append(paths, filepath.Dir(root))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			t.Fatalf("fsync %s: %v", p, err)
		}
	}
}

// differ holds the two roots and the handles open on both.
type differ struct {
	t       testing.TB
	rng     *rand.Rand
	m, r    string // the tree on the mount and on the plain directory
	seed    uint64
	handles []*handlePair
	history []string
	op      int
	stats   map[string]*[2]int // per kind of operation: [succeeded, failed] on the plain directory
}

// count keeps how often each kind of operation succeeded and failed, so a
// run shows that it exercised both paths.
func (d *differ) count(kind string, err error) {
	if d.stats == nil {
		d.stats = map[string]*[2]int{}
	}
	c := d.stats[kind]
	if c == nil {
		c = &[2]int{}
		d.stats[kind] = c
	}
	if err == nil {
		c[0]++
	} else {
		c[1]++
	}
}

func (d *differ) logStats() {
	var parts []string
	for k, c := range d.stats {
		parts = append(parts, fmt.Sprintf("%s %d/%d", k, c[0], c[1]))
	}
	slices.Sort(parts)
	d.t.Logf("operations (ok/failed): %s", strings.Join(parts, ", "))
}

type handlePair struct {
	m, r   *os.File
	path   string
	append bool
}

var (
	fileNames = []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	dirNames  = []string{"d1", "d2", "d3"}
	modes     = []os.FileMode{0o644, 0o600, 0o755, 0o700, 0o444, 0o640, 0o751, 0o604}
)

func (d *differ) logf(format string, args ...any) {
	s := fmt.Sprintf("op %d: ", d.op) + fmt.Sprintf(format, args...)
	d.history = append(d.history, s)
	if len(d.history) > 60 {
		d.history = d.history[1:]
	}
}

func (d *differ) dumpHistory() {
	d.t.Logf("seed %d; last operations:\n  %s", d.seed, strings.Join(d.history, "\n  "))
}

// entry is a path in the reference tree.
type entry struct {
	rel  string
	mode fs.FileMode
}

// entries lists the reference tree (it decides what the operations target, so
// choices never depend on the file system under test).
func (d *differ) entries() (files, dirs, all []entry) {
	dirs = append(dirs, entry{rel: ".", mode: fs.ModeDir})
	_ = filepath.WalkDir(d.r, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == d.r {
			return nil
		}
		rel, _ := filepath.Rel(d.r, p)
		e := entry{rel: rel, mode: de.Type()}
		all = append(all, e)
		switch {
		case de.IsDir():
			dirs = append(dirs, e)
		case de.Type().IsRegular():
			files = append(files, e)
		}
		return nil
	})
	return files, dirs, all
}

// emptyDirs lists the directories of the reference tree that have no entries.
func (d *differ) emptyDirs(dirs []entry) []entry {
	var out []entry
	for _, e := range dirs[1:] {
		if ents, err := os.ReadDir(filepath.Join(d.r, e.rel)); err == nil && len(ents) == 0 {
			out = append(out, e)
		}
	}
	return out
}

func (d *differ) pick(list []entry) string {
	return list[d.rng.IntN(len(list))].rel
}

// randomPath is a name from the pools in an existing directory, existing or not.
func (d *differ) randomPath(dirs []entry) string {
	dir := d.pick(dirs)
	var name string
	if d.rng.IntN(4) == 0 {
		name = dirNames[d.rng.IntN(len(dirNames))]
	} else {
		name = fileNames[d.rng.IntN(len(fileNames))]
	}
	if strings.Count(dir, "/") >= 3 {
		name = fileNames[d.rng.IntN(len(fileNames))]
	}
	return filepath.Join(dir, name)
}

// existingOr returns an entry from list most of the time, else a random path.
func (d *differ) existingOr(list, dirs []entry) string {
	if len(list) > 0 && d.rng.IntN(10) < 8 {
		return d.pick(list)
	}
	return d.randomPath(dirs)
}

// data makes n bytes: random, a repeated pattern, or zeros.
func (d *differ) data(n int) []byte {
	b := make([]byte, n)
	switch d.rng.IntN(4) {
	case 0, 1:
		var key [32]byte
		for i := range key {
			key[i] = byte(d.rng.Uint32())
		}
		_, _ = rand.NewChaCha8(key).Read(b)
	case 2:
		pat := []byte(fmt.Sprintf("op %d pattern %x|", d.op, d.rng.Uint32()))
		for i := range b {
			b[i] = pat[i%len(pat)]
		}
	}
	return b
}

// size is 1 byte to 200 KiB, mostly small.
func (d *differ) size() int {
	switch d.rng.IntN(10) {
	case 0, 1, 2, 3:
		return 1 + d.rng.IntN(4096)
	case 4, 5, 6, 7:
		return 1 + d.rng.IntN(64*1024)
	default:
		return 1 + d.rng.IntN(200*1024)
	}
}

// offset is somewhere below 1 MiB, often page aligned.
func (d *differ) offset() int64 {
	off := d.rng.Int64N(1 << 20)
	if d.rng.IntN(3) == 0 {
		off &^= 4095
	}
	return off
}

// errnoOf reduces an error to what must match across the two trees.
func errnoOf(err error) string {
	if err == nil {
		return "ok"
	}
	if errors.Is(err, io.EOF) {
		return "EOF"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		// POSIX allows either for a non-empty directory.
		if errno == syscall.EEXIST {
			errno = syscall.ENOTEMPTY
		}
		return errno.Error()
	}
	return err.Error()
}

// same applies op to both roots and checks that both give the same result.
func (d *differ) same(desc string, op func(root string) error) bool {
	d.t.Helper()
	d.logf("%s", desc)
	em := op(d.m)
	er := op(d.r)
	kind, _, _ := strings.Cut(desc, " ")
	d.count(kind, er)
	if errnoOf(em) != errnoOf(er) {
		d.t.Errorf("op %d %s: mount gave %v, plain directory gave %v", d.op, desc, em, er)
		return false
	}
	return er == nil
}

func (d *differ) step(i int) {
	d.op = i
	files, dirs, all := d.entries()
	j := d.rng.IntN(100)
	switch {
	case j < 8: // create
		p := d.randomPath(dirs)
		mode := modes[d.rng.IntN(len(modes))]
		flag := os.O_CREATE | os.O_WRONLY
		if d.rng.IntN(2) == 0 {
			flag |= os.O_TRUNC
		} else {
			flag |= os.O_EXCL
		}
		d.same(fmt.Sprintf("create %s flags %#x mode %o", p, flag, mode), func(root string) error {
			f, err := os.OpenFile(filepath.Join(root, p), flag, mode)
			if err != nil {
				return err
			}
			return f.Close()
		})
	case j < 28: // write at an offset
		p := d.existingOr(files, dirs)
		off, data := d.offset(), d.data(d.size())
		if d.rng.IntN(5) == 0 {
			if st, err := os.Stat(filepath.Join(d.r, p)); err == nil {
				off = st.Size() // extend exactly at the end
			}
		}
		d.same(fmt.Sprintf("write %s off %d len %d", p, off, len(data)), func(root string) error {
			f, err := os.OpenFile(filepath.Join(root, p), os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			_, err = f.WriteAt(data, off)
			return errors.Join(err, f.Close())
		})
	case j < 36: // read a range and compare
		p := d.existingOr(files, dirs)
		off, n := d.offset(), d.size()
		if st, err := os.Stat(filepath.Join(d.r, p)); err == nil && st.Size() > 0 && d.rng.IntN(10) < 7 {
			off = d.rng.Int64N(st.Size()) // mostly inside the file
		}
		d.compareRead(fmt.Sprintf("read %s off %d len %d", p, off, n), p, off, n)
	case j < 42: // truncate up or down
		p := d.existingOr(files, dirs)
		size := d.rng.Int64N(1200 * 1024)
		if d.rng.IntN(4) == 0 {
			size = d.rng.Int64N(5000)
		}
		d.same(fmt.Sprintf("truncate %s to %d", p, size), func(root string) error {
			return os.Truncate(filepath.Join(root, p), size)
		})
	case j < 50: // rename, also over an existing file
		src := d.existingOr(all, dirs)
		var dst string
		if d.rng.IntN(3) == 0 && len(files) > 0 {
			dst = d.pick(files)
		} else {
			dst = d.randomPath(dirs)
		}
		d.same(fmt.Sprintf("rename %s -> %s", src, dst), func(root string) error {
			// syscall.Rename, not os.Rename: os.Rename refuses to replace a directory itself.
			return syscall.Rename(filepath.Join(root, src), filepath.Join(root, dst))
		})
	case j < 54: // hard link
		src := d.existingOr(files, dirs)
		dst := d.randomPath(dirs)
		d.same(fmt.Sprintf("link %s -> %s", src, dst), func(root string) error {
			return os.Link(filepath.Join(root, src), filepath.Join(root, dst))
		})
	case j < 59: // unlink
		p := d.existingOr(all, dirs)
		d.same(fmt.Sprintf("unlink %s", p), func(root string) error {
			return syscall.Unlink(filepath.Join(root, p))
		})
	case j < 63: // mkdir
		dir := d.pick(dirs)
		if strings.Count(dir, "/") >= 2 {
			dir = "."
		}
		p := filepath.Join(dir, dirNames[d.rng.IntN(len(dirNames))])
		mode := []os.FileMode{0o755, 0o700, 0o750}[d.rng.IntN(3)]
		d.same(fmt.Sprintf("mkdir %s %o", p, mode), func(root string) error {
			return syscall.Mkdir(filepath.Join(root, p), uint32(mode))
		})
	case j < 66: // rmdir, mostly of an empty directory
		p := d.existingOr(dirs[1:], dirs)
		if empty := d.emptyDirs(dirs); len(empty) > 0 && d.rng.IntN(2) == 0 {
			p = d.pick(empty)
		}
		d.same(fmt.Sprintf("rmdir %s", p), func(root string) error {
			return syscall.Rmdir(filepath.Join(root, p))
		})
	case j < 69: // symlink; targets stay inside the tree (never absolute, never "..")
		p := d.randomPath(dirs)
		targets := []string{"a", "b", "d1/c", "nowhere", strings.Repeat("long", 40), "d2"}
		target := targets[d.rng.IntN(len(targets))]
		d.same(fmt.Sprintf("symlink %s -> %s", p, target), func(root string) error {
			return os.Symlink(target, filepath.Join(root, p))
		})
	case j < 73: // chmod
		p := d.existingOr(all, dirs)
		mode := modes[d.rng.IntN(len(modes))]
		if fi, err := os.Lstat(filepath.Join(d.r, p)); err == nil && fi.IsDir() {
			mode |= 0o700 // keep directories usable
		}
		if fi, err := os.Lstat(filepath.Join(d.r, p)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return // chmod follows symlinks; leave them alone
		}
		d.same(fmt.Sprintf("chmod %s %o", p, mode), func(root string) error {
			return os.Chmod(filepath.Join(root, p), mode)
		})
	case j < 77: // stat and compare
		p := d.existingOr(all, dirs)
		d.compareStat(p)
	case j < 81: // open a handle and keep it
		if len(d.handles) >= 4 {
			d.closeHandle(d.rng.IntN(len(d.handles)))
			return
		}
		p := d.existingOr(files, dirs)
		appendMode := d.rng.IntN(4) == 0
		flag := os.O_RDWR
		if appendMode {
			flag |= os.O_APPEND
		}
		d.logf("open %s flags %#x (handle %d)", p, flag, len(d.handles))
		fm, em := os.OpenFile(filepath.Join(d.m, p), flag, 0)
		fr, er := os.OpenFile(filepath.Join(d.r, p), flag, 0)
		d.count("open-handle", er)
		if errnoOf(em) != errnoOf(er) {
			d.t.Errorf("op %d open %s: mount gave %v, plain directory gave %v", d.op, p, em, er)
		}
		if em == nil && er == nil {
			d.handles = append(d.handles, &handlePair{m: fm, r: fr, path: p, append: appendMode})
		} else {
			closeQuiet(fm)
			closeQuiet(fr)
		}
	case j < 86: // write through a kept handle (its file may be renamed or unlinked by now)
		if len(d.handles) == 0 {
			return
		}
		k := d.rng.IntN(len(d.handles))
		h := d.handles[k]
		data := d.data(d.size())
		off := d.offset()
		d.logf("handle %d (%s, append %v) write off %d len %d", k, h.path, h.append, off, len(data))
		var nm, nr int
		var em, er error
		if h.append {
			nm, em = h.m.Write(data)
			nr, er = h.r.Write(data)
		} else {
			nm, em = h.m.WriteAt(data, off)
			nr, er = h.r.WriteAt(data, off)
		}
		d.count("handle-write", er)
		if nm != nr || errnoOf(em) != errnoOf(er) {
			d.t.Errorf("op %d handle write: mount wrote %d (%v), plain directory %d (%v)", d.op, nm, em, nr, er)
		}
	case j < 91: // read through a kept handle, and fstat it
		if len(d.handles) == 0 {
			return
		}
		k := d.rng.IntN(len(d.handles))
		d.compareHandle(k)
	case j < 94: // unlink a file while it is open, then use it
		p := d.existingOr(files, dirs)
		d.unlinkOpen(p)
	case j < 97: // fsync a file
		p := d.existingOr(files, dirs)
		d.same(fmt.Sprintf("fsync %s", p), func(root string) error {
			f, err := os.OpenFile(filepath.Join(root, p), os.O_RDONLY, 0)
			if err != nil {
				return err
			}
			return errors.Join(f.Sync(), f.Close())
		})
	default: // close a handle
		if len(d.handles) > 0 {
			d.closeHandle(d.rng.IntN(len(d.handles)))
		}
	}
}

func closeQuiet(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}

func (d *differ) compareRead(desc, p string, off int64, n int) {
	d.t.Helper()
	d.logf("%s", desc)
	read := func(root string) ([]byte, error) {
		f, err := os.Open(filepath.Join(root, p))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		buf := make([]byte, n)
		k, err := f.ReadAt(buf, off)
		return buf[:k], err
	}
	bm, em := read(d.m)
	br, er := read(d.r)
	d.count("read", er)
	if errnoOf(em) != errnoOf(er) {
		d.t.Errorf("op %d %s: mount gave %v, plain directory gave %v", d.op, desc, em, er)
		return
	}
	if !bytes.Equal(bm, br) {
		d.t.Errorf("op %d %s: mount read %d bytes (sha %.12s), plain directory %d (sha %.12s); first difference at %d",
			d.op, desc, len(bm), sha(bm), len(br), sha(br), firstDiff(bm, br))
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// statKey is what stat must agree on.
func statKey(fi os.FileInfo) string {
	st := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.IsDir():
		return fmt.Sprintf("dir %o", fi.Mode().Perm())
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Sprintf("symlink size %d", fi.Size())
	default:
		return fmt.Sprintf("%s %o size %d nlink %d", fi.Mode().Type(), fi.Mode().Perm(), fi.Size(), st.Nlink)
	}
}

func (d *differ) compareStat(p string) {
	d.t.Helper()
	d.logf("lstat %s", p)
	fm, em := os.Lstat(filepath.Join(d.m, p))
	fr, er := os.Lstat(filepath.Join(d.r, p))
	d.count("lstat", er)
	if errnoOf(em) != errnoOf(er) {
		d.t.Errorf("op %d lstat %s: mount gave %v, plain directory gave %v", d.op, p, em, er)
		return
	}
	if er == nil && statKey(fm) != statKey(fr) {
		d.t.Errorf("op %d lstat %s: mount %s, plain directory %s", d.op, p, statKey(fm), statKey(fr))
	}
}

// compareHandle reads a kept handle in full on both sides and compares fstat.
func (d *differ) compareHandle(k int) {
	d.t.Helper()
	h := d.handles[k]
	d.logf("handle %d (%s) read all + fstat", k, h.path)
	sm, em := h.m.Stat()
	sr, er := h.r.Stat()
	if errnoOf(em) != errnoOf(er) {
		d.t.Errorf("op %d fstat handle %d: mount %v, plain directory %v", d.op, k, em, er)
		return
	}
	if er == nil {
		nm, nr := sm.Sys().(*syscall.Stat_t).Nlink, sr.Sys().(*syscall.Stat_t).Nlink
		if sm.Size() != sr.Size() || nm != nr || sm.Mode() != sr.Mode() {
			d.t.Errorf("op %d fstat handle %d (%s): mount size %d nlink %d mode %v, plain directory size %d nlink %d mode %v",
				d.op, k, h.path, sm.Size(), nm, sm.Mode(), sr.Size(), nr, sr.Mode())
		}
		bm := make([]byte, sm.Size()+10)
		br := make([]byte, sr.Size()+10)
		km, em := h.m.ReadAt(bm, 0)
		kr, er := h.r.ReadAt(br, 0)
		if errnoOf(em) != errnoOf(er) || !bytes.Equal(bm[:km], br[:kr]) {
			d.t.Errorf("op %d read handle %d (%s): mount %d bytes (%v), plain directory %d bytes (%v), first difference at %d",
				d.op, k, h.path, km, em, kr, er, firstDiff(bm[:km], br[:kr]))
		}
	}
}

func (d *differ) closeHandle(k int) {
	d.t.Helper()
	h := d.handles[k]
	d.logf("close handle %d (%s)", k, h.path)
	em, er := h.m.Close(), h.r.Close()
	if errnoOf(em) != errnoOf(er) {
		d.t.Errorf("op %d close handle %d: mount %v, plain directory %v", d.op, k, em, er)
	}
	d.handles = slices.Delete(d.handles, k, k+1)
}

func (d *differ) closeAll() {
	for len(d.handles) > 0 {
		d.closeHandle(len(d.handles) - 1)
	}
}

// unlinkOpen opens p, unlinks it, then reads, writes and reads it again through
// the open descriptor, and closes it.
func (d *differ) unlinkOpen(p string) {
	d.t.Helper()
	d.logf("open+unlink+use %s", p)
	fm, em := os.OpenFile(filepath.Join(d.m, p), os.O_RDWR, 0)
	fr, er := os.OpenFile(filepath.Join(d.r, p), os.O_RDWR, 0)
	d.count("open-unlink-use", er)
	if errnoOf(em) != errnoOf(er) {
		d.t.Errorf("op %d open %s: mount %v, plain directory %v", d.op, p, em, er)
	}
	if em != nil || er != nil {
		closeQuiet(fm)
		closeQuiet(fr)
		return
	}
	d.handles = append(d.handles, &handlePair{m: fm, r: fr, path: p + " (unlinked)"})
	k := len(d.handles) - 1
	if !d.same(fmt.Sprintf("unlink %s (open as handle %d)", p, k), func(root string) error {
		return syscall.Unlink(filepath.Join(root, p))
	}) {
		return
	}
	d.compareHandle(k)
	data := d.data(d.size())
	off := d.offset()
	d.logf("handle %d (unlinked %s) write off %d len %d", k, p, off, len(data))
	nm, em := fm.WriteAt(data, off)
	nr, er := fr.WriteAt(data, off)
	if nm != nr || errnoOf(em) != errnoOf(er) {
		d.t.Errorf("op %d write to unlinked %s: mount %d (%v), plain directory %d (%v)", d.op, p, nm, em, nr, er)
	}
	d.compareHandle(k)
	if d.rng.IntN(2) == 0 {
		d.closeHandle(k) // else it stays open a while, nlink 0
	}
}

// node is what the tree comparison looks at for one path.
type node struct {
	desc string // type, mode, size, nlink, content hash or symlink target
	id   [2]uint64
}

func snapshotTree(t testing.TB, root string) (map[string]node, []string) {
	t.Helper()
	nodes := map[string]node{}
	byID := map[[2]uint64][]string{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		n := node{id: [2]uint64{st.Dev, st.Ino}}
		switch {
		case fi.IsDir():
			n.desc = fmt.Sprintf("dir %o", fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			n.desc = fmt.Sprintf("symlink -> %q size %d", target, fi.Size())
		case fi.Mode().IsRegular():
			h, err := fileHash(p)
			if err != nil {
				return err
			}
			n.desc = fmt.Sprintf("file %o size %d nlink %d sha %.16s", fi.Mode().Perm(), fi.Size(), st.Nlink, h)
			byID[n.id] = append(byID[n.id], rel)
		default:
			n.desc = "special " + fi.Mode().String()
		}
		nodes[rel] = n
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	var groups []string
	for _, paths := range byID {
		if len(paths) > 1 {
			slices.Sort(paths)
			groups = append(groups, strings.Join(paths, " = "))
		}
	}
	slices.Sort(groups)
	return nodes, groups
}

func (d *differ) compareTrees(when string) {
	d.t.Helper()
	nm, gm := snapshotTree(d.t, d.m)
	nr, gr := snapshotTree(d.t, d.r)
	want, got := map[string]string{}, map[string]string{}
	for k, v := range nr {
		want[k] = v.desc
	}
	for k, v := range nm {
		got[k] = v.desc
	}
	if diff := diffMaps(want, got); diff != "" {
		d.t.Errorf("%s: the mount differs from the plain directory (want = plain directory):\n%s", when, diff)
	}
	if !slices.Equal(gm, gr) {
		d.t.Errorf("%s: hard-link groups differ:\n  mount: %q\n  plain directory: %q", when, gm, gr)
	}
	d.t.Logf("%s: %d paths, %d hard-link groups compared", when, len(nr), len(gr))
}
