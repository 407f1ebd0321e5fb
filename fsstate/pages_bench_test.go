package fsstate

import (
	"math/rand"
	"testing"

	"github.com/rewindfs/rewindfs/pagelog"
)

// BenchmarkPageTableGet is the page index lookup every READ and every
// unaligned WRITE makes: a page of a 1 GiB file, at random.
func BenchmarkPageTableGet(b *testing.B) {
	const pages = 1 << 18 // 1 GiB of 4 KiB pages
	var t PageTable
	for p := uint64(0); p < pages; p++ {
		t.Set(p, PageRef{Loc: pagelog.Location{Seg: uint32(p >> 14), Off: uint32(p), Len: 4096}})
	}
	rng := rand.New(rand.NewSource(1))
	idx := make([]uint64, 4096)
	for i := range idx {
		idx[i] = uint64(rng.Intn(pages))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if t.Get(idx[i&4095]).IsHole() {
			b.Fatal("hole")
		}
		i++
	}
}

// BenchmarkPageTableSet is the page index update of every page written.
func BenchmarkPageTableSet(b *testing.B) {
	const pages = 1 << 18
	var t PageTable
	rng := rand.New(rand.NewSource(1))
	b.ReportAllocs()
	i := uint32(1)
	for b.Loop() {
		t.Set(uint64(rng.Intn(pages)), PageRef{Loc: pagelog.Location{Off: i, Len: 4096}})
		i++
	}
}
