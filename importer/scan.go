package importer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// entry is one name in the source tree, with the lstat taken when the tree
// was scanned. A directory comes before what it holds, so that a parent
// always exists in the volume before its children.
type entry struct {
	path   string // absolute
	rel    string // relative to the source root; "." for the root
	parent int    // index of the parent directory's entry; -1 for the root
	name   string
	st     unix.Stat_t
}

// scan lists the tree under root without following symbolic links, and
// returns the sum of the regular files' sizes (for progress). Directory
// entries are sorted, so that the inode numbers of the volume, which follow
// the order of creation, are the same for the same tree.
func scan(root string) ([]entry, int64, error) {
	var out []entry
	var total int64
	seen := map[devIno]bool{}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return nil, 0, &fileError{path: root, op: "lstat", err: err}
	}
	out = append(out, entry{path: root, rel: ".", parent: -1, st: st})
	// Breadth first: out grows while it is walked, and every child is
	// appended after its parent, which is the order creation needs.
	for i := 0; i < len(out); i++ {
		e := out[i]
		if e.st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		names, err := readNames(e.path)
		if err != nil {
			return nil, 0, err
		}
		for _, n := range names {
			p := filepath.Join(e.path, n)
			var cst unix.Stat_t
			if err := unix.Lstat(p, &cst); err != nil {
				return nil, 0, &fileError{path: p, op: "lstat", err: err}
			}
			// A hard link's data is copied once.
			if cst.Mode&unix.S_IFMT == unix.S_IFREG && !seen[devIno{uint64(cst.Dev), cst.Ino}] {
				total += cst.Size
				if cst.Nlink > 1 {
					seen[devIno{uint64(cst.Dev), cst.Ino}] = true
				}
			}
			out = append(out, entry{path: p, rel: filepath.Join(e.rel, n), parent: i, name: n, st: cst})
		}
	}
	return out, total, nil
}

// readNames returns a directory's names, sorted. The directory is opened
// with O_NOATIME where allowed, so that the import leaves the source's
// access times as they were.
func readNames(dir string) ([]string, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open(dir, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = unix.Open(dir, flags, 0)
	}
	if err != nil {
		return nil, &fileError{path: dir, op: "open directory", err: err}
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, &fileError{path: dir, op: "read directory", err: unwrapErrno(err)}
	}
	sort.Strings(names)
	return names, nil
}

// unwrapErrno returns the errno inside an *os.PathError, so that
// fileError can name the path once and say what to do about the errno.
func unwrapErrno(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// fileError is a failure on one source file: the line printed names the
// file, what failed, and what to do about it.
type fileError struct {
	path string
	op   string
	err  error
}

func (e *fileError) Error() string {
	s := fmt.Sprintf("%s: %s: %v", e.path, e.op, e.err)
	if fix := fixFor(e.err); fix != "" {
		s += " (" + fix + ")"
	}
	return s
}

func (e *fileError) Unwrap() error { return e.err }

// fixFor says what a user can do about an errno.
func fixFor(err error) string {
	is := func(errs ...error) bool {
		for _, e := range errs {
			if errors.Is(err, e) {
				return true
			}
		}
		return false
	}
	switch {
	case is(unix.EACCES, unix.EPERM):
		return "run the import as root, or make the file readable"
	case is(unix.ENOSPC, unix.EDQUOT):
		return "free space on the file system that holds the new volume"
	case is(unix.ENOENT):
		return "the file went away during the import: stop whatever changes the directory and import again"
	case is(unix.ELOOP, unix.ENOTDIR):
		return "the tree changed during the import: stop whatever changes it and import again"
	}
	return ""
}
