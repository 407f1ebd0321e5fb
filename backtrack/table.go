package backtrack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// Entry is what History keeps of one record.
type Entry struct {
	LSN     lsn.LSN
	Time    int64 // unix nanoseconds
	Type    pagelog.Type
	Data    pagelog.Location
	MetaLen int    // bytes of the record's metadata part in the log
	packed  []byte // the metadata part, packed (see packMeta); in the table's arena
}

// Op decodes the record's operation from its metadata.
func (e Entry) Op() (fsstate.Op, error) {
	var buf [128]byte
	meta, err := unpackMeta(e.packed, buf[:0])
	if err != nil {
		return fsstate.Op{Type: e.Type}, fmt.Errorf("backtrack: record %d: %w", e.LSN, err)
	}
	op, err := fsstate.DecodeMeta(e.Type, meta)
	if err != nil {
		return op, fmt.Errorf("backtrack: record %d: %w", e.LSN, err)
	}
	return op, nil
}

// The table holds one slot per record: 32 bytes, in blocks of blockLen
// slots, plus the record's packed metadata in an arena of arenaChunk-byte
// chunks. Blocks are never grown or copied, so adding a record never moves
// the table (a slice of ten million entries would be copied whole, under
// the volume's lock, when it doubled), and no capacity is left over but
// in the last block.
//
// A slot, once written, never changes, and neither does a block's or a
// chunk's slice header (a chunk is allocated at its full length; how much
// of the last one is used is kept in the table); dropping records from the
// front (Rebase) makes new slices of those headers. So a copy of the
// table's headers is a snapshot that can be read without the lock while
// records are added (Entries): adding writes only bytes no snapshot reads.
const (
	blockShift = 14
	blockLen   = 1 << blockShift // slots per block: 512 KiB
	arenaChunk = 1 << 20         // bytes per arena chunk (more for one larger record)
)

// slot is one record in the table. The LSN is not kept: the i-th slot after
// the table's first is the record at first+i.
type slot struct {
	time     int64
	seg, off uint32 // pagelog.Location, its fields laid out
	dataLen  uint32
	codec    pagelog.Codec
	typ      pagelog.Type
	_        uint16
	chunk    uint32 // the arena chunk holding the packed meta (absolute number)
	at       uint32 // its offset in the chunk
}

type table struct {
	first  lsn.LSN  // LSN of the record in slot 0 (of skip)
	blocks [][]slot // blocks[0][skip] is the first record
	skip   int
	n      int      // records in the table
	chunks [][]byte // arena chunks; chunks[0] is number chunk0
	chunk0 uint32
	used   int // bytes used in the last chunk
}

// add appends the record at LSN t.first+t.n.
func (t *table) add(tm int64, typ pagelog.Type, meta []byte, data pagelog.Location) {
	need := packedLen(meta)
	last := len(t.chunks) - 1
	if last < 0 || len(t.chunks[last])-t.used < need {
		t.chunks = append(t.chunks, make([]byte, max(arenaChunk, need)))
		last++
		t.used = 0
	}
	at := t.used
	packMeta(t.chunks[last][at:at:at+need], meta) // in place: the capacity is exact
	t.used += need

	j := t.skip + t.n
	if j>>blockShift == len(t.blocks) {
		t.blocks = append(t.blocks, make([]slot, blockLen))
	}
	t.blocks[j>>blockShift][j&(blockLen-1)] = slot{
		time: tm, seg: data.Seg, off: data.Off, dataLen: data.Len, codec: data.Codec, typ: typ,
		chunk: t.chunk0 + uint32(last), at: uint32(at),
	}
	t.n++
}

// slot returns the i-th record's slot (0 is the first).
func (t *table) slot(i int) *slot {
	j := t.skip + i
	return &t.blocks[j>>blockShift][j&(blockLen-1)]
}

// entry returns the i-th record.
func (t *table) entry(i int) Entry {
	s := t.slot(i)
	c := t.chunks[s.chunk-t.chunk0][s.at:] // unpackMeta stops at the record's end
	n, _ := binary.Uvarint(c)
	return Entry{
		LSN: t.first + lsn.LSN(i), Time: s.time, Type: s.typ,
		Data:    pagelog.Location{Seg: s.seg, Off: s.off, Len: s.dataLen, Codec: s.codec},
		MetaLen: int(n), packed: c,
	}
}

// typ and time are the two fields read in loops over many records, without
// unpacking the rest.
func (t *table) typ(i int) pagelog.Type { return t.slot(i).typ }
func (t *table) time(i int) int64       { return t.slot(i).time }

// dropFront forgets the first k records. Blocks and chunks no record needs
// any more are let go; the ones kept are shared with earlier snapshots,
// which read only slots that never change.
func (t *table) dropFront(k int) {
	k = min(k, t.n)
	if k <= 0 {
		return
	}
	t.first += lsn.LSN(k)
	t.n -= k
	t.skip += k
	if drop := t.skip >> blockShift; drop > 0 {
		t.blocks = slices.Clone(t.blocks[drop:])
		t.skip -= drop << blockShift
	}
	keep := len(t.chunks) - 1 // the chunk being filled stays
	if t.n > 0 {
		keep = int(t.slot(0).chunk - t.chunk0)
	}
	if keep > 0 {
		t.chunks = slices.Clone(t.chunks[keep:])
		t.chunk0 += uint32(keep)
	}
	if t.n == 0 {
		t.blocks, t.skip = nil, 0
	}
}

// records returns the records i in [from, to) of a snapshot of the table:
// it may be ranged over after the caller's lock is released.
func (t *table) records(from, to int) iter.Seq[Entry] {
	snap := *t
	return func(yield func(Entry) bool) {
		for i := from; i < to; i++ {
			if !yield(snap.entry(i)) {
				return
			}
		}
	}
}

// Metadata is packed for memory, not for disk: most of a record's
// metadata is little-endian integers whose high bytes are zero (an inode
// number, an offset, a length, a page count). The packed form is
//
//	uvarint  n, the metadata's length
//	n/8 B    a bitmap, rounded up: bit i%8 of byte i/8 is set when byte i is not zero
//	...      the bytes that are not zero, in order
//
// A 4 KiB write's 32 bytes of metadata pack into about 17.
var errPacked = errors.New("packed metadata is damaged")

// packedLen returns the bytes packMeta appends for meta.
func packedLen(meta []byte) int {
	nz := 0
	for _, b := range meta {
		if b != 0 {
			nz++
		}
	}
	return uvarintLen(uint64(len(meta))) + (len(meta)+7)/8 + nz
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// packMeta appends the packed form of meta to dst.
func packMeta(dst, meta []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(meta)))
	bm := len(dst)
	for range (len(meta) + 7) / 8 {
		dst = append(dst, 0)
	}
	for i, b := range meta {
		if b != 0 {
			dst[bm+i/8] |= 1 << (i % 8)
			dst = append(dst, b)
		}
	}
	return dst
}

// unpackMeta appends the metadata packed in p to dst.
func unpackMeta(p, dst []byte) ([]byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(pagelog.MaxMetaLen) {
		return dst, errPacked
	}
	p = p[k:]
	bm := (int(n) + 7) / 8
	if len(p) < bm {
		return dst, errPacked
	}
	bitmap, vals := p[:bm], p[bm:]
	dst = slices.Grow(dst, int(n))
	for i := range int(n) {
		var b byte
		if bitmap[i/8]&(1<<(i%8)) != 0 {
			if len(vals) == 0 {
				return dst, errPacked
			}
			b, vals = vals[0], vals[1:]
		}
		dst = append(dst, b)
	}
	return dst, nil
}
