// Package baseimage holds a volume's base image: the materialized state at
// the base LSN, which compaction writes so that the records before it can
// be deleted. It has two parts, in the volume's base/ directory:
//
//	state-<base LSN, 16 hex digits>   the metadata of state(base): every
//	                                  inode, name and extended attribute,
//	                                  and the marks (see encodeState)
//	pages/<inode number, 16 hex>      one sparse file per regular file,
//	                                  holding its content at the base LSN
//	folding                           a fold in progress: its target LSN
//	lock                              flock'ed by a fold (exclusive) and by
//	                                  a view while it registers (shared)
//	pins/                             one file per read-only view: the
//	                                  LSN it shows, flock'ed while it lives
//
// A page file is changed in place by the next fold, so a page file alone
// is not state(base) while a fold runs: see package compaction for the
// order of the steps and why every state in the window still reads right.
package baseimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// File and directory names inside base/. Part of the on-disk format.
const (
	Dir         = "base"
	PagesDir    = "pages"
	FoldingFile = "folding"
	statePrefix = "state-"
	tmpSuffix   = ".tmp"
)

// ErrCorrupt is returned for a state file that fails its checks.
var ErrCorrupt = errors.New("baseimage: corrupt base state")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Mark is a mark the base image keeps: marks are records, and the record
// that made a mark may be folded away while the mark still names a state
// in the window.
type Mark struct {
	Name string
	LSN  lsn.LSN
	Keep bool
}

// Image is an open base image.
type Image struct {
	dir      string // the base/ directory
	fs       pagelog.FS
	pageSize int

	// Base is the base LSN: State is state(Base). Zero before the first
	// fold, when State is the empty root directory of `init`.
	Base      lsn.LSN
	BaseTime  int64 // unix nanoseconds of the base record (init time for 0)
	State     *fsstate.State
	Marks     []Mark
	Aliases   []lsn.LSN // LSNs below Base whose state is state(Base) (see backtrack.History.AliasesFor)
	Folding   lsn.LSN   // the target of a fold that has begun and not committed; 0 if none
	stateName string    // file name of the state file, "" before the first fold

	mu    sync.Mutex
	files map[uint64]*pageFile
}

type pageFile struct {
	f    pagelog.File
	refs int
	dead bool
}

// maxOpenPageFiles bounds the page files kept open for reads.
const maxOpenPageFiles = 256

// Open opens the base image in volumeDir/base. empty is state(0), used
// when no fold has committed yet. Unless readOnly, the directories are
// created and the temporary files of an interrupted commit are removed.
func Open(fs pagelog.FS, volumeDir string, empty *fsstate.State, readOnly bool) (*Image, error) {
	if fs == nil {
		fs = pagelog.Disk
	}
	img := &Image{dir: filepath.Join(volumeDir, Dir), fs: fs, pageSize: empty.PageSize, files: map[uint64]*pageFile{}}
	if !readOnly {
		if err := fs.MkdirAll(filepath.Join(img.dir, PagesDir), 0o700); err != nil {
			return nil, fmt.Errorf("create base image directory: %w", err)
		}
	}
	names, err := fs.ReadDir(img.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list base image directory: %w", err)
	}
	var states []string
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			if !readOnly {
				if err := fs.Remove(filepath.Join(img.dir, name)); err != nil {
					return nil, fmt.Errorf("remove unfinished %s: %w", name, err)
				}
			}
		case strings.HasPrefix(name, statePrefix):
			if _, err := strconv.ParseUint(strings.TrimPrefix(name, statePrefix), 16, 64); err == nil {
				states = append(states, name)
			}
		case name == FoldingFile:
			if img.Folding, err = img.readFolding(); err != nil {
				return nil, err
			}
		}
	}
	if !readOnly {
		// A page file copy that a crash cut short (OpenPages' unshare).
		pdir := filepath.Join(img.dir, PagesDir)
		pnames, err := fs.ReadDir(pdir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("list base image pages: %w", err)
		}
		for _, name := range pnames {
			if strings.HasSuffix(name, tmpSuffix) {
				if err := fs.Remove(filepath.Join(pdir, name)); err != nil {
					return nil, fmt.Errorf("remove unfinished %s: %w", name, err)
				}
			}
		}
	}
	img.State, img.BaseTime = empty, empty.HeadTime
	if len(states) > 0 {
		// Names have a fixed width, so the last is the newest. An older
		// one is left over when a crash came between a commit's rename
		// and its clean-up.
		img.stateName = states[len(states)-1]
		if err := img.loadState(img.stateName); err != nil {
			return nil, err
		}
		if !readOnly {
			for _, old := range states[:len(states)-1] {
				if err := fs.Remove(filepath.Join(img.dir, old)); err != nil {
					return nil, fmt.Errorf("remove old base state %s: %w", old, err)
				}
			}
		}
	}
	if img.Folding != 0 && img.Folding <= img.Base {
		// The fold committed; only its clean-up was cut short.
		if !readOnly {
			if err := img.removeFolding(); err != nil {
				return nil, err
			}
		}
		img.Folding = 0
	}
	return img, nil
}

// Close closes the page files.
func (img *Image) Close() error {
	img.mu.Lock()
	defer img.mu.Unlock()
	for ino, pf := range img.files {
		pf.dead = true
		if pf.refs == 0 {
			_ = pf.f.Close()
		}
		delete(img.files, ino)
	}
	return nil
}

// PagesPath is the path of ino's page file.
func (img *Image) PagesPath(ino uint64) string {
	return filepath.Join(img.dir, PagesDir, fmt.Sprintf("%016x", ino))
}

// ReadPages reads len(dst) bytes of ino's content at the base from byte
// off of its page file. What the file does not have (it is sparse, shorter
// or missing) reads as zeros. A random read (a database asking for a page
// or two) and a large one leave the page cache as they found it, as the
// log's reads do (pagelog.ReadUncached): the kernel caches the mounted
// file's pages itself.
func (img *Image) ReadPages(ino uint64, off int64, dst []byte, random bool) error {
	pf, err := img.acquire(ino)
	if err != nil {
		return err
	}
	if pf == nil {
		clear(dst)
		return nil
	}
	defer img.release(pf)
	var n int
	if random || len(dst) >= pagelog.UncachedReadMin {
		n, err = pagelog.ReadUncached(pf.f, dst, off)
	} else {
		n, err = pf.f.ReadAt(dst, off)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read base image pages of inode %d at %d: %w", ino, off, err)
	}
	clear(dst[n:])
	return nil
}

func (img *Image) acquire(ino uint64) (*pageFile, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	if pf := img.files[ino]; pf != nil {
		pf.refs++
		return pf, nil
	}
	f, err := img.fs.OpenFile(img.PagesPath(ino), os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open base image pages of inode %d: %w", ino, err)
	}
	if len(img.files) >= maxOpenPageFiles {
		for other, pf := range img.files {
			img.dropLocked(other, pf)
			break
		}
	}
	pf := &pageFile{f: f, refs: 1}
	img.files[ino] = pf
	return pf, nil
}

func (img *Image) release(pf *pageFile) {
	img.mu.Lock()
	defer img.mu.Unlock()
	pf.refs--
	if pf.dead && pf.refs == 0 {
		_ = pf.f.Close()
	}
}

func (img *Image) dropLocked(ino uint64, pf *pageFile) {
	delete(img.files, ino)
	pf.dead = true
	if pf.refs == 0 {
		_ = pf.f.Close()
	}
}

// forget closes the cached read handle of ino's page file, if any.
func (img *Image) forget(ino uint64) {
	img.mu.Lock()
	defer img.mu.Unlock()
	if pf := img.files[ino]; pf != nil {
		img.dropLocked(ino, pf)
	}
}

// The state file:
//
//	magic "RWFSBASE" | version u32 | page size u32 | base LSN u64 |
//	base time i64 | state length u64 | state (fsstate base encoding) |
//	marks u32 | (name str | lsn u64 | keep u8)... |
//	aliases u32 | lsn u64... | crc32c u32
//
// The CRC (Castagnoli) covers every byte before it.
const (
	stateMagic   = "RWFSBASE"
	stateVersion = 1
)

func encodeState(base lsn.LSN, baseTime int64, st *fsstate.State, marks []Mark, aliases []lsn.LSN) []byte {
	le := binary.LittleEndian
	b := []byte(stateMagic)
	b = le.AppendUint32(b, stateVersion)
	b = le.AppendUint32(b, uint32(st.PageSize))
	b = le.AppendUint64(b, uint64(base))
	b = le.AppendUint64(b, uint64(baseTime))
	lenAt := len(b)
	b = le.AppendUint64(b, 0)
	b = st.AppendBase(b)
	le.PutUint64(b[lenAt:], uint64(len(b)-lenAt-8))
	b = le.AppendUint32(b, uint32(len(marks)))
	for _, m := range marks {
		b = le.AppendUint16(b, uint16(len(m.Name)))
		b = append(b, m.Name...)
		b = le.AppendUint64(b, uint64(m.LSN))
		k := byte(0)
		if m.Keep {
			k = 1
		}
		b = append(b, k)
	}
	b = le.AppendUint32(b, uint32(len(aliases)))
	for _, a := range aliases {
		b = le.AppendUint64(b, uint64(a))
	}
	return le.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func (img *Image) loadState(name string) error {
	path := filepath.Join(img.dir, name)
	b, err := readFile(img.fs, path)
	if err != nil {
		return fmt.Errorf("read base state: %w", err)
	}
	bad := func(why string) error { return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, why) }
	le := binary.LittleEndian
	if len(b) < 40 || string(b[:8]) != stateMagic {
		return bad("not a base state file")
	}
	if v := le.Uint32(b[8:]); v != stateVersion {
		return bad(fmt.Sprintf("format version %d, this build knows %d", v, stateVersion))
	}
	if crc32.Checksum(b[:len(b)-4], crcTable) != le.Uint32(b[len(b)-4:]) {
		return bad("checksum mismatch")
	}
	if ps := int(le.Uint32(b[12:])); ps != img.pageSize {
		return bad(fmt.Sprintf("page size %d, the volume's is %d", ps, img.pageSize))
	}
	img.Base = lsn.LSN(le.Uint64(b[16:]))
	img.BaseTime = int64(le.Uint64(b[24:]))
	n := le.Uint64(b[32:])
	rest := b[40 : len(b)-4]
	if n > uint64(len(rest)) {
		return bad("state length past the end")
	}
	if img.State, err = fsstate.DecodeBase(rest[:n], img.pageSize); err != nil {
		return bad(err.Error())
	}
	if want := fmt.Sprintf("%s%016x", statePrefix, uint64(img.Base)); name != want {
		return bad("file name does not match its base LSN " + strconv.FormatUint(uint64(img.Base), 10))
	}
	rest = rest[n:]
	if len(rest) < 4 {
		return bad("marks cut short")
	}
	count := le.Uint32(rest)
	rest = rest[4:]
	img.Marks = nil
	for i := uint32(0); i < count; i++ {
		if len(rest) < 2 || len(rest) < 2+int(le.Uint16(rest))+9 {
			return bad("marks cut short")
		}
		k := int(le.Uint16(rest))
		m := Mark{Name: string(rest[2 : 2+k]), LSN: lsn.LSN(le.Uint64(rest[2+k:])), Keep: rest[10+k] == 1}
		img.Marks = append(img.Marks, m)
		rest = rest[11+k:]
	}
	if len(rest) < 4 {
		return bad("aliases cut short")
	}
	count = le.Uint32(rest)
	rest = rest[4:]
	if uint64(len(rest)) != uint64(count)*8 {
		return bad("aliases cut short or trailing bytes")
	}
	img.Aliases = nil
	for i := uint32(0); i < count; i++ {
		img.Aliases = append(img.Aliases, lsn.LSN(le.Uint64(rest[8*i:])))
	}
	return nil
}

func readFile(fs pagelog.FS, path string) ([]byte, error) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); n < len(b) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// writeDurably writes a new file under a temporary name, syncs it, renames
// it into place and syncs the directory: afterwards the file is there,
// whole, or (after a crash before the rename) not at all.
func (img *Image) writeDurably(name string, b []byte) error {
	return pagelog.WriteFileDurably(img.fs, filepath.Join(img.dir, name), b, 0o600)
}

func (img *Image) readFolding() (lsn.LSN, error) {
	b, err := readFile(img.fs, filepath.Join(img.dir, FoldingFile))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", FoldingFile, err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("%w: %s holds %q, not an LSN", ErrCorrupt, filepath.Join(img.dir, FoldingFile), b)
	}
	return lsn.LSN(v), nil
}

func (img *Image) removeFolding() error {
	if err := img.fs.Remove(filepath.Join(img.dir, FoldingFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", FoldingFile, err)
	}
	return img.fs.SyncDir(img.dir)
}

// PageSize is the volume's page size.
func (img *Image) PageSize() int { return img.pageSize }
