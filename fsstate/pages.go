package fsstate

import (
	"slices"

	"github.com/rewindfs/rewindfs/pagelog"
)

// PageRef locates one page: the data part of the record that wrote it, and
// the page's byte offset inside that data part. The zero PageRef is a hole,
// which reads as zeros (a record with a data part always has Loc.Len > 0).
type PageRef struct {
	Loc   pagelog.Location
	Inner uint32
}

// IsHole reports whether the page has never been written (or was cut off).
func (p PageRef) IsHole() bool { return p.Loc.Len == 0 }

// chunkPages is how many pages one chunk of a page table covers: 256 pages
// of 4 KiB are 1 MiB of file, and a chunk costs 5 KiB of memory.
const chunkPages = 256

type chunk struct {
	refs [chunkPages]PageRef
	used int // non-hole refs, so an emptied chunk can be dropped
}

// PageTable maps a file's page numbers to their newest versions. It is
// chunked so that sparse and very large files cost memory only for the parts
// that were written.
type PageTable struct {
	chunks map[uint64]*chunk
	used   int // non-hole refs in all chunks: st_blocks is asked for on every write and fsync
}

// Get returns the reference for page p (a hole if never written).
func (t *PageTable) Get(p uint64) PageRef {
	c := t.chunks[p/chunkPages]
	if c == nil {
		return PageRef{}
	}
	return c.refs[p%chunkPages]
}

// Set points page p at ref.
func (t *PageTable) Set(p uint64, ref PageRef) {
	if t.chunks == nil {
		t.chunks = make(map[uint64]*chunk)
	}
	c := t.chunks[p/chunkPages]
	if c == nil {
		c = &chunk{}
		t.chunks[p/chunkPages] = c
	}
	slot := &c.refs[p%chunkPages]
	if slot.IsHole() {
		c.used++
		t.used++
	}
	*slot = ref
}

// Clear makes page p a hole.
func (t *PageTable) Clear(p uint64) {
	c := t.chunks[p/chunkPages]
	if c == nil {
		return
	}
	slot := &c.refs[p%chunkPages]
	if !slot.IsHole() {
		c.used--
		t.used--
		*slot = PageRef{}
	}
	if c.used == 0 {
		delete(t.chunks, p/chunkPages)
	}
}

// TruncatePages drops every page numbered n or higher.
func (t *PageTable) TruncatePages(n uint64) {
	for k := range t.chunks {
		first := k * chunkPages
		switch {
		case first >= n:
			t.used -= t.chunks[k].used
			delete(t.chunks, k)
		case first+chunkPages > n:
			for p := n; p < first+chunkPages; p++ {
				t.Clear(p)
			}
		}
	}
}

// Count returns how many pages are not holes.
func (t *PageTable) Count() int { return t.used }

// Clone returns an independent copy.
func (t *PageTable) Clone() PageTable {
	if t.chunks == nil {
		return PageTable{}
	}
	out := PageTable{chunks: make(map[uint64]*chunk, len(t.chunks)), used: t.used}
	for k, c := range t.chunks {
		cc := *c
		out.chunks[k] = &cc
	}
	return out
}

// Each calls fn for every page that is not a hole, in page order.
func (t *PageTable) Each(fn func(p uint64, ref PageRef) error) error {
	keys := make([]uint64, 0, len(t.chunks))
	for k := range t.chunks {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c := t.chunks[k]
		for i := range c.refs {
			if !c.refs[i].IsHole() {
				if err := fn(k*chunkPages+uint64(i), c.refs[i]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Empty reports whether every page is a hole.
func (t *PageTable) Empty() bool { return len(t.chunks) == 0 }
