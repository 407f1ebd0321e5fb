// Package pagecache gives back and counts a file's pages in the kernel's
// page cache. The log's files are written once and read back rarely, while
// the kernel already caches what applications read on the mount: pages of
// the log left in the cache are a second copy that pushes the database's
// own pages out.
package pagecache

import (
	"fmt"
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
func Drop(f *os.File) {
	c, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = c.Control(func(fd uintptr) {
		_ = unix.Fadvise(int(fd), 0, 0, unix.FADV_DONTNEED)
	})
}

// Resident counts the pages of the file at path that are in the page
// cache (mincore of a read-only mapping, which faults nothing in).
func Resident(path string) (int, error) {
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
	ps := os.Getpagesize()
	vec := make([]byte, (len(m)+ps-1)/ps)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return 0, fmt.Errorf("pagecache: mincore %s: %w", path, errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n, nil
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
