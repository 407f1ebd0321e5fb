package pagelog

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// MemFS is an FS in memory that can crash. For every file it keeps the
// content as the running program sees it and the content a crash would
// leave: what was last synced. Directory entries (creating, renaming and
// removing files) likewise only survive a crash once the directory was
// synced with SyncDir. Directories themselves are durable as soon as
// MkdirAll returns.
//
// Crash throws away everything not synced; CrashRandom keeps, for every
// file, a random prefix of its unsynced writes (the last one possibly torn)
// and a random prefix of the unsynced directory changes, which is what a
// real disk may do. File handles opened before a crash fail afterwards.
type MemFS struct {
	mu      sync.Mutex
	gen     int                 // crash generation; older handles are dead
	dirs    map[string]bool     // existing directories
	names   map[string]*memNode // the namespace as the program sees it
	durable map[string]*memNode // the namespace a crash would leave
	pending []nsOp              // namespace changes not yet durable, in order
}

// memNode is one file's content.
type memNode struct {
	data    []byte   // current content
	synced  []byte   // content after a crash
	pending []dataOp // writes and truncates since the last sync, in order

	writeback [][2]int64 // ranges StartWriteback was asked for
}

// dataOp is an unsynced change of a file: a write of b at off, or a
// truncate to size when b is nil.
type dataOp struct {
	off  int64
	b    []byte
	size int64
}

// nsOp is an unsynced change of the namespace: name now refers to node
// (node nil: name was removed).
type nsOp struct {
	name string
	node *memNode
}

// NewMemFS returns an empty MemFS whose root directory "/" exists.
func NewMemFS() *MemFS {
	return &MemFS{
		dirs:    map[string]bool{"/": true, ".": true},
		names:   map[string]*memNode{},
		durable: map[string]*memNode{},
	}
}

func memPathErr(op, name string, err error) error {
	return &os.PathError{Op: op, Path: name, Err: err}
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[filepath.Dir(name)] {
		return nil, memPathErr("open", name, syscall.ENOENT)
	}
	if m.dirs[name] {
		return nil, memPathErr("open", name, syscall.EISDIR)
	}
	n, ok := m.names[name]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, memPathErr("open", name, syscall.EEXIST)
	case !ok && flag&os.O_CREATE == 0:
		return nil, memPathErr("open", name, syscall.ENOENT)
	case !ok:
		n = &memNode{}
		m.setName(name, n)
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if flag&os.O_TRUNC != 0 && writable && len(n.data) > 0 {
		n.truncate(0)
	}
	return &memFile{fs: m, node: n, name: name, gen: m.gen, writable: writable}, nil
}

// setName changes the namespace and remembers the change until SyncDir.
func (m *MemFS) setName(name string, n *memNode) {
	if n == nil {
		delete(m.names, name)
	} else {
		m.names[name] = n
	}
	m.pending = append(m.pending, nsOp{name: name, node: n})
}

// Links implements FS: MemFS has no hard links, so a file has one name.
func (m *MemFS) Links(name string) (int, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[name] == nil {
		return 0, memPathErr("lstat", name, syscall.ENOENT)
	}
	return 1, nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return nil, memPathErr("readdir", dir, syscall.ENOENT)
	}
	var names []string
	for name := range m.names {
		if filepath.Dir(name) == dir {
			names = append(names, filepath.Base(name))
		}
	}
	for d := range m.dirs {
		if d != dir && filepath.Dir(d) == dir {
			names = append(names, filepath.Base(d))
		}
	}
	slices.Sort(names)
	return names, nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.names[oldname]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOENT}
	}
	if !m.dirs[filepath.Dir(newname)] {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOENT}
	}
	if oldname == newname {
		return nil
	}
	m.setName(newname, n)
	m.setName(oldname, nil)
	return nil
}

// Remove implements FS. It removes files only.
func (m *MemFS) Remove(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.names[name]; !ok {
		return memPathErr("remove", name, syscall.ENOENT)
	}
	m.setName(name, nil)
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := dir; !m.dirs[d]; d = filepath.Dir(d) {
		if _, ok := m.names[d]; ok {
			return memPathErr("mkdir", d, syscall.ENOTDIR)
		}
		m.dirs[d] = true
	}
	return nil
}

// SyncDir implements FS: the pending namespace changes of entries in dir
// become durable, in the order they were made.
func (m *MemFS) SyncDir(dir string) error {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return memPathErr("syncdir", dir, syscall.ENOENT)
	}
	rest := m.pending[:0]
	for _, op := range m.pending {
		if filepath.Dir(op.name) == dir {
			m.applyDurable(op)
		} else {
			rest = append(rest, op)
		}
	}
	clear(m.pending[len(rest):])
	m.pending = rest
	return nil
}

func (m *MemFS) applyDurable(op nsOp) {
	if op.node == nil {
		delete(m.durable, op.name)
	} else {
		m.durable[op.name] = op.node
	}
}

// Crash simulates a power cut: every file goes back to its synced content
// and the namespace to what was last synced with SyncDir. Handles opened
// before the crash fail from now on.
func (m *MemFS) Crash() {
	m.crash(nil)
}

// CrashRandom simulates a power cut in which the disk had written some of
// the unsynced changes: a random prefix of the unsynced namespace changes,
// and for each file a random prefix of its unsynced writes, of which the
// last may be torn at a random byte. The same rng state gives the same
// crash.
func (m *MemFS) CrashRandom(rng *rand.Rand) {
	m.crash(rng)
}

func (m *MemFS) crash(rng *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rng != nil {
		keep := rng.IntN(len(m.pending) + 1)
		for _, op := range m.pending[:keep] {
			m.applyDurable(op)
		}
		// Visit the files in name order so that the rng is used in the
		// same order every time.
		names := make([]string, 0, len(m.names))
		for name := range m.names {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			m.names[name].persistPrefix(rng)
		}
	}
	m.pending = nil
	m.names = make(map[string]*memNode, len(m.durable))
	for name, n := range m.durable {
		n.data = slices.Clone(n.synced)
		n.pending = nil
		m.names[name] = n
	}
	m.gen++
}

// persistPrefix makes a random prefix of the unsynced changes durable, the
// last of them possibly only in part.
func (n *memNode) persistPrefix(rng *rand.Rand) {
	if len(n.pending) == 0 {
		return
	}
	keep := rng.IntN(len(n.pending) + 1)
	for i, op := range n.pending[:keep] {
		if op.b == nil {
			n.synced = resize(n.synced, op.size)
			continue
		}
		b := op.b
		if i == keep-1 && len(b) > 0 {
			b = b[:rng.IntN(len(b)+1)]
		}
		n.synced = writeInto(n.synced, op.off, b)
	}
}

// ReadFile returns a copy of the current content of a file. It is meant
// for tests.
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.names[name]
	if !ok {
		return nil, memPathErr("open", name, syscall.ENOENT)
	}
	return slices.Clone(n.data), nil
}

// String lists the files and their sizes, for test failures.
func (m *MemFS) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	names := make([]string, 0, len(m.names))
	for name := range m.names {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		n := m.names[name]
		fmt.Fprintf(&b, "%s: %d bytes (%d synced)\n", name, len(n.data), len(n.synced))
	}
	return b.String()
}

func (n *memNode) truncate(size int64) {
	n.data = resize(n.data, size)
	n.pending = append(n.pending, dataOp{size: size})
}

func resize(b []byte, size int64) []byte {
	if size <= int64(len(b)) {
		return b[:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}

func writeInto(dst []byte, off int64, b []byte) []byte {
	if end := off + int64(len(b)); end > int64(len(dst)) {
		dst = resize(dst, end)
	}
	copy(dst[off:], b)
	return dst
}

// memFile is an open file of a MemFS.
type memFile struct {
	fs       *MemFS
	node     *memNode
	name     string
	gen      int
	writable bool
	closed   bool
}

// check reports why the handle cannot be used; the caller holds fs.mu.
func (f *memFile) check(op string, write bool) error {
	switch {
	case f.closed:
		return memPathErr(op, f.name, os.ErrClosed)
	case f.gen != f.fs.gen:
		return memPathErr(op, f.name, fmt.Errorf("file handle from before a crash: %w", os.ErrClosed))
	case write && !f.writable:
		return memPathErr(op, f.name, syscall.EBADF)
	}
	return nil
}

// ReadOnce is ReadAt: a MemFS has no page cache.
func (f *memFile) ReadOnce(b []byte, off int64) (int, error) { return f.ReadAt(b, off) }

// ReadDirect is ReadAt: a MemFS has no page cache to keep out of.
func (f *memFile) ReadDirect(b []byte, off int64) (int, error) { return f.ReadAt(b, off) }

func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, memPathErr("read", f.name, syscall.EINVAL)
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(b, f.node.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, memPathErr("write", f.name, syscall.EINVAL)
	}
	f.node.data = writeInto(f.node.data, off, b)
	f.node.pending = append(f.node.pending, dataOp{off: off, b: slices.Clone(b)})
	return len(b), nil
}

func (f *memFile) Sync() error { return f.sync("fsync") }

func (f *memFile) Datasync() error { return f.sync("fdatasync") }

func (f *memFile) sync(op string) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(op, false); err != nil {
		return err
	}
	f.node.synced = slices.Clone(f.node.data)
	f.node.pending = nil
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return memPathErr("truncate", f.name, syscall.EINVAL)
	}
	f.node.truncate(size)
	return nil
}

// Allocate extends the file with zeros, as an unsynced change like a write.
func (f *memFile) Allocate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("fallocate", true); err != nil {
		return err
	}
	if size > int64(len(f.node.data)) {
		f.node.truncate(size)
	}
	return nil
}

// DropCache does nothing: a MemFS has no page cache.
func (f *memFile) DropCache(off, n int64) {}

// StartWriteback changes nothing (a crash still keeps only what was
// synced); it notes the range for WritebackRanges.
func (f *memFile) StartWriteback(off, n int64) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.node.writeback = append(f.node.writeback, [2]int64{off, n})
}

// WritebackRanges returns the ranges (offset, length) StartWriteback was
// asked for on the file at path, in order.
func (fs *MemFS) WritebackRanges(path string) [][2]int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if n := fs.names[path]; n != nil {
		return slices.Clone(n.writeback)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	return int64(len(f.node.data)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return memPathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}

var (
	_ FS   = (*MemFS)(nil)
	_ File = (*memFile)(nil)
)
