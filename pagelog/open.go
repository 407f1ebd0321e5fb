package pagelog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Open opens the log in opts.Dir, creating the directory if needed (unless
// ReadOnly), and runs the recovery scan: every record of every segment is
// read, checked and passed to fn in LSN order (fn may be nil; an error
// from fn aborts Open and is returned as is).
//
// A torn tail of the last segment, that is bad bytes after its last valid
// record with no valid record after them, is cut: a copy of the bytes is
// kept in a file "cut-<segment>-<offset>" next to the segments, then the
// segment is truncated and synced. Anything else that is wrong is an error
// naming the segment, the offset and the LSN expected there: a bad record
// followed by a valid one, a bad record in any segment but the last, an LSN
// gap, a bad segment header (ErrCorrupt), an unknown format version
// (ErrVersion), a segment of another volume (ErrVolumeMismatch).
//
// A read-only Open changes nothing and ends the log quietly at a bad tail.
func Open(opts Options, fn func(*Scanned) error) (*Log, RecoveryReport, error) {
	l, err := newLog(opts)
	if err != nil {
		return nil, RecoveryReport{}, err
	}
	if !l.readOnly {
		if err := l.fs.MkdirAll(l.dir, 0o755); err != nil {
			return nil, RecoveryReport{}, fmt.Errorf("pagelog: create log directory: %w", err)
		}
	}
	res, err := l.load(fn)
	if err != nil {
		closeSegments(l.segTable())
		return nil, RecoveryReport{}, err
	}
	rep := RecoveryReport{Head: l.Head(), Records: res.records, Segments: len(l.segTable())}
	if l.readOnly || l.cur == nil {
		return l, rep, nil
	}
	// Only once the log has loaded: a log refused for damage is left
	// exactly as it was found, stray index files included.
	if err := l.removeStrayIndexes(); err != nil {
		closeSegments(l.segTable())
		return nil, RecoveryReport{}, err
	}
	if res.tornBytes > 0 {
		cp, cut, err := l.cutTail(l.cur, res.tornAt, res.tornAt+res.tornBytes)
		if err != nil {
			closeSegments(l.segTable())
			return nil, RecoveryReport{}, err
		}
		rep.CutBytes, rep.CutSegment, rep.CutCopy, rep.CutReason = cut, l.cur.name, cp, res.tornWhy
	}
	// Records found in the page cache may not be on the disk yet if only
	// the process (not the machine) stopped; sync them, so that Durable can
	// start at Head.
	if err := l.cur.f.Datasync(); err != nil {
		closeSegments(l.segTable())
		return nil, RecoveryReport{}, fmt.Errorf("pagelog: fdatasync segment %s: %w", l.cur.name, err)
	}
	l.mu.Lock()
	l.prepareSpare()
	l.mu.Unlock()
	return l, rep, nil
}

// newLog checks the options and makes a Log with no segments.
func newLog(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("pagelog: Options.Dir is empty")
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.SegmentSize < 0 || opts.SegmentSize > maxSegmentSize {
		return nil, fmt.Errorf("pagelog: SegmentSize %d out of range (1..%d)", opts.SegmentSize, maxSegmentSize)
	}
	if opts.Codec > CodecZstd {
		return nil, fmt.Errorf("pagelog: unknown codec %d", opts.Codec)
	}
	if opts.FS == nil {
		opts.FS = Disk
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{
		dir:       opts.Dir,
		fs:        opts.FS,
		volume:    opts.VolumeID,
		ancestors: opts.AncestorIDs,
		segSize:   opts.SegmentSize,
		prealloc:  opts.Preallocate,
		zeroFill:  opts.ZeroFill,
		codec:     opts.Codec,
		now:       opts.Now,
		readOnly:  opts.ReadOnly,
	}
	l.anyVolume = opts.anyVolume
	l.syncCond.L = &l.syncMu
	l.cache.init()
	return l, nil
}

// listSegments returns the segment file names in LSN order. Unless the log
// is read-only it removes the temporary files of segments whose creation
// a crash interrupted: they were never renamed, so they hold no record.
func (l *Log) listSegments() ([]string, error) {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("pagelog: list log directory: %w", err)
	}
	var segs []string
	for _, name := range names {
		if name == spareName {
			// Left as it is: a spare is rewritten from scratch before it
			// is used, and a command that is refused changes nothing.
			continue
		}
		if strings.HasSuffix(name, segTempSuffix) && !l.readOnly {
			if err := l.fs.Remove(l.path(name)); err != nil {
				return nil, fmt.Errorf("pagelog: remove unfinished segment %s: %w", name, err)
			}
			continue
		}
		if _, ok := parseSegmentName(name); ok {
			segs = append(segs, name)
		}
	}

	// The names have a fixed width, so the sorted order of ReadDir is the
	// LSN order.
	return segs, nil
}

// openSegment opens a segment file and checks its header.
func (l *Log) openSegment(name string, writable bool) (*segment, error) {
	first, _ := parseSegmentName(name)
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR
	}
	f, err := l.fs.OpenFile(l.path(name), flag, 0)
	if err != nil {
		return nil, fmt.Errorf("pagelog: open segment %s: %w", name, err)
	}
	hb := make([]byte, segHeaderLen)
	n, err := f.ReadAt(hb, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n < segHeaderLen) {
		f.Close()
		return nil, fmt.Errorf("pagelog: read header of segment %s: %w", name, err)
	}
	h, err := decodeSegHeader(hb[:n], name)
	if err != nil {
		f.Close()
		return nil, err
	}
	if l.anyVolume && l.volume == ([16]byte{}) {
		l.volume = h.volume
	}
	if h.volume != l.volume && !l.isAncestor(h.volume) {
		f.Close()
		return nil, fmt.Errorf("%w: segment %s has volume %x, want %x", ErrVolumeMismatch, name, h.volume, l.volume)
	}
	if h.first != first {
		f.Close()
		return nil, corruptAt(ErrCorrupt, name, 0, uint64(first),
			fmt.Sprintf("segment header says first lsn %d", h.first))
	}
	s := &segment{name: name, first: first, f: f, last: first - 1, gaps: h.version >= segVersion}
	s.size.Store(segHeaderLen)
	return s, nil
}

// isAncestor reports whether id is one of the volumes this log's volume
// was cloned from.
func (l *Log) isAncestor(id [16]byte) bool {
	for _, a := range l.ancestors {
		if a == id {
			return true
		}
	}
	return false
}
