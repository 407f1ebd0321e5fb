package fsstate

import (
	"math/rand/v2"
	"testing"

	"github.com/rewindfs/rewindfs/pagelog"
)

// TestPageTableCount checks the running count of written pages against a
// count of what Each visits, through random sets, clears, truncations and
// clones (Count is kept, not computed, since st_blocks asks on every write).
func TestPageTableCount(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var pt PageTable
	clones := []PageTable{}
	for i := range 20000 {
		p := r.Uint64N(4 * chunkPages)
		switch r.IntN(10) {
		case 0:
			pt.TruncatePages(r.Uint64N(4 * chunkPages))
		case 1, 2:
			pt.Clear(p)
		case 3:
			if i%50 == 0 {
				clones = append(clones, pt.Clone())
			}
		default:
			pt.Set(p, PageRef{Loc: pagelog.Location{Len: 1 + uint32(i)}})
		}
		if got, want := pt.Count(), visited(t, &pt); got != want {
			t.Fatalf("step %d: Count %d, Each visits %d", i, got, want)
		}
	}
	for i := range clones {
		if got, want := clones[i].Count(), visited(t, &clones[i]); got != want {
			t.Fatalf("clone %d: Count %d, Each visits %d", i, got, want)
		}
	}
}

func visited(t *testing.T, pt *PageTable) int {
	n := 0
	if err := pt.Each(func(uint64, PageRef) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
