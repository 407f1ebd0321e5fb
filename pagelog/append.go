package pagelog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/rewindfs/rewindfs/lsn"
)

// keepScratch is the largest encoding buffer the log keeps between appends;
// a larger one, made for an unusually large record, is dropped afterwards.
const keepScratch = 4 << 20

// Append writes one record and returns its LSN, its time (unix
// nanoseconds, never less than the previous record's) and where its data
// part is. meta is stored as is; data is compressed with the log's codec
// when that makes it smaller.
//
// When Append returns, the record is readable with ReadData but not yet
// durable: call Sync. A record of up to bufferedMax bytes is only copied
// to the log's write buffer (writebuf.go); a larger one is written to the
// segment file at once. If the record does not fit in the current
// segment, Append first moves on to a new segment (see roll).
//
// A failed write breaks the log: this and every later Append and Sync
// return the same error, which wraps ErrBroken and the cause. A full disk
// (syscall.ENOSPC) does not: the record is not taken and a later Append
// can succeed. ErrTooLarge and ErrInvalidType leave the log usable too.
func (l *Log) Append(t Type, meta, data []byte) (lsn.LSN, int64, Location, error) {
	if t == TypeInvalid {
		return 0, 0, Location{}, ErrInvalidType
	}
	if len(meta) > MaxMetaLen || len(data) > MaxDataLen {
		return 0, 0, Location{}, fmt.Errorf("%w: meta %d bytes (max %d), data %d bytes (max %d)",
			ErrTooLarge, len(meta), MaxMetaLen, len(data), MaxDataLen)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return 0, 0, Location{}, ErrClosed
	case l.readOnly:
		return 0, 0, Location{}, ErrReadOnly
	}
	if b := l.broken.Load(); b != nil {
		return 0, 0, Location{}, b
	}

	now := l.now().UnixNano()
	if now < l.lastTime {
		now = l.lastTime
	}
	h := recordHeader{lsn: l.next, time: now, typ: t, metaLen: uint32(len(meta)), rawLen: uint32(len(data))}
	rec := l.encode(&h, meta, data, l.cur)

	if l.cur == nil || (l.cur.size.Load() > segHeaderLen &&
		(l.cur.size.Load()+int64(len(rec)) > l.segSize || l.spareBetter())) {
		if err := l.roll(now); err != nil {
			return 0, 0, Location{}, err
		}
		// The record's gap depends on where it goes.
		rec = l.encode(&h, meta, data, l.cur)
	}
	seg := l.cur
	off := seg.size.Load()
	if len(rec) <= bufferedMax {
		if err := l.buffer(rec, off); err != nil {
			return 0, 0, Location{}, err
		}
	} else if err := l.writeDirect(seg, rec, off, h.lsn); err != nil {
		return 0, 0, Location{}, err
	}
	if cap(l.scratch) > keepScratch {
		l.scratch = nil
	}

	seg.size.Store(off + int64(len(rec)))
	if seg.ix != nil {
		seg.ix.add(now, off, t, h.codec, h.gap, meta, uint32(len(data)), h.storedLen)
	}
	l.appended.Add(int64(len(rec)))
	if seg.last < seg.first {
		seg.firstTime = now
	}
	seg.last, seg.lastTime = h.lsn, now
	l.next++
	l.lastTime = now
	l.head.Store(uint64(h.lsn))
	loc := Location{
		Seg:   uint32(len(l.segTable()) - 1),
		Off:   uint32(off + h.dataAt()),
		Len:   h.storedLen,
		Codec: h.codec,
	}
	return h.lsn, now, loc, nil
}

// writeDirect writes rec at offset off of seg, after the write buffer.
// The caller holds l.mu.
func (l *Log) writeDirect(seg *segment, rec []byte, off int64, n lsn.LSN) error {
	if err := l.writeOut(); err != nil {
		return err
	}
	w, err := seg.f.WriteAt(rec, off)
	if err == nil && w < len(rec) {
		err = io.ErrShortWrite
	}
	if err == nil {
		l.writeBehind(seg, off+int64(w))
		return nil
	}
	err = fmt.Errorf("pagelog: append lsn %d: write segment %s offset %d: %w", n, seg.name, off, err)
	if errors.Is(err, syscall.ENOSPC) {
		// A full disk. Nothing of this record was acknowledged, so cut
		// off whatever part of it reached the file and stay usable: the
		// caller reports ENOSPC, and a later Append succeeds once space
		// is freed. Only if the cut fails is the log broken.
		if terr := seg.f.Truncate(off); terr == nil {
			if l.prealloc {
				_ = seg.f.Allocate(l.segSize)
			}
			return err
		}
	}
	return l.setBroken(err)
}

// encode builds the record in the scratch buffer: header, meta, gap, data
// (compressed if that is shorter), zero padding, for the end of segment
// seg (nil: none yet, and the record is encoded again after the roll). It
// fills in h.storedLen, h.codec and h.gap and returns the record, which
// stays valid until the next call.
func (l *Log) encode(h *recordHeader, meta, data []byte, seg *segment) []byte {
	dataRoom := len(data)
	if l.codec != CodecNone && len(data) > 0 {
		dataRoom = max(dataRoom, maxCompressedLen(l.codec, len(data)))
	}
	need := recordHeaderLen + len(meta) + dataAlign + dataRoom + recordAlign
	if cap(l.scratch) < need {
		l.scratch = make([]byte, need)
	}
	b := l.scratch[:cap(l.scratch)]
	copy(b[recordHeaderLen:], meta)
	metaEnd := recordHeaderLen + len(meta)

	h.codec, h.storedLen, h.gap = CodecNone, uint32(len(data)), 0
	if l.codec != CodecNone && len(data) > 0 {
		// Compress straight into the record. The destination's capacity
		// covers the worst case, so nothing is allocated.
		if c := compress(l.codec, b[metaEnd:metaEnd:metaEnd+dataRoom], data); len(c) > 0 && len(c) < len(data) {
			h.codec, h.storedLen = l.codec, uint32(len(c))
			if &c[0] != &b[metaEnd] {
				copy(b[metaEnd:], c) // the encoder had to allocate after all
			}
		}
	}
	if h.codec == CodecNone {
		if seg != nil && seg.gaps {
			h.gap = gapFor(seg.size.Load(), len(meta), CodecNone, len(data))
		}
		clear(b[metaEnd : metaEnd+int(h.gap)])
		copy(b[metaEnd+int(h.gap):], data)
	}
	end := metaEnd + int(h.gap) + int(h.storedLen)
	putHeader(b, h)
	sealRecord(b[:end])
	n := int(alignUp(int64(end)))
	clear(b[end:n])
	return b[:n]
}

// roll moves the log on to a new segment whose first record will be
// l.next, created at time created (unix ns). The caller holds l.mu. The
// sync order:
//
//  1. write out the write buffer, cut the current segment to its last
//     record and fsync it, so that a segment other than the last is
//     always complete and only the last one can ever have a torn tail;
//  2. create the new segment under a temporary name, write its header and
//     reserve its full size (reading as zeros, where recovery sees the end);
//  3. fsync it, so that the header is on disk before the name is;
//  4. rename it to its final name;
//  5. fsync the directory, so that the name survives a crash: from now on
//     syncing the segment's data is enough to make its records durable.
//
// Right after step 1 the sealed segment's pages leave the page cache: the
// kernel already caches what the application reads in the mounted files
// (writeback cache, FOPEN_KEEP_CACHE), so these were a second copy, and
// pages given back are what the next segment's writes reuse. Its records
// are read back from the disk when they are needed: a rewind, a view, an
// upload, a page the kernel has dropped.
//
// Any failure breaks the log.
func (l *Log) roll(created int64) error {
	prev := l.cur
	if old := prev; old != nil {
		// The buffered records go to the segment they belong to first;
		// a full disk here leaves everything as it was.
		if err := l.writeOut(); err != nil {
			return err
		}
		// Give back the preallocated space the segment did not use, so
		// that a sealed segment ends at its last record.
		if err := old.f.Truncate(old.size.Load()); err != nil {
			return l.setBroken(fmt.Errorf("pagelog: seal segment %s at offset %d: %w", old.name, old.size.Load(), err))
		}
		if err := old.f.Sync(); err != nil {
			return l.setBroken(fmt.Errorf("pagelog: fsync segment %s before moving on: %w", old.name, err))
		}
		l.markDurable(old.last)
		// Dropping its pages from the cache (4-5 ms for 64 MiB) and
		// writing its index happen off the lock.
		l.queueSealed(old, old.ix)
		old.ix = nil
	}
	first := l.next
	name := segmentName(first)
	final := l.path(name)
	var f File
	var tmp string
	if prev == nil {
		l.firstSpare()
	}
	if prev == nil || spareWorthIt(prev.syncs.Load(), prev.size.Load()) {
		f, tmp = l.takeSpare()
	}
	fresh := f == nil
	if fresh {
		tmp = final + ".tmp"
		var err error
		f, err = l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			err = fmt.Errorf("pagelog: create segment %s: %w", name, err)
			if errors.Is(err, syscall.ENOSPC) {
				_ = l.fs.Remove(tmp)
				return err
			}
			return l.setBroken(err)
		}
	}
	fail := func(what string, err error) error {
		f.Close()
		err = fmt.Errorf("pagelog: create segment %s: %s: %w", name, what, err)
		if errors.Is(err, syscall.ENOSPC) {
			// The new segment holds nothing yet and has no final name:
			// remove it and stay usable; the next Append tries again.
			if rerr := l.fs.Remove(tmp); rerr == nil {
				return err
			}
		}
		return l.setBroken(err)
	}
	hdr := encodeSegHeader(segHeader{volume: l.volume, first: first, created: created})
	if n, err := f.WriteAt(hdr, 0); err != nil || n < len(hdr) {
		if err == nil {
			err = io.ErrShortWrite
		}
		return fail("write header", err)
	}
	// Reserve the whole segment now. Appends then write into allocated
	// blocks and never change the file's size, so an fdatasync commits
	// data alone instead of a size change through the file system's
	// journal: on ext4 that is about twice the syncs per second. A file
	// system that cannot reserve space just gets appends.
	if l.prealloc && fresh {
		_ = f.Allocate(l.segSize)
	}
	if err := f.Sync(); err != nil {
		return fail("fsync", err)
	}
	if err := l.fs.Rename(tmp, final); err != nil {
		return fail("rename", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		f.Close()
		return l.setBroken(fmt.Errorf("pagelog: create segment %s: fsync directory: %w", name, err))
	}
	seg := &segment{name: name, first: first, f: f, last: first - 1, ix: newIndexBuf(), zeroed: !fresh, gaps: true}
	seg.size.Store(segHeaderLen)
	l.addSegment(seg)
	l.cur = seg
	l.prepareSpare()
	return nil
}
