package pagelog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rewindfs/rewindfs/internal/pagecache"
)

// Disk is the FS of the real disk, through the os package and fdatasync.
var Disk FS = diskFS{}

type diskFS struct{}

func (diskFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &diskFile{File: f, fd: int(f.Fd())}, nil
}

func (diskFS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names, nil
}

func (diskFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (diskFS) Remove(name string) error { return os.Remove(name) }

func (diskFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (diskFS) Links(name string) (int, error) {
	var st unix.Stat_t
	if err := unix.Lstat(name, &st); err != nil {
		return 0, &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	return int(st.Nlink), nil
}

func (diskFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// diskFile is an *os.File with fdatasync. The descriptor is taken once at
// open; os.File keeps regular files in blocking mode, so it stays valid
// until Close.
type diskFile struct {
	*os.File
	fd     int
	noOnce atomic.Bool // the file system refused ReadOnce's uncached reads

	mu     sync.Mutex
	direct directTwin // opened with O_DIRECT at the first ReadDirect
	dirErr error      // why direct reads cannot be made; then ReadDirect never tries again
	closed bool
}

// directTwin is what ReadDirect reads through: the file opened a second
// time, with O_DIRECT. Tests put a file in its place that refuses reads
// the way some file systems do.
type directTwin interface {
	io.ReaderAt
	io.Closer
}

func (f *diskFile) Datasync() error {
	for {
		err := unix.Fdatasync(f.fd)
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

func (f *diskFile) Allocate(size int64) error {
	for {
		err := unix.Fallocate(f.fd, 0, 0, size)
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

func (f *diskFile) DropCache(off, n int64) { pagecache.DropRange(f.File, off, n) }

// StartWriteback goes through the file's RawConn, which keeps the
// descriptor from being closed (and its number reused) during the call.
// An error (a closed file, a file system without the call) only loses the
// head start: the sync that follows writes the range anyway.
func (f *diskFile) StartWriteback(off, n int64) {
	if rc, err := f.File.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
		})
	}
}

// ReadOnce falls back to ReadAt for good once the kernel refuses the
// uncached read.
func (f *diskFile) ReadOnce(b []byte, off int64) (int, error) {
	if !f.noOnce.Load() {
		n, err := pagecache.ReadOnce(f.File, b, off)
		if !errors.Is(err, errors.ErrUnsupported) {
			return n, err
		}
		f.noOnce.Store(true)
	}
	return f.ReadAt(b, off)
}

// ReadDirect opens the file for direct reads the first time it is called.
// Whatever keeps that from working (no O_DIRECT, no /proc, a file system
// that opens but refuses direct reads with EINVAL) says ErrUnsupported,
// so that the caller reads through the page cache instead of failing.
func (f *diskFile) ReadDirect(b []byte, off int64) (int, error) {
	if !pagecache.Aligned(b, off) {
		return 0, fmt.Errorf("pagelog: %s: direct read of %d bytes at %d: not aligned: %w", f.Name(), len(b), off, errors.ErrUnsupported)
	}
	f.mu.Lock()
	if f.direct == nil && f.dirErr == nil {
		if f.closed {
			f.dirErr = os.ErrClosed
		} else if d, err := pagecache.OpenDirect(f.File); err == nil {
			f.direct = d
		} else if errors.Is(err, errors.ErrUnsupported) {
			f.dirErr = err
		} else {
			f.dirErr = fmt.Errorf("pagelog: %s: open for direct reads: %w: %w", f.Name(), err, errors.ErrUnsupported)
		}
	}
	d, err := f.direct, f.dirErr
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := d.ReadAt(b, off)
	if errors.Is(err, syscall.EINVAL) {
		err = fmt.Errorf("pagelog: %s: direct read: %w: %w", f.Name(), err, errors.ErrUnsupported)
		f.mu.Lock()
		f.dirErr = err
		f.mu.Unlock()
		return 0, err
	}
	return n, err
}

// directErr says why direct reads of the file cannot be made, or nil.
func (f *diskFile) directErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dirErr
}

// Close closes the file and its direct twin.
func (f *diskFile) Close() error {
	f.mu.Lock()
	f.closed = true
	d := f.direct
	f.mu.Unlock()
	if d != nil {
		d.Close()
	}
	return f.File.Close()
}

func (f *diskFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

var _ File = (*diskFile)(nil)
