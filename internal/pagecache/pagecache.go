// Package pagecache gives back and counts a file's pages in the kernel's
// page cache. The log's files are written once and read back rarely, while
// the kernel already caches what applications read on the mount: pages of
// the log left in the cache are a second copy that pushes the database's
// own pages out.
package pagecache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Drop tells the kernel that f's cached pages will not be read again soon
// (posix_fadvise DONTNEED). Only clean pages go (dirty ones are only
// queued for writeback), so call it after a sync. It runs through f's
// RawConn, which holds a reference on the descriptor, so a concurrent
// Close cannot hand the number to another file first. It is advice and
// reports nothing.
func Drop(f *os.File) { DropRange(f, 0, 0) }

// DropRange is Drop for the n bytes of f from off on (to the end if n is
// 0). The kernel gives back only the pages wholly inside the range.
func DropRange(f *os.File, off, n int64) {
	c, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = c.Control(func(fd uintptr) {
		_ = unix.Fadvise(int(fd), off, n, unix.FADV_DONTNEED)
	})
}

// ReadOnce reads len(b) bytes of f at off, as f.ReadAt does, with
// preadv2(RWF_DONTCACHE): pages the read brings into the cache leave it
// once copied, and pages already cached stay, so a reader that goes
// through a file once neither fills the cache nor evicts anyone else's
// pages. The page at each end of the range is dropped too if it came in
// with the read, and the next read in it brings it back: use it for
// large, contiguous pieces only. Before Linux 6.14, and on file systems
// without uncached buffered reads, it reads nothing and returns an error
// wrapping errors.ErrUnsupported.
func ReadOnce(f *os.File, b []byte, off int64) (int, error) {
	c, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	n := 0
	var rerr error
	// Read holds a reference on the descriptor for the call, so a
	// concurrent Close cannot hand the number to another file first.
	if err := c.Read(func(fd uintptr) bool {
		for n < len(b) {
			k, err := unix.Preadv2(int(fd), [][]byte{b[n:]}, off+int64(n), unix.RWF_DONTCACHE)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				rerr = err
			case k == 0:
				rerr = io.EOF
			}
			if rerr != nil {
				break
			}
			n += k
		}
		return true
	}); err != nil {
		return 0, err
	}
	switch {
	case rerr == unix.EOPNOTSUPP && n == 0:
		return 0, fmt.Errorf("pagecache: %s: preadv2 RWF_DONTCACHE: %w", f.Name(), errors.ErrUnsupported)
	case rerr != nil && rerr != io.EOF:
		return n, &os.PathError{Op: "preadv2", Path: f.Name(), Err: rerr}
	}
	return n, rerr
}

// DirectAlign is what ReadDirect needs the buffer's address, the offset
// and the length to be multiples of: the page size, which covers every
// block size a disk here has.
const DirectAlign = 4096

// OpenDirect opens the file f has open a second time, read-only and with
// O_DIRECT, through /proc/self/fd: the same inode even if the file was
// renamed since. Reads through it go from the disk to the caller's buffer
// and leave nothing in the page cache. A file system without direct I/O
// gives an error wrapping errors.ErrUnsupported.
func OpenDirect(f *os.File) (*os.File, error) {
	c, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var d *os.File
	var oerr error
	if err := c.Control(func(fd uintptr) {
		d, oerr = os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDONLY|unix.O_DIRECT, 0)
	}); err != nil {
		return nil, err
	}
	if errors.Is(oerr, unix.EINVAL) || errors.Is(oerr, unix.EOPNOTSUPP) {
		return nil, fmt.Errorf("pagecache: %s: O_DIRECT: %w", f.Name(), errors.ErrUnsupported)
	}
	return d, oerr
}

// Aligned says whether b at off can be read through a file OpenDirect
// opened.
func Aligned(b []byte, off int64) bool {
	return len(b) > 0 && off%DirectAlign == 0 && len(b)%DirectAlign == 0 &&
		uintptr(unsafe.Pointer(&b[0]))%DirectAlign == 0
}

// Resident counts the pages of the file at path that are in the page
// cache (mincore of a read-only mapping, which faults nothing in).
func Resident(path string) (int, error) { return ResidentIn(path, 0, -1) }

// ResidentIn counts the cached pages of the file at path that lie wholly
// inside the n bytes from off on (to the end if n < 0).
func ResidentIn(path string, off, n int64) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Size() == 0 {
		return 0, nil
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, fmt.Errorf("pagecache: mmap %s: %w", path, err)
	}
	defer unix.Munmap(m)
	ps := int64(os.Getpagesize())
	vec := make([]byte, (int64(len(m))+ps-1)/ps)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return 0, fmt.Errorf("pagecache: mincore %s: %w", path, errno)
	}
	end := int64(len(vec))
	if n >= 0 {
		end = min(end, (off+n)/ps)
	}
	count := 0
	for i := (off + ps - 1) / ps; i < end; i++ {
		count += int(vec[i] & 1)
	}
	return count, nil
}

// Droppable reports whether Drop gives back pages of files in dir: not on
// tmpfs or ramfs, where the cached pages are the files themselves.
func Droppable(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return true
	}
	return st.Type != unix.TMPFS_MAGIC && st.Type != unix.RAMFS_MAGIC
}
