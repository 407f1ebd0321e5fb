package pagelog

import (
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// CountReads returns fs (nil: Disk) with every byte read through the files
// it opens added to n. Progress meters use it: a recovery scan or Verify
// reads each segment once from start to end, so n against ScanBytes says
// how far it is.
func CountReads(fs FS, n *atomic.Int64) FS {
	if fs == nil {
		fs = Disk
	}
	return countFS{FS: fs, n: n}
}

type countFS struct {
	FS
	n *atomic.Int64
}

func (c countFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countFile{File: f, n: c.n}, nil
}

type countFile struct {
	File
	n *atomic.Int64
}

func (f countFile) ReadAt(b []byte, off int64) (int, error) {
	k, err := f.File.ReadAt(b, off)
	f.n.Add(int64(k))
	return k, err
}

func (f countFile) ReadOnce(b []byte, off int64) (int, error) {
	k, err := f.File.ReadOnce(b, off)
	f.n.Add(int64(k))
	return k, err
}

func (f countFile) ReadDirect(b []byte, off int64) (int, error) {
	k, err := f.File.ReadDirect(b, off)
	f.n.Add(int64(k))
	return k, err
}

// ScanBytes estimates how many bytes a scan of the log in dir reads: the
// sizes of its segment files, less the space reserved at the end of a
// preallocated segment where the file system reports it as a hole. It is
// an estimate for a progress bar, 0 if dir cannot be read.
func ScanBytes(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total int64
	for _, e := range entries {
		if _, ok := parseSegmentName(e.Name()); !ok {
			continue
		}
		total += dataBytes(filepath.Join(dir, e.Name()))
	}
	return total
}

// OpenBytes estimates how many bytes Open reads from the log in dir: like
// ScanBytes, but a sealed segment with an index counts as its index, which
// Open reads instead. It is an estimate for a progress bar.
func OpenBytes(dir string) int64 {
	names, err := Disk.ReadDir(dir)
	if err != nil {
		return 0
	}
	var segs []string
	for _, name := range names {
		if _, ok := parseSegmentName(name); ok {
			segs = append(segs, name)
		}
	}
	var total int64
	for i, name := range segs {
		if i < len(segs)-1 {
			if st, err := os.Stat(filepath.Join(dir, indexName(name))); err == nil {
				total += st.Size()
				continue
			}
		}
		total += dataBytes(filepath.Join(dir, name))
	}
	return total
}

// dataBytes is the offset of the first hole of a file (its size if it has
// none, or if the file system cannot tell).
func dataBytes(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0
	}
	if h, err := unix.Seek(int(f.Fd()), 0, unix.SEEK_HOLE); err == nil && h < size {
		return h
	}
	return size
}
