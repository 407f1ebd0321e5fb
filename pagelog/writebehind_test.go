package pagelog

import (
	"math/rand/v2"
	"path"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWriteBehind appends a mix of buffered and direct records and checks
// what the log asked the kernel to write back: whole pages, in order and
// without gaps from the segment's start, at least writeBehindEvery at a
// time, never the page still being appended to, and never far behind.
func TestWriteBehind(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	l, _, mem, _ := memLog(t, Options{SegmentSize: 64 << 20})
	written := int64(0)
	for written < 6<<20 {
		size := 1 + rng.IntN(8<<10) // into the write buffer
		if rng.IntN(8) == 0 {
			size = 64<<10 + rng.IntN(512<<10) // written at once
		}
		appendTest(t, l, rng, 16, size)
		written += int64(size)
		if rng.IntN(16) == 0 {
			require.NoError(t, l.Sync(l.Head()))
		}
	}
	require.NoError(t, l.WriteOut())
	segs := l.Segments()
	require.Len(t, segs, 1)
	size := int64(segs[0].Size)
	require.NoError(t, l.Close()) // waits for the worker

	ranges := mem.WritebackRanges(path.Join("/log", segs[0].Name))
	require.NotEmpty(t, ranges)
	next := int64(0)
	for i, r := range ranges {
		off, n := r[0], r[1]
		require.Equal(t, next, off, "range %d starts where the one before ended", i)
		require.Zero(t, off%writeBehindPage, "range %d: whole pages", i)
		require.Zero(t, n%writeBehindPage, "range %d: whole pages", i)
		require.GreaterOrEqual(t, n, int64(writeBehindEvery), "range %d: at least writeBehindEvery", i)
		next = off + n
	}
	require.LessOrEqual(t, next, size&^(writeBehindPage-1), "the page being appended to is left out")
	require.Greater(t, next, size-writeBehindEvery-writeBehindPage-(576<<10), "write-behind keeps up with the appends")
}
