package baseimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/rewindfs/rewindfs/lsn"
)

// ErrFolding is returned by Files while a fold has begun and not
// committed: the page files are then part old base, part new.
var ErrFolding = errors.New("baseimage: a fold is in progress")

// StateFileName is the name, inside base/, of the state file of the base
// image at base. Part of the on-disk format.
func StateFileName(base lsn.LSN) string {
	return fmt.Sprintf("%s%016x", statePrefix, uint64(base))
}

// PageFile is one page file of a base image on disk.
type PageFile struct {
	Ino  uint64
	Path string
	Size int64
}

// Files describes the committed base image of the volume in volumeDir
// as its files, for copying it elsewhere (the archive). The caller must
// hold LockFolds (shared is enough): page files are changed in place by a
// fold, and only between folds are the state file and the page files one
// image. It returns ErrFolding when a fold failed half way (its record is
// still there), and base 0 with no files before the first fold.
func Files(volumeDir string) (base lsn.LSN, baseTime int64, statePath string, pages []PageFile, err error) {
	dir := filepath.Join(volumeDir, Dir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, "", nil, nil
	}
	if err != nil {
		return 0, 0, "", nil, fmt.Errorf("list base image directory: %w", err)
	}
	var states []string
	for _, e := range ents {
		switch name := e.Name(); {
		case name == FoldingFile:
			return 0, 0, "", nil, fmt.Errorf("%w in %s", ErrFolding, dir)
		case strings.HasPrefix(name, statePrefix) && !strings.HasSuffix(name, tmpSuffix):
			if _, err := strconv.ParseUint(strings.TrimPrefix(name, statePrefix), 16, 64); err == nil {
				states = append(states, name)
			}
		}
	}
	if len(states) == 0 {
		return 0, 0, "", nil, nil
	}
	sort.Strings(states) // fixed width: the last is the newest
	statePath = filepath.Join(dir, states[len(states)-1])
	base, baseTime, err = ReadStateHeader(statePath)
	if err != nil {
		return 0, 0, "", nil, err
	}
	pents, err := os.ReadDir(filepath.Join(dir, PagesDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, 0, "", nil, fmt.Errorf("list base image pages: %w", err)
	}
	for _, e := range pents {
		ino, perr := strconv.ParseUint(e.Name(), 16, 64)
		if perr != nil || len(e.Name()) != 16 {
			continue // a temporary file, not a page file
		}
		fi, err := e.Info()
		if err != nil {
			return 0, 0, "", nil, fmt.Errorf("base image pages of inode %d: %w", ino, err)
		}
		pages = append(pages, PageFile{Ino: ino, Path: filepath.Join(dir, PagesDir, e.Name()), Size: fi.Size()})
	}
	return base, baseTime, statePath, pages, nil
}

// ReadStateHeader reads the base LSN and time from a state file's header
// (magic, version, page size, base LSN, base time), without checking the
// rest: Open checks the whole file.
func ReadStateHeader(path string) (lsn.LSN, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read base state: %w", err)
	}
	defer f.Close()
	var h [32]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:8]) != stateMagic {
		return 0, 0, fmt.Errorf("%w: %s: not a base state file", ErrCorrupt, path)
	}
	le := binary.LittleEndian
	return lsn.LSN(le.Uint64(h[16:])), int64(le.Uint64(h[24:])), nil
}
