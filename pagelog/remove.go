package pagelog

import (
	"errors"
	"fmt"

	"github.com/rewindfs/rewindfs/lsn"
)

// ErrSegmentRemoved is returned by ReadData for a location in a segment
// that RemoveThrough deleted. The caller reads the page from wherever the
// records of that segment were folded to (the volume's base image).
var ErrSegmentRemoved = errors.New("pagelog: segment removed by compaction")

// RemoveThrough deletes the sealed segments whose records all have an LSN
// at or below upTo, oldest first, and returns what it removed. The
// segment being appended to is never removed.
//
// A removed segment keeps its slot in the segment table, so that the
// Location.Seg of every other segment stays valid; a read of a removed
// one returns ErrSegmentRemoved. Files are unlinked oldest first and the
// directory is synced once at the end: a crash in between leaves a prefix
// of them gone, and since the caller only removes records it no longer
// needs, any prefix is a consistent log (Open accepts a log whose first
// segment starts after LSN 1).
func (l *Log) RemoveThrough(upTo lsn.LSN) ([]SegmentInfo, error) {
	if l.readOnly {
		return nil, errors.New("pagelog: RemoveThrough on a read-only log")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	var gone []SegmentInfo
	for _, s := range l.segTable() {
		if s.removed.Load() {
			continue
		}
		if s == l.cur || s.last > upTo {
			break
		}
		info := s.info()
		// Readers check the flag before and after a failed read, so one
		// that races with the close below sees ErrSegmentRemoved, not a
		// closed file.
		s.removed.Store(true)
		_ = s.f.Close()
		if err := l.fs.Remove(l.path(s.name)); err != nil {
			return gone, fmt.Errorf("pagelog: remove segment %s: %w", s.name, err)
		}
		// The index goes after its segment: an index without a segment is
		// ignored and removed by Open; a segment without one is scanned.
		_ = l.fs.Remove(l.path(indexName(s.name)))
		s.size.Store(0)
		gone = append(gone, info)
	}
	if len(gone) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return gone, fmt.Errorf("pagelog: fsync log directory after removing segments: %w", err)
		}
	}
	return gone, nil
}
