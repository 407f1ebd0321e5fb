package pagelog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strings"

	"github.com/rewindfs/rewindfs/lsn"
)

// Segment indexes.
//
// Opening a log used to read every byte of every segment, data included,
// to rebuild the state: a mount of a volume with 4 GiB in its window read
// 4 GiB. Yet a sealed segment never changes. So the log keeps, for the
// segment it appends to, each record's header fields and meta part as it
// appends them (or as Open's scan finds them), and once the segment is
// sealed a background goroutine writes them to "<segment>.idx" beside it,
// with a CRC-32C over the whole file. Open reads the index of a sealed
// segment instead of the segment, and scans only the last one (and any
// sealed one whose index is missing or does not match, writing its index
// from that scan). A 4 KiB page write is 4 KiB of segment and about 60
// bytes of index. Building the index from what was appended, not from a
// second read of the segment, keeps it off the disk: a re-read competes
// with the database's own reads once the page cache has let the segment
// go.
//
// What that gives up: Open no longer rereads old records' data, so a
// sealed segment that rotted on the disk after it was indexed is found by
// `rewindfs verify` (which never uses indexes), not by a mount. The index
// itself is checked whole: a torn, truncated or stale one (its segment's
// size or first LSN differs) is ignored and rewritten, never trusted.
//
// An index is an optimization and needs no sync: it is written under a
// temporary name and renamed, and a crash at any point leaves either no
// index, a whole one, or a ".idx.tmp" that Open removes.
//
// Layout (little endian):
//
//	magic "RWFSIDX2" | first LSN u64 | segment size u64 | records u32
//	records × ( time i64 | offset u32 | type u8 | codec u8 | gap u16 | meta length u32 | raw length u32 | stored length u32 | meta )
//	CRC-32C u32 of everything before it
//
// An index of the first layout, "RWFSIDX1", has no gap field (its
// segments' records have none) and is still read.

const (
	indexSuffix    = ".idx"
	indexTmpSuffix = ".idx.tmp"
	indexMagic     = "RWFSIDX2"
	indexMagicOld  = "RWFSIDX1"
	indexHeaderLen = 8 + 8 + 8 + 4
	indexEntryLen  = 8 + 4 + 1 + 1 + 2 + 4 + 4 + 4
)

func indexName(segName string) string { return segName + indexSuffix }

// IndexName names the index file of the segment file segName. An index
// never changes once written (a new one replaces it by rename), so a clone
// may hard-link it along with its segment.
func IndexName(segName string) string { return indexName(segName) }

// isIndexFile says whether a file in the log directory is an index or an
// unfinished one, and names the segment it belongs to.
func isIndexFile(name string) (seg string, tmp, ok bool) {
	if s, ok := strings.CutSuffix(name, indexTmpSuffix); ok {
		return s, true, true
	}
	if s, ok := strings.CutSuffix(name, indexSuffix); ok {
		return s, false, true
	}
	return "", false, false
}

// indexEntry is one record as the index holds it.
type indexEntry struct {
	time      int64
	off       uint32 // of the record in the segment
	typ       Type
	codec     Codec
	gap       uint16
	rawLen    uint32
	storedLen uint32
	meta      []byte
}

// indexBuf collects the index entries of one segment, in the file's
// layout, as its records are appended or scanned.
type indexBuf struct {
	b []byte // the header's room, then the entries
	n uint32 // entries
}

func newIndexBuf() *indexBuf {
	return &indexBuf{b: make([]byte, indexHeaderLen, 64<<10)}
}

// add records one record: its time, its offset in the segment, its header
// fields and its meta part.
func (x *indexBuf) add(time, off int64, typ Type, codec Codec, gap uint16, meta []byte, rawLen, storedLen uint32) {
	b := x.b
	b = binary.LittleEndian.AppendUint64(b, uint64(time))
	b = binary.LittleEndian.AppendUint32(b, uint32(off))
	b = append(b, byte(typ), byte(codec))
	b = binary.LittleEndian.AppendUint16(b, gap)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta)))
	b = binary.LittleEndian.AppendUint32(b, rawLen)
	b = binary.LittleEndian.AppendUint32(b, storedLen)
	x.b = append(b, meta...)
	x.n++
}

// file completes the index of a segment that starts at LSN first and is
// size bytes long; x is not used afterwards.
func (x *indexBuf) file(first lsn.LSN, size int64) []byte {
	b := x.b
	copy(b, indexMagic)
	binary.LittleEndian.PutUint64(b[8:], uint64(first))
	binary.LittleEndian.PutUint64(b[16:], uint64(size))
	binary.LittleEndian.PutUint32(b[24:], x.n)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// errIndex says why an index cannot be used; the segment is scanned
// instead.
var errIndex = errors.New("pagelog: unusable segment index")

// decodeIndex checks an index file against the segment it should describe
// (first LSN, file size) and returns its entries, whose meta slices point
// into b.
func decodeIndex(b []byte, first lsn.LSN, size int64) ([]indexEntry, error) {
	if len(b) < indexHeaderLen+4 || string(b[:8]) != indexMagic && string(b[:8]) != indexMagicOld {
		return nil, fmt.Errorf("%w: bad header", errIndex)
	}
	entryLen, gaps := indexEntryLen, true
	if string(b[:8]) == indexMagicOld {
		entryLen, gaps = indexEntryLen-2, false
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errIndex)
	}
	if lsn.LSN(binary.LittleEndian.Uint64(b[8:])) != first || int64(binary.LittleEndian.Uint64(b[16:])) != size {
		return nil, fmt.Errorf("%w: made for another segment or size", errIndex)
	}
	count := int(binary.LittleEndian.Uint32(b[24:]))
	if count == 0 || count > len(body)/entryLen {
		return nil, fmt.Errorf("%w: %d records", errIndex, count)
	}
	es := make([]indexEntry, count)
	p := indexHeaderLen
	prevEnd := int64(segHeaderLen)
	for i := range es {
		if len(body)-p < entryLen {
			return nil, fmt.Errorf("%w: entry %d cut short", errIndex, i)
		}
		e := &es[i]
		e.time = int64(binary.LittleEndian.Uint64(body[p:]))
		e.off = binary.LittleEndian.Uint32(body[p+8:])
		e.typ, e.codec = Type(body[p+12]), Codec(body[p+13])
		q := p + 14
		if gaps {
			e.gap = binary.LittleEndian.Uint16(body[q:])
			q += 2
		}
		metaLen := int(binary.LittleEndian.Uint32(body[q:]))
		e.rawLen = binary.LittleEndian.Uint32(body[q+4:])
		e.storedLen = binary.LittleEndian.Uint32(body[q+8:])
		p += entryLen
		if e.gap >= dataAlign {
			return nil, fmt.Errorf("%w: entry %d has a gap of %d bytes", errIndex, i, e.gap)
		}
		if metaLen > len(body)-p {
			return nil, fmt.Errorf("%w: entry %d meta runs past the end", errIndex, i)
		}
		e.meta = body[p : p+metaLen]
		p += metaLen
		// Records lie in order, one after the other, inside the segment.
		h := recordHeader{metaLen: uint32(metaLen), storedLen: e.storedLen, gap: e.gap}
		if int64(e.off) < prevEnd || int64(e.off)+h.recordLen() > size {
			return nil, fmt.Errorf("%w: entry %d at offset %d is out of place", errIndex, i, e.off)
		}
		prevEnd = int64(e.off) + h.recordLen()
	}
	if p != len(body) || prevEnd != size {
		return nil, fmt.Errorf("%w: does not cover the segment", errIndex)
	}
	return es, nil
}

// readIndex reads and checks the index of seg, size bytes long.
func (l *Log) readIndex(seg *segment, size int64) ([]indexEntry, error) {
	f, err := l.fs.OpenFile(l.path(indexName(seg.name)), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	if n > size { // an index is far smaller than its segment
		return nil, fmt.Errorf("%w: larger than its segment", errIndex)
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return decodeIndex(b, seg.first, size)
}

// walkIndex delivers the records of a sealed segment from its index, with
// the checks walkSegment makes of LSNs and times.
func (w *walker) walkIndex(seg *segment, idx int, size int64, es []indexEntry) (segWalk, error) {
	res := segWalk{end: size}
	if w.next == 0 {
		w.next = seg.first
	}
	if seg.first != w.next {
		return res, corruptAt(ErrCorrupt, seg.name, 0, uint64(w.next),
			fmt.Sprintf("segment starts at lsn %d: lsn gap between segments", seg.first))
	}
	for i := range es {
		e := &es[i]
		if e.time < w.lastTime {
			return res, corruptAt(ErrCorrupt, seg.name, int64(e.off), uint64(w.next),
				fmt.Sprintf("record time %d before previous record time %d (from the segment's index)", e.time, w.lastTime))
		}
		if i == 0 {
			res.firstTime = e.time
		}
		res.lastTime = e.time
		res.records++
		w.records++
		w.lastTime = e.time
		if w.fn != nil {
			w.sc = Scanned{
				LSN: w.next, Time: e.time, Type: e.typ, Meta: e.meta, DataLen: e.rawLen,
				Data: Location{
					Seg:   uint32(idx),
					Off:   e.off + uint32(recordHeaderLen) + uint32(len(e.meta)) + uint32(e.gap),
					Len:   e.storedLen,
					Codec: e.codec,
				},
			}
			if err := w.fn(&w.sc); err != nil {
				return res, err
			}
		}
		w.next++
	}
	return res, nil
}

// indexJob is a sealed segment whose index the background writes, and
// whose pages it drops from the page cache if drop is set.
type indexJob struct {
	seg  *segment
	x    *indexBuf
	drop bool
}

// queueIndex asks for the index of seg, which is sealed and whose records
// x holds, to be written.
func (l *Log) queueIndex(seg *segment, x *indexBuf) {
	if l.readOnly || x == nil || x.n == 0 {
		return
	}
	l.index.add(indexJob{seg: seg, x: x}, 0, l.doIndexJob)
}

// queueSealed hands seg, which a roll has just sealed and synced, to the
// background: its pages leave the page cache (the database's copies are in
// the kernel's cache of the mount, and a rewind reads a few pages of a
// sealed segment, not a stream), and its index is written. Neither is
// needed for durability, so neither holds the log's lock. A segment that
// is removed first is closed, and dropping its pages does nothing.
func (l *Log) queueSealed(seg *segment, x *indexBuf) {
	l.index.add(indexJob{seg: seg, x: x, drop: true}, 0, l.doIndexJob)
}

func (l *Log) doIndexJob(job indexJob) {
	if job.drop {
		job.seg.f.DropCache(0, 0)
	}
	if job.x == nil || job.x.n == 0 {
		return
	}
	if err := l.writeIndex(job.seg, job.x); err != nil {
		// Only an optimization: Open scans the segment instead.
		_ = l.fs.Remove(l.path(indexName(job.seg.name) + ".tmp"))
	}
}

// waitIndexer waits for the indexer to do what is queued (queueSealed)
// and stop, for Close: writing an index from memory is quick, and a
// volume closed cleanly then opens from indexes only.
func (l *Log) waitIndexer() { l.index.wait() }

// writeIndex writes the index of sealed segment seg from x.
func (l *Log) writeIndex(seg *segment, x *indexBuf) error {
	if seg.removed.Load() {
		return nil
	}
	tmp := l.path(indexName(seg.name) + ".tmp")
	f, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(x.file(seg.first, seg.size.Load()), 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if seg.removed.Load() {
		return l.fs.Remove(tmp)
	}
	return l.fs.Rename(tmp, l.path(indexName(seg.name)))
}

// removeStrayIndexes removes unfinished indexes and indexes whose segment
// is gone (compaction removes the segment first), given the names in the
// log directory and the segments among them.
func (l *Log) removeStrayIndexes() error {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("pagelog: list log directory: %w", err)
	}
	have := map[string]bool{}
	for _, s := range l.segTable() {
		if !s.removed.Load() {
			have[s.name] = true
		}
	}
	for _, name := range names {
		seg, tmp, ok := isIndexFile(name)
		if !ok || (!tmp && have[seg]) {
			continue
		}
		// Gone already is fine: the indexer of a log that was not closed
		// (a test's simulated crash) may remove its own temporary file.
		if err := l.fs.Remove(l.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pagelog: remove stray index %s: %w", name, err)
		}
	}
	return nil
}
