package pagelog

import (
	"errors"
	"fmt"
	"io"

	"github.com/rewindfs/rewindfs/lsn"
)

// readWindow is how much of a segment the scanner reads at once.
const readWindow = 1 << 20

// segReader reads a segment file sequentially through a window, so that a
// scan of small records costs one read per window and not one per record.
// It never reads at or past size.
type segReader struct {
	f    File
	name string
	size int64
	once bool   // read with ReadOnce: leave no pages in the cache
	buf  []byte // file bytes [off, off+len(buf))
	off  int64
}

// bytes returns the n bytes at off, or io.ErrUnexpectedEOF if they run past
// the end. The slice is only valid until the next call.
func (r *segReader) bytes(off int64, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > r.size {
		return nil, io.ErrUnexpectedEOF
	}
	if off >= r.off && off+n <= r.off+int64(len(r.buf)) {
		return r.buf[off-r.off : off-r.off+n], nil
	}
	want := max(n, readWindow)
	want = min(want, r.size-off)
	// Keep what is already buffered from off on, and read only the rest:
	// a record longer than the window (a 1 MiB write) would otherwise be
	// read twice, once for its header and once whole, doubling the bytes a
	// mount reads.
	var kept []byte
	if off >= r.off && off < r.off+int64(len(r.buf)) {
		kept = r.buf[off-r.off:]
	}
	// Only reached when [off, off+n) is not all buffered, so what is kept
	// is shorter than n, and so than want.
	keep := min(int64(len(kept)), want)
	kept = kept[:keep]
	if int64(cap(r.buf)) < want {
		nb := make([]byte, want)
		copy(nb, kept)
		r.buf = nb
	} else {
		copy(r.buf[:keep], kept) // copy handles the overlap
		r.buf = r.buf[:want]
	}
	read := r.f.ReadAt
	if r.once {
		read = r.f.ReadOnce
	}
	got, err := read(r.buf[keep:], off+keep)
	if int64(got) == want-keep {
		err = nil
	}
	if err != nil {
		r.buf = r.buf[:0]
		if errors.Is(err, io.EOF) {
			// The file shrank under us: treat it like a short file.
			return nil, io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("pagelog: read segment %s offset %d: %w", r.name, off, err)
	}
	r.off = off
	return r.buf[:n], nil
}

// walker delivers the records of consecutive segments, checking that the
// LSNs are contiguous and the times non-decreasing.
type walker struct {
	next     lsn.LSN // LSN the next record must have; 0 before the first segment
	lastTime int64
	records  int64
	fn       func(*Scanned) error
	sc       Scanned
	// checkData makes the walker decompress every compressed data part
	// and check its length against the header (Verify).
	checkData bool
	// ix, if set, collects the index entries of the segment being walked.
	ix *indexBuf
	// once makes the walker read the segments with ReadOnce, for a check
	// that reads them for no one else (VerifySealed, Verify): what it
	// reads does not stay in the page cache, and it pushes nothing out.
	once bool
}

// segWalk is what walking one segment found.
type segWalk struct {
	end       int64 // offset just past the last valid record
	firstTime int64
	lastTime  int64
	records   int64
	// tornWhy is set when the segment ends in bytes that are not a valid
	// record and no valid record follows them: a torn tail if this is the
	// last segment, corruption otherwise.
	tornWhy string
}

// walkSegment reads the records of seg from its header up to size and
// calls w.fn for each. A bad record followed by a valid one, or a valid
// record with an unexpected LSN or time, is corruption and returned as an
// error; a bad tail is reported in the result for the caller to judge.
func (w *walker) walkSegment(seg *segment, idx int, size int64) (segWalk, error) {
	res := segWalk{end: segHeaderLen}
	if w.next == 0 {
		w.next = seg.first
	}
	if seg.first != w.next {
		return res, corruptAt(ErrCorrupt, seg.name, 0, uint64(w.next),
			fmt.Sprintf("segment starts at lsn %d: lsn gap between segments", seg.first))
	}
	r := &segReader{f: seg.f, name: seg.name, size: size, once: w.once}
	off := int64(segHeaderLen)
	for off < size {
		h, meta, stored, n, why, err := readRecord(r, off)
		if err != nil {
			return res, err
		}
		if why != "" {
			// Segments are preallocated, so the unused rest of one reads
			// as zeros: that is where the log ends, not a torn tail.
			zeroEnd, err := zerosFrom(r, off)
			if err != nil {
				return res, err
			}
			if zeroEnd == size {
				return res, nil
			}
			found, err := validRecordAfter(r, off, w.next-1)
			if err != nil {
				return res, err
			}
			switch {
			case found >= 0 && zeroEnd >= found:
				// Nothing but zeros up to a valid record: a crash kept a
				// later unsynced write and lost an earlier one (disks
				// persist unsynced writes in any order). Everything from
				// here on was never synced, so it is a torn tail.
				res.tornWhy = fmt.Sprintf("%s, then zeros up to an unsynced record at offset %d", why, found)
			case found >= 0:
				return res, corruptAt(ErrCorrupt, seg.name, off, uint64(w.next),
					fmt.Sprintf("%s, with a valid record at offset %d after it", why, found))
			default:
				res.tornWhy = why
			}
			return res, nil
		}
		if h.lsn != w.next {
			return res, corruptAt(ErrCorrupt, seg.name, off, uint64(w.next),
				fmt.Sprintf("record has lsn %d: lsn gap", h.lsn))
		}
		if h.time < w.lastTime {
			return res, corruptAt(ErrCorrupt, seg.name, off, uint64(w.next),
				fmt.Sprintf("record time %d before previous record time %d", h.time, w.lastTime))
		}
		if w.checkData && h.codec != CodecNone {
			raw, err := decompress(h.codec, stored, int(h.rawLen))
			if err == nil && len(raw) != int(h.rawLen) {
				err = fmt.Errorf("%d bytes, header says %d", len(raw), h.rawLen)
			}
			if err != nil {
				return res, corruptAt(ErrCorrupt, seg.name, off, uint64(w.next),
					fmt.Sprintf("%s data part does not decompress: %v", h.codec, err))
			}
		}
		if res.records == 0 {
			res.firstTime = h.time
		}
		res.lastTime = h.time
		res.records++
		w.records++
		w.lastTime = h.time
		w.next++
		if w.ix != nil {
			w.ix.add(h.time, off, h.typ, h.codec, h.gap, meta, h.rawLen, h.storedLen)
		}
		if w.fn != nil {
			w.sc = Scanned{
				LSN:     h.lsn,
				Time:    h.time,
				Type:    h.typ,
				Meta:    meta,
				DataLen: h.rawLen,
				Data: Location{
					Seg:   uint32(idx),
					Off:   uint32(off + h.dataAt()),
					Len:   h.storedLen,
					Codec: h.codec,
				},
			}
			if err := w.fn(&w.sc); err != nil {
				return res, err
			}
		}
		off += n
		res.end = off
	}
	return res, nil
}

// readRecord reads and checks the record at off. why is set if the record
// is bad; err only for a failed read. A file that turns out shorter than
// its size said (another process cut it) ends in a bad record.
func readRecord(r *segReader, off int64) (h recordHeader, meta, stored []byte, n int64, why string, err error) {
	hb, err := r.bytes(off, min(recordHeaderLen, r.size-off))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return h, nil, nil, 0, "segment shorter than its size", nil
	}
	if err != nil {
		return h, nil, nil, 0, "", err
	}
	h, why = decodeHeader(hb)
	if why != "" {
		return h, nil, nil, 0, why, nil
	}
	if off+h.recordLen() > r.size {
		return h, nil, nil, 0, "record runs past end of segment", nil
	}
	b, err := r.bytes(off, h.recordLen())
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return h, nil, nil, 0, "segment shorter than its size", nil
	}
	if err != nil {
		return h, nil, nil, 0, "", err
	}
	h, meta, stored, n, why = decodeRecord(b)
	return h, meta, stored, n, why, nil
}

// zerosFrom returns the offset of the first non-zero byte at or after off,
// or r.size if there is none.
func zerosFrom(r *segReader, off int64) (int64, error) {
	for off < r.size {
		n := min(int64(readWindow), r.size-off)
		b, err := r.bytes(off, n)
		if err != nil {
			return 0, err
		}
		for i, c := range b {
			if c != 0 {
				return off + int64(i), nil
			}
		}
		off += n
	}
	return r.size, nil
}

// validRecordAfter looks for a valid record after the bad one at off, in
// 8-byte steps, whose LSN is greater than last. It returns its offset, or
// -1 if there is none: then the bad bytes are a torn tail.
func validRecordAfter(r *segReader, off int64, last lsn.LSN) (int64, error) {
	for p := off + recordAlign; p+recordHeaderLen <= r.size; p += recordAlign {
		h, _, _, _, why, err := readRecord(r, p)
		if err != nil {
			return -1, err
		}
		if why == "" && h.lsn > last {
			return p, nil
		}
	}
	return -1, nil
}
