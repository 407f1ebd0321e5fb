package pagelog

import (
	"os"
	"sync/atomic"
)

// Spare segments.
//
// A segment that was only reserved with fallocate has "unwritten" extents:
// the first write into each block changes the file's extent map, so the
// fdatasync after it must commit the file system's journal too. Writing
// into blocks that already hold data needs no metadata at all, and an
// fdatasync is then a plain data flush. Measured through a mount on ext4
// here: 400 µs a 4 KiB write+fdatasync into a reserved segment, 250 µs into
// a zero-filled one (a plain file: 250-320 µs). PostgreSQL zero-fills its
// WAL segments for the same reason.
//
// So, with Options.ZeroFill, a background goroutine keeps one spare ready:
// a file of the segment size, written with zeros and synced, under a name
// ending in ".seg.tmp" (which Open removes: a spare holds no record). It
// is made when the log is opened and again each time one is taken. Zeros
// past the last record are where recovery sees the log end, as with a
// reserved segment.
//
// Zeroing costs a second write of the segment, which a workload that
// streams large writes and rarely syncs (a bulk load, a sequential copy)
// would pay for nothing: measured here, 1 MiB writes ran at half the speed
// with a spare for every segment. So a roll takes the spare only when the
// segment it seals was synced often (spareWorthIt), and makes a reserved
// segment otherwise; the spare waits.
//
// A new log's first segment is a spare, made when the first record is
// appended (firstSpare). A segment that is not a spare and is synced often
// (the one a reopened log goes on appending to, one made while a bulk load
// ran) would pay a journal commit on every fdatasync until it is full. The
// log moves on from it to the spare at the first Append after it is seen
// syncing often (spareBetter), leaving a short sealed segment behind:
// since a spare is kept ready, that is at once.

const spareName = "spare" + segTempSuffix

// spare is the state of the spare segment.
type spare struct {
	ready   atomic.Bool   // the file is complete and synced
	made    atomic.Int64  // spares made so far, for tests
	running atomic.Bool   // a goroutine is making it
	done    chan struct{} // closed when the last maker stops (Close waits)
}

// spareWorthIt says whether a segment of size bytes that saw syncs
// fdatasyncs was synced often enough for the next one to be zero-filled:
// on average at least once per MiB written.
func spareWorthIt(syncs, size int64) bool {
	return syncs >= max(1, size>>20)
}

// spareBetter says whether the log should move on from the current segment
// to the spare before the segment is full. The caller holds l.mu.
func (l *Log) spareBetter() bool {
	return l.zeroFill && !l.cur.zeroed && l.spare.ready.Load() &&
		spareWorthIt(l.cur.syncs.Load(), l.cur.size.Load())
}

// prepareSpare starts making a spare if there is none and none is being
// made. The caller holds l.mu.
func (l *Log) prepareSpare() {
	if !l.claimSpare() {
		return
	}
	done := make(chan struct{})
	l.spare.done = done
	go func() {
		defer close(done)
		defer l.spare.running.Store(false)
		l.spareNow()
	}()
}

// firstSpare makes the spare for the first segment of a new log before
// roll takes it, in the caller's time: the first write to a new volume
// waits for 64 MiB of zeros, and its log then starts on a zero-filled
// segment, instead of on a reserved one that it would leave, at a moment
// that depends on when the spare was done, once it synced. The caller
// holds l.mu.
func (l *Log) firstSpare() {
	if !l.claimSpare() {
		return
	}
	defer l.spare.running.Store(false)
	l.spareNow()
}

// claimSpare says whether the caller should make a spare: spares are on,
// there is none, and no one else is making one (from now on, the caller
// is, until it clears l.spare.running).
func (l *Log) claimSpare() bool {
	return l.zeroFill && !l.readOnly && !l.spare.ready.Load() && l.spare.running.CompareAndSwap(false, true)
}

// spareNow makes the spare and marks it ready. A failure only costs the
// optimization: roll makes a reserved segment instead.
func (l *Log) spareNow() {
	if err := l.makeSpare(); err != nil {
		_ = l.fs.Remove(l.path(spareName))
		return
	}
	l.spare.made.Add(1)
	l.spare.ready.Store(true)
}

// makeSpare writes the spare file: zeros, in large writes, then fsync.
func (l *Log) makeSpare() error {
	f, err := l.fs.OpenFile(l.path(spareName), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < l.segSize; off += int64(len(zeros)) {
		if l.isShut.Load() {
			return ErrClosed
		}
		n := min(int64(len(zeros)), l.segSize-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	return f.Sync()
}

// takeSpare opens the ready spare for roll and returns it with its
// temporary path, or nil if there is none. The caller holds l.mu.
func (l *Log) takeSpare() (File, string) {
	if !l.spare.ready.Load() {
		return nil, ""
	}
	l.spare.ready.Store(false)
	tmp := l.path(spareName)
	f, err := l.fs.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return nil, ""
	}
	if size, err := f.Size(); err != nil || size != l.segSize {
		f.Close()
		return nil, ""
	}
	return f, tmp
}

// waitSpare waits for a spare being made, for Close.
func (l *Log) waitSpare() {
	if d := l.spare.done; d != nil {
		<-d
	}
}
