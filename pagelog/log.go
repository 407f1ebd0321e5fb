package pagelog

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
)

// DefaultSegmentSize is the SegmentSize used when Options leaves it zero.
const DefaultSegmentSize = 64 << 20

// maxSegmentSize bounds SegmentSize so that every offset in a segment,
// including that of a record started just below the limit, fits the
// uint32 of Location.Off.
const maxSegmentSize = 2 << 30

// Location says where the data part of a record is, so that it can be read
// later without a scan. It is 16 bytes; the volume keeps one per page.
type Location struct {
	Seg   uint32 // index of the segment in the log's segment table
	Off   uint32 // offset of the first stored byte of the data part in the segment file
	Len   uint32 // stored (maybe compressed) length of the data part
	Codec Codec
}

// Options configure Open.
type Options struct {
	// Dir is the directory of the segment files. Open creates it unless
	// ReadOnly.
	Dir string
	// VolumeID is written in every segment header; Open refuses segments
	// of another volume.
	VolumeID [16]byte
	// AncestorIDs are the volumes a clone was made from: their sealed
	// segments are hard-linked into the clone's log and keep their
	// headers, so Open accepts them too. New segments carry VolumeID.
	AncestorIDs [][16]byte
	// SegmentSize is the size at which the log moves on to a new segment:
	// a record that would make the current segment larger goes into a new
	// one (a segment always takes at least one record). Zero means
	// DefaultSegmentSize.
	SegmentSize int64
	// Codec compresses the data part of new records, when that makes it
	// smaller.
	Codec Codec
	// FS is the file system; nil means Disk.
	FS FS
	// Now gives the time of new records; nil means time.Now. Record times
	// are made non-decreasing whatever it returns.
	Now func() time.Time
	// ReadOnly opens the log for reading: nothing is ever created, cut,
	// truncated or appended, and an incomplete or invalid record at the
	// tail of the last segment ends the log quietly (another process may be
	// writing it right now).
	ReadOnly bool
	// Preallocate reserves each new segment's full size when it is
	// created (see roll). The volume turns it on; tests of exact file
	// sizes leave it off.
	Preallocate bool
	// ZeroFill keeps a spare segment written with zeros ready for the next
	// roll (see spare.go), so that appends overwrite written blocks and
	// an fdatasync commits no file system metadata.
	ZeroFill bool

	// anyVolume makes the first segment's volume ID the one required of
	// all others, for Verify, which does not know the volume.
	anyVolume bool
}

// Scanned is one record delivered by Open's recovery scan or by Scan.
type Scanned struct {
	LSN     lsn.LSN
	Time    int64 // unix nanoseconds
	Type    Type
	Meta    []byte   // the meta part; only valid during the callback
	Data    Location // where the data part is (Len 0 if there is none)
	DataLen uint32   // uncompressed length of the data part
}

// RecoveryReport says what Open found.
type RecoveryReport struct {
	Head       lsn.LSN // last valid record, 0 if none
	Records    int64
	Segments   int
	CutBytes   int64  // bytes cut from the tail of the last segment, 0 if it was clean
	CutSegment string // file name of the segment that was cut
	CutCopy    string // path of the file that keeps a copy of the cut bytes
	CutReason  string // what was wrong with the first cut byte, e.g. "checksum mismatch"
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	Name      string
	FirstLSN  lsn.LSN // LSN of the first record; the segment's name
	LastLSN   lsn.LSN // LSN of the last record; FirstLSN-1 if the segment is empty
	FirstTime int64   // unix nanoseconds of the first record, 0 if empty
	LastTime  int64   // unix nanoseconds of the last record, 0 if empty
	Size      int64   // bytes of the file that hold the header and valid records
}

// segment is one open segment file. name, first and f never change;
// the rest is guarded by Log.mu, except size, which is read without it.
type segment struct {
	name  string
	first lsn.LSN
	f     File

	last      lsn.LSN
	firstTime int64
	lastTime  int64
	size      atomic.Int64
	removed   atomic.Bool  // deleted by RemoveThrough; f is closed
	syncs     atomic.Int64 // fdatasyncs Sync ran on it, to judge whether a zero-filled spare pays (spare.go)
	zeroed    bool         // made from a spare: its blocks past the last record hold written zeros (spare.go)
	gaps      bool         // of segment version 2: appends may put a gap before a data part (record.go)
	pendFrom  atomic.Int64 // offset of the first record still in the write buffer, 0 if none (writebuf.go)
	behind    int64        // writeback of the file was asked for up to here (writebehind.go); under Log.mu
	ix        *indexBuf    // the segment being appended to: its index so far (index.go); under Log.mu
}

func (s *segment) info() SegmentInfo {
	return SegmentInfo{
		Name:      s.name,
		FirstLSN:  s.first,
		LastLSN:   s.last,
		FirstTime: s.firstTime,
		LastTime:  s.lastTime,
		Size:      s.size.Load(),
	}
}

// Log is an open page log. All methods are safe for concurrent use.
type Log struct {
	dir       string
	fs        FS
	volume    [16]byte
	ancestors [][16]byte // also accepted in segment headers (a clone's parents)
	segSize   int64
	codec     Codec
	now       func() time.Time
	readOnly  bool
	anyVolume bool
	prealloc  bool
	zeroFill  bool
	spare     spare
	index     background[indexJob]  // writes sealed segments' indexes (index.go)
	behind    background[behindJob] // starts the active segment's writeback (writebehind.go)

	// mu serializes appends, rolls and changes of segment metadata.
	mu       sync.Mutex
	cur      *segment // segment appended to; nil before the first record
	next     lsn.LSN  // LSN of the next record
	lastTime int64    // time of the last record
	scratch  []byte   // reused buffer for encoding a record
	pend     []byte   // the write buffer: records of cur not yet written to its file (writebuf.go)
	closed   bool

	// segs is the segment table, indexed by Location.Seg. It is replaced,
	// never changed in place, so readers load it without a lock.
	segs atomic.Pointer[[]*segment]

	head    atomic.Uint64 // last appended LSN
	durable atomic.Uint64 // last LSN known to be on stable storage
	broken  atomic.Pointer[brokenError]
	isShut  atomic.Bool // Close has begun

	// Group commit (sync.go). syncMu is taken after mu, never before.
	syncMu   sync.Mutex
	syncCond sync.Cond
	syncing  bool // a sync is running
	closing  bool

	// scanMu serializes the refreshes of a read-only log (Scan).
	scanMu sync.Mutex

	cache dataCache

	// appended counts the record bytes appended since Open (AppendedBytes).
	appended atomic.Int64
}

func (l *Log) segTable() []*segment {
	if p := l.segs.Load(); p != nil {
		return *p
	}
	return nil
}

// addSegment appends a segment to the table. The caller holds l.mu or has
// the log to itself.
func (l *Log) addSegment(s *segment) int {
	old := l.segTable()
	t := make([]*segment, len(old), len(old)+1)
	copy(t, old)
	t = append(t, s)
	l.segs.Store(&t)
	return len(t) - 1
}

func (l *Log) path(name string) string { return filepath.Join(l.dir, name) }

// Head returns the LSN of the last record appended (or found by Open), 0
// for an empty log.
func (l *Log) Head() lsn.LSN { return lsn.LSN(l.head.Load()) }

// Durable returns the last LSN known to be on stable storage.
func (l *Log) Durable() lsn.LSN { return lsn.LSN(l.durable.Load()) }

// Bytes returns the total size of the segment files.
func (l *Log) Bytes() int64 {
	var n int64
	for _, s := range l.segTable() {
		n += s.size.Load() // 0 once removed
	}
	return n
}

// Segments describes the segment files in LSN order (not those removed by
// RemoveThrough).
func (l *Log) Segments() []SegmentInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	var infos []SegmentInfo
	for _, s := range l.segTable() {
		if !s.removed.Load() {
			infos = append(infos, s.info())
		}
	}
	return infos
}

// setBroken records the first write or sync failure and returns the sticky
// error every later Append and Sync returns.
func (l *Log) setBroken(cause error) error {
	l.broken.CompareAndSwap(nil, &brokenError{cause: cause})
	b := l.broken.Load()
	// Wake the waiters of a group commit: they must not wait for a sync
	// that will never come.
	l.syncMu.Lock()
	l.syncCond.Broadcast()
	l.syncMu.Unlock()
	return b
}

// Close makes every appended record durable (unless the log is read-only or
// broken) and closes the files. It returns the sticky error of a broken
// log, so that a caller never mistakes lost records for durable ones.
func (l *Log) Close() error {
	l.syncMu.Lock()
	if l.closing {
		l.syncMu.Unlock()
		return ErrClosed
	}
	l.closing = true
	l.isShut.Store(true)
	l.mu.Lock()
	l.waitSpare()
	l.mu.Unlock()
	l.waitIndexer()
	for l.syncing {
		l.syncCond.Wait()
	}
	l.syncMu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	var err error
	if b := l.broken.Load(); b != nil {
		err = b
	} else if !l.readOnly && l.cur != nil && l.Durable() < l.Head() {
		if werr := l.writeOut(); werr != nil {
			err = fmt.Errorf("pagelog: close: %w", werr)
		} else if serr := l.cur.f.Datasync(); serr != nil {
			err = l.setBroken(fmt.Errorf("pagelog: close: fdatasync segment %s: %w", l.cur.name, serr))
		} else {
			l.durable.Store(l.head.Load())
		}
	}
	l.behind.wait() // before the files close
	for _, s := range l.segTable() {
		if s.removed.Load() {
			continue
		}
		if cerr := s.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("pagelog: close segment %s: %w", s.name, cerr)
		}
	}
	l.syncMu.Lock()
	l.syncCond.Broadcast()
	l.syncMu.Unlock()
	return err
}

// closeSegments closes the files of segs, for a failed Open.
func closeSegments(segs []*segment) {
	for _, s := range segs {
		if s != nil && s.f != nil {
			_ = s.f.Close()
		}
	}
}
