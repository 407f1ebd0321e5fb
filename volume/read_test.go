package volume

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/internal/pagecache"
)

// cachedPages counts the pages of the given files in the page cache.
func cachedPages(t *testing.T, paths []string) int {
	t.Helper()
	n := 0
	for _, p := range paths {
		k, err := pagecache.Resident(p)
		require.NoError(t, err)
		n += k
	}
	return n
}

// A read of a page or two is a database's random read: from a sealed
// segment it leaves none of the segment's pages in the page cache (the
// kernel caches the file's page itself). A large read of small records is
// a sequential stream: their pages stay for the segment's readahead to
// serve the next ones from.
func TestSmallReadsLeaveNoSegmentPages(t *testing.T) {
	v, dir, _ := clockVolume(t, InitOptions{Window: time.Hour, SegmentSize: 1 << 20}, true)
	defer v.Close()
	if !pagecache.Droppable(dir) {
		t.Skip("TMPDIR is on tmpfs, where a file's cached pages are the file")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	write := func(name string, size, piece int) (uint64, []byte) {
		f, err := v.Create(fsstate.RootIno, name, 0o100600, 0, 0, 0, false)
		require.NoError(t, err)
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32()) // no compression would shrink it
		}
		for off := 0; off < size; off += piece {
			_, err := v.Write(f.Ino, int64(off), data[off:off+piece])
			require.NoError(t, err)
		}
		return f.Ino, data
	}
	bigIno, big := write("big", 3<<20, 64<<10)
	smallIno, small := write("small", 1<<20, 8<<10)
	write("last", 2<<20, 64<<10) // so that the others' segments are sealed
	require.NoError(t, v.Sync())
	sealed := sealedSegments(t, dir)
	require.GreaterOrEqual(t, len(sealed), 5)
	require.Zero(t, cachedPages(t, sealed), "the rolls left sealed segments cached")

	page := make([]byte, 8192)[4096:] // page-aligned, as go-fuse's buffers are
	for i := 0; i < 20; i++ {
		off := int64(rng.IntN(len(big)/4096)) * 4096
		n, err := v.Read(bigIno, off, page)
		require.NoError(t, err)
		require.Equal(t, big[off:off+int64(n)], page[:n])
	}
	require.Zero(t, cachedPages(t, sealed), "4 KiB reads left pages of sealed segments cached")

	stream := make([]byte, 256<<10)
	n, err := v.Read(smallIno, 0, stream)
	require.NoError(t, err)
	require.Equal(t, small[:n], stream[:n])
	require.NotZero(t, cachedPages(t, sealed), "a 256 KiB read of 8 KiB records left nothing cached for the next one")
}
