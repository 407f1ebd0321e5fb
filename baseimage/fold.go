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
func (img *Image) OpenPages(ino uint64) (pagelog.File, error) {
	f, err := img.fs.OpenFile(img.PagesPath(ino), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open base image pages of inode %d: %w", ino, err)
	}
	return f, nil
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
