package pagelog

import (
	"io"
	"os"
)

// FS is the file system seam of the log: only the calls pagelog makes.
// It exists so that tests can make any write, sync or rename fail (ErrorFS)
// and can crash the machine between any two calls (MemFS). Paths are
// joined with filepath.Join by the log; implementations take them as given.
type FS interface {
	// OpenFile opens a file with the os.OpenFile flags O_RDONLY, O_RDWR,
	// O_CREATE, O_EXCL and O_TRUNC.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// ReadDir returns the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// Rename renames a file, replacing newname if it exists.
	Rename(oldname, newname string) error
	// Remove removes a file.
	Remove(name string) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir makes the directory entries of dir durable: files created,
	// renamed or removed in dir before the call survive a crash after it.
	SyncDir(dir string) error
	// Links returns how many names (hard links) the file has. A base image
	// page file shared with a clone has two or more, and is copied before
	// it is written (baseimage's OpenPages).
	Links(name string) (int, error)
}

// File is an open file of an FS. Writes are positional; there is no file
// offset.
type File interface {
	io.ReaderAt
	io.WriterAt
	// ReadOnce reads like ReadAt, for a caller that reads the file once
	// from front to back in large pieces: the pages the read brings into
	// the page cache leave it once copied, and pages that were already
	// there stay. Where the kernel or the file system cannot do that, it
	// is ReadAt.
	ReadOnce(b []byte, off int64) (int, error)
	// ReadDirect reads like ReadAt, from the disk straight into b, leaving
	// nothing in the page cache (O_DIRECT), for reads of data that is
	// synced. b's address, off and len(b) must be multiples of
	// pagecache.DirectAlign. Where the file system cannot, it reads
	// nothing and returns an error wrapping errors.ErrUnsupported.
	ReadDirect(b []byte, off int64) (int, error)
	// Sync makes the content and all metadata of the file durable (fsync).
	Sync() error
	// Datasync makes the content durable, and the metadata needed to read
	// it back, such as the size (fdatasync).
	Datasync() error
	// Truncate changes the size of the file.
	Truncate(size int64) error
	// Allocate reserves disk space so that the file is at least size bytes
	// long, reading as zeros past the old end (fallocate mode 0). Writing
	// into reserved space later changes no size, which makes fdatasync
	// cheaper. A file system that cannot reserve may return an error; the
	// log then simply appends.
	Allocate(size int64) error
	// Size returns the current size of the file.
	Size() (int64, error)
	// DropCache tells the kernel that the file's cached pages in the n
	// bytes from off on (to the end if n is 0) will not be read again
	// soon (posix_fadvise DONTNEED). Only clean pages wholly inside the
	// range go, so it is called after a sync; it is advice, and cannot
	// fail.
	DropCache(off, n int64)
	// StartWriteback asks the kernel to begin writing the n bytes from
	// off on to the disk, without waiting (sync_file_range with
	// SYNC_FILE_RANGE_WRITE). It makes nothing durable and cannot fail;
	// it spreads writeback out, so that a later sync has little left to
	// write (writebehind.go).
	StartWriteback(off, n int64)
	Close() error
}
