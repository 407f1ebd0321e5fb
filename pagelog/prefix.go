package pagelog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rewindfs/rewindfs/lsn"
)

// Copying a segment's prefix, for clones.
//
// A clone of a volume at LSN T shares the parent's log up to T. The
// parent's sealed segments are immutable and are hard-linked; the segment
// that holds T is copied up to the end of T's record, because the clone
// appends its own records after T into it. The copy gets the clone's
// volume ID in its header: from then on it is the clone's file. Records
// are copied byte for byte (their CRCs do not cover the header).

// errStopWalk ends a walk early; it never leaves this file.
var errStopWalk = errors.New("pagelog: stop")

// CopySegmentPrefix copies segment name of the log in srcDir into dstDir,
// keeping its records up to and including through, with volume in the
// header instead of the original ID. through must be in the segment. The
// copy is created (never overwritten) and synced; syncing dstDir is left
// to the caller, who usually makes many files there. It returns the size
// of the copy. The source is only read: it may be the segment another
// process is appending to, as long as through is already written whole.
func CopySegmentPrefix(fs FS, srcDir, name, dstDir string, through lsn.LSN, volume [16]byte) (int64, error) {
	if fs == nil {
		fs = Disk
	}
	first, ok := parseSegmentName(name)
	if !ok {
		return 0, fmt.Errorf("pagelog: %q is not a segment name", name)
	}
	if through < first {
		return 0, fmt.Errorf("pagelog: segment %s starts at LSN %d, after LSN %d", name, first, through)
	}
	src, err := fs.OpenFile(filepath.Join(srcDir, name), os.O_RDONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("pagelog: open segment %s: %w", name, err)
	}
	defer src.Close()
	hb := make([]byte, segHeaderLen)
	if _, err := src.ReadAt(hb, 0); err != nil {
		return 0, fmt.Errorf("pagelog: read header of segment %s: %w", name, err)
	}
	h, err := decodeSegHeader(hb, name)
	if err != nil {
		return 0, err
	}
	if h.first != first {
		return 0, corruptAt(ErrCorrupt, name, 0, uint64(first), fmt.Sprintf("segment header says first lsn %d", h.first))
	}
	size, err := src.Size()
	if err != nil {
		return 0, fmt.Errorf("pagelog: size of segment %s: %w", name, err)
	}
	// Walk the records to find where through ends. The walk checks every
	// CRC on the way, so a bad record below through is an error here and
	// never reaches the clone.
	var last lsn.LSN
	w := &walker{fn: func(s *Scanned) error {
		if s.LSN > through {
			return errStopWalk
		}
		last = s.LSN
		return nil
	}}
	res, err := w.walkSegment(&segment{name: name, first: first, f: src}, 0, size)
	if err != nil && !errors.Is(err, errStopWalk) {
		return 0, err
	}
	if last != through {
		return 0, fmt.Errorf("pagelog: segment %s ends at LSN %d, before LSN %d", name, last, through)
	}
	end := res.end

	dstPath := filepath.Join(dstDir, name)
	dst, err := fs.OpenFile(dstPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("pagelog: create copy of segment %s: %w", name, err)
	}
	fail := func(err error) (int64, error) {
		dst.Close()
		_ = fs.Remove(dstPath)
		return 0, err
	}
	h.volume = volume
	if _, err := dst.WriteAt(encodeSegHeader(h), 0); err != nil {
		return fail(fmt.Errorf("pagelog: write copy of segment %s: %w", name, err))
	}
	buf := make([]byte, min(end-segHeaderLen, readWindow))
	for off := int64(segHeaderLen); off < end; {
		b := buf[:min(int64(len(buf)), end-off)]
		if _, err := src.ReadAt(b, off); err != nil {
			return fail(fmt.Errorf("pagelog: read segment %s offset %d: %w", name, off, err))
		}
		if _, err := dst.WriteAt(b, off); err != nil {
			return fail(fmt.Errorf("pagelog: write copy of segment %s: %w", name, err))
		}
		off += int64(len(b))
	}
	if err := dst.Sync(); err != nil {
		return fail(fmt.Errorf("pagelog: fsync copy of segment %s: %w", name, err))
	}
	if err := dst.Close(); err != nil {
		_ = fs.Remove(dstPath)
		return 0, fmt.Errorf("pagelog: close copy of segment %s: %w", name, err)
	}
	return end, nil
}

// CreateEmptySegment creates, in dir, a segment with no record whose first
// record will have LSN first, and syncs it. A log that consists of it
// opens with head first-1: a clone made at its parent's base LSN, whose
// records up to there all live in the base image, starts like that.
func CreateEmptySegment(fs FS, dir string, first lsn.LSN, volume [16]byte) error {
	if fs == nil {
		fs = Disk
	}
	if first == 0 {
		return errors.New("pagelog: a segment cannot start at LSN 0")
	}
	name := segmentName(first)
	path := filepath.Join(dir, name)
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("pagelog: create segment %s: %w", name, err)
	}
	_, err = f.WriteAt(encodeSegHeader(segHeader{volume: volume, first: first}), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fs.Remove(path)
		return fmt.Errorf("pagelog: write segment %s: %w", name, err)
	}
	return nil
}
