package baseimage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// BeginFold durably records that a fold to target has begun, before any
// page file is changed. From then on no state below target may be read
// from this image, and a crash leaves the record for Open to find.
func (img *Image) BeginFold(target lsn.LSN) error {
	if err := img.writeDurably(FoldingFile, []byte(strconv.FormatUint(uint64(target), 10)+"\n")); err != nil {
		return fmt.Errorf("record the start of a fold to LSN %d: %w", target, err)
	}
	img.Folding = target
	return nil
}

// OpenPages opens ino's page file for writing, creating it if needed.
//
// A page file with more than one name is shared with a clone (rewindfs
// clone hard-links the base image instead of copying it): it is copied
// first, and the copy renamed over this image's name, so that the writes
// of this fold never reach the other volume. A crash before the rename
// leaves a temporary file that Open removes; after it, the file holds the
// same bytes as before, and the fold's redo writes its pages again.
func (img *Image) OpenPages(ino uint64) (pagelog.File, error) {
	path := img.PagesPath(ino)
	if n, err := img.fs.Links(path); err == nil && n > 1 {
		if err := img.unshare(path); err != nil {
			return nil, fmt.Errorf("copy the base image pages of inode %d, shared with a clone: %w", ino, err)
		}
		img.forget(ino) // a cached read handle is on the shared file
	}
	f, err := img.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open base image pages of inode %d: %w", ino, err)
	}
	return f, nil
}

// unshare replaces the file at path by a copy of it that no other name
// shares: written beside it, holes kept (a run of zeros is not written),
// synced, renamed over path, and the directory synced.
func (img *Image) unshare(path string) error {
	src, err := img.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	size, err := src.Size()
	if err != nil {
		return err
	}
	tmp := path + tmpSuffix
	dst, err := img.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		dst.Close()
		_ = img.fs.Remove(tmp)
		return err
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := int(min(int64(len(buf)), size-off))
		if _, err := src.ReadAt(buf[:n], off); err != nil {
			return fail(err)
		}
		for p := 0; p < n; p += img.pageSize {
			page := buf[p:min(p+img.pageSize, n)]
			if allZero(page) {
				continue
			}
			if _, err := dst.WriteAt(page, off+int64(p)); err != nil {
				return fail(err)
			}
		}
	}
	if err := dst.Truncate(size); err != nil {
		return fail(err)
	}
	if err := dst.Sync(); err != nil {
		return fail(err)
	}
	if err := dst.Close(); err != nil {
		_ = img.fs.Remove(tmp)
		return err
	}
	if err := img.fs.Rename(tmp, path); err != nil {
		_ = img.fs.Remove(tmp)
		return err
	}
	return img.fs.SyncDir(filepath.Dir(path))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// RemovePages removes ino's page file; a file that is not there is fine.
func (img *Image) RemovePages(ino uint64) error {
	img.forget(ino)
	err := img.fs.Remove(img.PagesPath(ino))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove base image pages of inode %d: %w", ino, err)
	}
	return nil
}

// SyncPagesDir makes the page files created and removed so far durable.
func (img *Image) SyncPagesDir() error {
	return img.fs.SyncDir(filepath.Join(img.dir, PagesDir))
}

// Commit makes state(base) = st, with the marks, the image's new base: it
// writes the state file (durably, under a temporary name first), then
// removes the previous state file and the fold record. The page files must
// be durable before Commit is called. st's page tables are not kept: the
// committed state is decoded back from the bytes written, so that the
// state in memory is exactly the one a later Open reads.
func (img *Image) Commit(base lsn.LSN, baseTime int64, st *fsstate.State, marks []Mark, aliases []lsn.LSN) error {
	b := encodeState(base, baseTime, st, marks, aliases)
	name := fmt.Sprintf("%s%016x", statePrefix, uint64(base))
	if err := img.writeDurably(name, b); err != nil {
		return fmt.Errorf("write base state at LSN %d: %w", base, err)
	}
	old := img.stateName
	img.stateName = name
	if err := img.loadState(name); err != nil {
		return err
	}
	if old != "" && old != name {
		if err := img.fs.Remove(filepath.Join(img.dir, old)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove old base state %s: %w", old, err)
		}
	}
	img.Folding = 0
	return img.removeFolding()
}
