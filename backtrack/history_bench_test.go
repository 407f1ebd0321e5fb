package backtrack

import (
	"testing"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// BenchmarkHistoryAdd is what every record costs the history on the write
// path: its slot and its packed metadata.
func BenchmarkHistoryAdd(b *testing.B) {
	h := New(4096, fsstate.Root{})
	meta := (&fsstate.Op{Type: fsstate.OpWrite, Ino: 42, Off: 1 << 20, Len: 4096, FirstPage: 256, NPages: 1}).AppendMeta(nil)
	loc := pagelog.Location{Seg: 3, Off: 4096, Len: 4096}
	b.ReportAllocs()
	l := lsn.LSN(1)
	for b.Loop() {
		if err := h.Add(l, int64(l), fsstate.OpWrite, meta, loc); err != nil {
			b.Fatal(err)
		}
		l++
	}
}

// BenchmarkEntryOp is what a rewind pays per record on its path before
// applying it: finding the entry and decoding its operation.
func BenchmarkEntryOp(b *testing.B) {
	h := New(4096, fsstate.Root{})
	const n = 1 << 16
	for i := lsn.LSN(1); i <= n; i++ {
		meta := (&fsstate.Op{Type: fsstate.OpWrite, Ino: 42, Off: uint64(i) << 12, Len: 4096, FirstPage: uint64(i), NPages: 1}).AppendMeta(nil)
		if err := h.Add(i, int64(i), fsstate.OpWrite, meta, pagelog.Location{Len: 4096}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e := h.EntryAt(i % n)
		op, err := e.Op()
		if err != nil || op.NPages != 1 {
			b.Fatal(op, err)
		}
		i++
	}
}
