package pagelog

import (
	"errors"
	"fmt"
	"io"
	"syscall"
)

// The write buffer.
//
// Append copies a record of up to bufferedMax bytes into a buffer instead
// of writing it to the segment file, and the buffer is written out with
// one pwrite when a Sync starts, when the log moves on to a new segment,
// when WriteOut or Close is called, and when it is full. The kernel's
// writeback cache sends the pages an fsync flushes as separate concurrent
// WRITE requests (eight for fio's fdatasync=8), and each used to hold the
// log's lock through its own pwrite: measured through a mount, 4 KiB
// random writes with an fdatasync every eight went from 11,600-14,200 to
// 15,900-16,500 a second (plain: 21,200-22,200).
//
// What this changes, and what it does not:
//
//   - Durability is the same: Sync writes the buffer out before its
//     fdatasync, so what Sync covers is on disk when it returns.
//   - Recovery is the same: the buffer holds the newest records in LSN
//     order, so a crash loses a suffix of unsynced records, as the page
//     cache could before.
//   - A record in the buffer is readable: ReadData copies it from there.
//   - Another process reading the segment files (a read-only view) sees a
//     record once it is written out, not at once.
//   - A kill -9 of the daemon loses the buffer: up to bufferSize of
//     records that nobody synced, made since the daemon's last flush (a
//     second at most). FUSE's flush (close) writes it out, so a closed
//     file's writes reach the page cache, as before, and so does every
//     namespace change (package volume, writtenOutAtOnce): what is lost
//     is data writes and times.
//   - A full disk still costs nothing acknowledged: a write-out that fails
//     with ENOSPC keeps the buffer, reads are served from it, and the
//     Sync or Append that needed the room gets ENOSPC; a later write-out
//     (once space is freed) writes it. Any other write error breaks the
//     log, as a failed write did before.
//
// The invariant, under l.mu: the bytes of l.cur from cur.pendFrom to
// cur.size are l.pend; pendFrom is 0 when l.pend is empty, and every other
// segment has none.

const (
	// bufferSize is the capacity of the write buffer.
	bufferSize = 256 << 10
	// bufferedMax is the largest record that goes through the buffer; a
	// larger one (a stream of 128 KiB-1 MiB writes) is written at once,
	// which saves a copy and gains nothing from batching.
	bufferedMax = 64 << 10
)

// buffer appends rec, which goes at offset off of l.cur, to the write
// buffer, writing the buffer out first if rec does not fit. The caller
// holds l.mu.
func (l *Log) buffer(rec []byte, off int64) error {
	if len(l.pend)+len(rec) > bufferSize {
		if err := l.writeOut(); err != nil {
			return err
		}
	}
	if l.pend == nil {
		l.pend = make([]byte, 0, bufferSize)
	}
	if len(l.pend) == 0 {
		l.cur.pendFrom.Store(off)
	}
	l.pend = append(l.pend, rec...)
	return nil
}

// writeOut writes the buffer to the current segment. The caller holds
// l.mu. On ENOSPC the buffer is kept and the error returned, the log
// stays usable; any other failure breaks the log.
func (l *Log) writeOut() error {
	if len(l.pend) == 0 {
		return nil
	}
	if b := l.broken.Load(); b != nil {
		return b
	}
	seg := l.cur
	at := seg.pendFrom.Load()
	n, err := seg.f.WriteAt(l.pend, at)
	if err == nil && n < len(l.pend) {
		err = io.ErrShortWrite
	}
	if err != nil {
		err = fmt.Errorf("pagelog: write out %d bytes of records: segment %s offset %d: %w", len(l.pend), seg.name, at, err)
		if errors.Is(err, syscall.ENOSPC) {
			// What part of the buffer reached the file lies past the last
			// record written out: the next write-out overwrites it, and a
			// crash before then leaves it as a torn tail, which recovery
			// cuts. Those records were never synced.
			return err
		}
		return l.setBroken(err)
	}
	seg.pendFrom.Store(0)
	l.pend = l.pend[:0]
	l.writeBehind(seg, at+int64(n))
	return nil
}

// WriteOut writes the records in the write buffer to the segment file,
// without syncing: from then on they survive the end of this process (not
// of the machine), and other processes reading the files see them. FUSE's
// flush, which the kernel sends at every close, calls it.
func (l *Log) WriteOut() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.writeOut()
}

// readSeg reads len(b) bytes of seg at off, the stored data part of one
// record: from the file, or from the write buffer if the record is still
// there.
func (l *Log) readSeg(seg *segment, b []byte, off int64) (int, error) {
	end := off + int64(len(b))
	if p := seg.pendFrom.Load(); p == 0 || end <= p {
		return seg.f.ReadAt(b, off)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := seg.pendFrom.Load()
	if p == 0 || end <= p || seg != l.cur {
		return seg.f.ReadAt(b, off)
	}
	if off < p || end > p+int64(len(l.pend)) {
		// A record lies wholly in the file or wholly in the buffer, so
		// this range is not one record's.
		return 0, fmt.Errorf("%w: segment %s bytes %d-%d straddle the write buffer at %d-%d",
			ErrBadLocation, seg.name, off, end, p, p+int64(len(l.pend)))
	}
	return copy(b, l.pend[off-p:]), nil
}
