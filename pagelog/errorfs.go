package pagelog

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// Op is a kind of FS call that ErrorFS counts and can make fail.
type Op int

// The operations ErrorFS knows. OpAny matches every operation that changes
// something (all but reads and directory listings).
const (
	OpAny      Op = iota
	OpCreate      // OpenFile with O_CREATE
	OpWrite       // File.WriteAt
	OpSync        // File.Sync
	OpDatasync    // File.Datasync
	OpTruncate    // File.Truncate
	OpRename      // FS.Rename
	OpRemove      // FS.Remove
	OpSyncDir     // FS.SyncDir
	numOps
)

var opNames = [numOps]string{"any", "create", "write", "fsync", "fdatasync", "truncate", "rename", "remove", "syncdir"}

func (o Op) String() string {
	if o >= 0 && o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Fault describes one injected failure: the Nth (counting from 0) call of
// kind Op made after the fault was added fails with Err.
type Fault struct {
	Op  Op
	Nth int
	Err error
	// Short makes a failing write first write the first half of its
	// bytes, as a disk that filled up in the middle of a write would.
	Short bool
	// Crash makes every later changing call fail with Err too, as if the
	// machine had stopped; pair it with MemFS.Crash.
	Crash bool
	// Under, if set, limits the fault to calls on names that contain it
	// (a directory, say "/base/"): the calls of background work elsewhere
	// (a spare segment being zeroed) then do not move the count.
	Under string
	// Except, if set, leaves calls on names that contain it out of the
	// count (".idx": the index files a background goroutine writes).
	Except string
}

// ErrorFS wraps an FS, counts the calls that change something and fails
// the ones its faults name. It is safe for concurrent use.
type ErrorFS struct {
	fs     FS
	mu     sync.Mutex
	counts [numOps]int
	faults []*faultState
	dead   error // set once a Crash fault fired
	hook   func(Op, string)
}

type faultState struct {
	Fault
	seen  int
	fired bool
}

// NewErrorFS returns an ErrorFS over fs with no faults.
func NewErrorFS(fs FS) *ErrorFS { return &ErrorFS{fs: fs} }

// Inject adds a fault. Its Nth counts calls from now on.
func (e *ErrorFS) Inject(f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &faultState{Fault: f})
}

// SetHook sets a function called before every counted call, outside any
// lock, with the kind of call and the file or directory. Tests use it to
// hold a call back, for example to make an fdatasync slow.
func (e *ErrorFS) SetHook(hook func(op Op, name string)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hook = hook
}

// Count returns how many calls of kind op were made (OpAny: of all kinds).
func (e *ErrorFS) Count(op Op) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[op]
}

// Fired reports whether any fault has fired.
func (e *ErrorFS) Fired() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range e.faults {
		if f.fired {
			return true
		}
	}
	return e.dead != nil
}

// before counts a call and returns the fault to apply to it, if any.
func (e *ErrorFS) before(op Op, name string) *Fault {
	e.mu.Lock()
	hook := e.hook
	e.mu.Unlock()
	if hook != nil {
		hook(op, name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts[op]++
	e.counts[OpAny]++
	if e.dead != nil {
		return &Fault{Op: op, Err: e.dead}
	}
	for _, f := range e.faults {
		if f.fired || (f.Op != op && f.Op != OpAny) || (f.Under != "" && !strings.Contains(name, f.Under)) ||
			(f.Except != "" && strings.Contains(name, f.Except)) {
			continue
		}
		f.seen++
		if f.seen-1 == f.Nth {
			f.fired = true
			if f.Crash {
				e.dead = f.Err
			}
			return &f.Fault
		}
	}
	return nil
}

func injected(op Op, name string, err error) error {
	return &os.PathError{Op: op.String(), Path: name, Err: err}
}

// OpenFile implements FS.
func (e *ErrorFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		if f := e.before(OpCreate, name); f != nil {
			return nil, injected(OpCreate, name, f.Err)
		}
	}
	file, err := e.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, f: file, name: name}, nil
}

// ReadDir implements FS.
func (e *ErrorFS) ReadDir(dir string) ([]string, error) { return e.fs.ReadDir(dir) }

// Rename implements FS.
func (e *ErrorFS) Rename(oldname, newname string) error {
	if f := e.before(OpRename, oldname); f != nil {
		return injected(OpRename, oldname, f.Err)
	}
	return e.fs.Rename(oldname, newname)
}

// Remove implements FS.
func (e *ErrorFS) Remove(name string) error {
	if f := e.before(OpRemove, name); f != nil {
		return injected(OpRemove, name, f.Err)
	}
	return e.fs.Remove(name)
}

// Links implements FS.
func (e *ErrorFS) Links(name string) (int, error) { return e.fs.Links(name) }

// MkdirAll implements FS.
func (e *ErrorFS) MkdirAll(dir string, perm os.FileMode) error { return e.fs.MkdirAll(dir, perm) }

// SyncDir implements FS.
func (e *ErrorFS) SyncDir(dir string) error {
	if f := e.before(OpSyncDir, dir); f != nil {
		return injected(OpSyncDir, dir, f.Err)
	}
	return e.fs.SyncDir(dir)
}

type errorFile struct {
	fs   *ErrorFS
	f    File
	name string
}

func (f *errorFile) ReadAt(b []byte, off int64) (int, error) { return f.f.ReadAt(b, off) }

func (f *errorFile) ReadOnce(b []byte, off int64) (int, error) { return f.f.ReadOnce(b, off) }

func (f *errorFile) ReadDirect(b []byte, off int64) (int, error) { return f.f.ReadDirect(b, off) }

func (f *errorFile) WriteAt(b []byte, off int64) (int, error) {
	if ft := f.fs.before(OpWrite, f.name); ft != nil {
		n := 0
		if ft.Short && len(b) > 1 {
			n, _ = f.f.WriteAt(b[:len(b)/2], off)
		}
		return n, injected(OpWrite, f.name, ft.Err)
	}
	return f.f.WriteAt(b, off)
}

func (f *errorFile) Sync() error {
	if ft := f.fs.before(OpSync, f.name); ft != nil {
		return injected(OpSync, f.name, ft.Err)
	}
	return f.f.Sync()
}

func (f *errorFile) Datasync() error {
	if ft := f.fs.before(OpDatasync, f.name); ft != nil {
		return injected(OpDatasync, f.name, ft.Err)
	}
	return f.f.Datasync()
}

func (f *errorFile) Truncate(size int64) error {
	if ft := f.fs.before(OpTruncate, f.name); ft != nil {
		return injected(OpTruncate, f.name, ft.Err)
	}
	return f.f.Truncate(size)
}

func (f *errorFile) Allocate(size int64) error { return f.f.Allocate(size) }

func (f *errorFile) Size() (int64, error) { return f.f.Size() }

func (f *errorFile) DropCache(off, n int64) { f.f.DropCache(off, n) }

func (f *errorFile) StartWriteback(off, n int64) { f.f.StartWriteback(off, n) }

func (f *errorFile) Close() error { return f.f.Close() }

var (
	_ FS   = (*ErrorFS)(nil)
	_ File = (*errorFile)(nil)
)
