package volume

import (
	"math/rand/v2"
	"os"
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

// droppableVolume is a volume of 1 MiB segments with the given window on a
// disk whose files' cached pages can be given back; on tmpfs the test is
// skipped. Cleanup closes it.
func droppableVolume(t *testing.T, window time.Duration) (*Volume, string, *fakeClock) {
	t.Helper()
	v, dir, clock := clockVolume(t, InitOptions{Window: window, SegmentSize: 1 << 20}, true)
	t.Cleanup(func() { v.Close() })
	if !pagecache.Droppable(dir) {
		t.Skip("TMPDIR is on tmpfs, where a file's cached pages are the file")
	}
	return v, dir, clock
}

// A read of a page or two is a database's random read: from a sealed
// segment it leaves none of the segment's pages in the page cache (the
// kernel caches the file's page itself). A large read of small records is
// a sequential stream: their pages stay for the segment's readahead to
// serve the next ones from.
func TestSmallReadsLeaveNoSegmentPages(t *testing.T) {
	v, dir, _ := droppableVolume(t, time.Hour)
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

// Reads of pages compaction folded into the base image follow the same
// rule: a random read leaves none of the page file in the page cache, and
// a page read of a stream stays cached.
func TestSmallBaseReadsLeaveNoPages(t *testing.T) {
	v, _, clock := droppableVolume(t, time.Second)
	rng := rand.New(rand.NewPCG(2, 2))
	f, err := v.Create(fsstate.RootIno, "db", 0o100600, 0, 0, 0, false)
	require.NoError(t, err)
	data := make([]byte, 2<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	_, err = v.Write(f.Ino, 0, data)
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	clock.Add(time.Minute)
	_, err = v.Write(f.Ino, int64(len(data)), []byte("after the window")) // the fold needs a record after it
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	compactAll(t, v)
	pages := v.img.PagesPath(f.Ino)
	st, err := os.Stat(pages)
	require.NoError(t, err, "compaction folded nothing into the base image")
	require.GreaterOrEqual(t, st.Size(), int64(len(data)))
	pf, err := os.Open(pages)
	require.NoError(t, err)
	pagecache.Drop(pf)
	pf.Close()
	require.Zero(t, cachedPages(t, []string{pages}))

	page := make([]byte, 8192)[4096:] // page-aligned, as go-fuse's buffers are
	for i := 0; i < 20; i++ {
		off := int64(rng.IntN(len(data)/4096)) * 4096
		n, err := v.Read(f.Ino, off, page)
		require.NoError(t, err)
		require.Equal(t, data[off:off+int64(n)], page[:n])
	}
	require.Zero(t, cachedPages(t, []string{pages}), "4 KiB reads of the base image left its pages cached")

	require.NoError(t, v.img.ReadPages(f.Ino, 0, page, false))
	require.Equal(t, data[:4096], page)
	require.NotZero(t, cachedPages(t, []string{pages}), "a page of a stream was not cached")

	// The random and the large reads go direct: they leave the pages a
	// reader of the page file had cached where they were, which reading
	// through the cache and giving back what it read would not.
	warm, err := os.ReadFile(pages)
	require.NoError(t, err)
	require.Equal(t, data, warm[:len(data)])
	cached := cachedPages(t, []string{pages})
	require.GreaterOrEqual(t, cached, len(data)/4096)
	for i := 0; i < 20; i++ {
		off := int64(rng.IntN(len(data)/4096)) * 4096
		require.NoError(t, v.img.ReadPages(f.Ino, off, page, true))
		require.Equal(t, data[off:off+4096], page)
	}
	large := make([]byte, (256<<10)+4096)[4096:]
	require.NoError(t, v.img.ReadPages(f.Ino, 1<<20, large, false))
	require.Equal(t, data[1<<20:(1<<20)+len(large)], large)
	require.Equal(t, cached, cachedPages(t, []string{pages}), "random and large reads of the base image evicted cached pages: they did not go direct")
}

// A fold leaves none of the page files it wrote in the page cache.
func TestFoldLeavesNoPages(t *testing.T) {
	v, _, clock := droppableVolume(t, time.Second)
	f, err := v.Create(fsstate.RootIno, "db", 0o100600, 0, 0, 0, false)
	require.NoError(t, err)
	for i := 0; i < 64; i++ {
		_, err = v.Write(f.Ino, int64(i)*8192, make([]byte, 8192)) // small runs: read through the cache
		require.NoError(t, err)
	}
	require.NoError(t, v.Sync())
	clock.Add(time.Minute)
	_, err = v.Write(f.Ino, 1<<20, []byte("after the window"))
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	compactAll(t, v)
	pages := v.img.PagesPath(f.Ino)
	_, err = os.Stat(pages)
	require.NoError(t, err, "compaction folded nothing into the base image")
	require.Zero(t, cachedPages(t, []string{pages}), "the fold left the page file it wrote cached")
}
