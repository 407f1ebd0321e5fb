package pagelog

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/internal/pagecache"
)

// residentPages counts the pages of the file at path in the page cache.
func residentPages(t *testing.T, path string) int {
	t.Helper()
	n, err := pagecache.Resident(path)
	require.NoError(t, err)
	return n
}

// droppableDir is a temporary directory whose files' cached pages can be
// given back; on tmpfs the test is skipped (TMPDIR on a disk runs it).
func droppableDir(t *testing.T) string {
	dir := t.TempDir()
	if !pagecache.Droppable(dir) {
		t.Skip("TMPDIR is on tmpfs, where a file's cached pages are the file")
	}
	return dir
}

// A segment sealed by a roll leaves the page cache; the active one, whose
// records were just written, is still there. On the real disk: this is
// about the kernel's page cache, which MemFS does not have.
func TestRollDropsSealedSegmentFromPageCache(t *testing.T) {
	dir := droppableDir(t)
	l := openTestLog(t, Options{Dir: dir, SegmentSize: 1 << 20, Preallocate: true})
	rng := rand.New(rand.NewPCG(1, 2))
	for len(l.Segments()) < 2 {
		appendTest(t, l, rng, 16, 64<<10)
	}
	appendTest(t, l, rng, 16, 64<<10)
	require.NoError(t, l.WriteOut())
	l.waitIndexer() // the pages leave off the log's lock
	segs := l.Segments()
	require.Len(t, segs, 2)
	sealed, active := filepath.Join(dir, segs[0].Name), filepath.Join(dir, segs[1].Name)
	require.Zero(t, residentPages(t, sealed), "the sealed segment's pages are still cached")
	require.NotZero(t, residentPages(t, active), "the active segment was just written: its pages should be cached (else this test measures nothing)")
}

// sealedLog makes a log in a droppable directory with at least three
// sealed segments of large records, none of whose pages are cached, and
// returns it with the sealed segments' paths.
func sealedLog(t *testing.T) (*Log, []string, []testRecord) {
	dir := droppableDir(t)
	l := openTestLog(t, Options{Dir: dir, SegmentSize: 2 << 20, Preallocate: true})
	rng := rand.New(rand.NewPCG(3, 4))
	var recs []testRecord
	for len(l.Segments()) < 4 {
		recs = append(recs, appendTest(t, l, rng, 16, 512<<10))
	}
	l.waitIndexer()
	segs := l.Segments()
	var sealed []string
	for _, s := range segs[:len(segs)-1] {
		p := filepath.Join(dir, s.Name)
		require.Zero(t, residentPages(t, p), "the roll left %s in the cache", s.Name)
		sealed = append(sealed, p)
	}
	return l, sealed, recs
}

// The background check reads every sealed segment and leaves none of its
// pages in the cache, while a segment someone else had read keeps its
// pages: the check neither fills the cache nor pushes the database's
// readahead out of it.
func TestVerifySealedLeavesTheCacheAsItWas(t *testing.T) {
	l, sealed, _ := sealedLog(t)
	warm := sealed[1]
	_, err := os.ReadFile(warm)
	require.NoError(t, err)
	warmPages := residentPages(t, warm)
	require.NotZero(t, warmPages)

	require.NoError(t, l.VerifySealed(nil, nil))
	for _, p := range sealed {
		if p == warm {
			require.Equal(t, warmPages, residentPages(t, p), "the check dropped pages of %s that a reader had brought in", p)
			continue
		}
		require.Zero(t, residentPages(t, p), "the check left pages of %s in the cache", p)
	}
}

// A large read of a sealed segment leaves none of its pages in the cache,
// and a small one, a page of a sequential stream, stays cached.
func TestLargeSealedReadDropsItsPages(t *testing.T) {
	l, sealed, recs := sealedLog(t)
	var big testRecord
	for _, r := range recs {
		if r.loc.Seg == 1 && len(r.data) >= 256<<10 {
			big = r
			break
		}
	}
	require.NotZero(t, len(big.data), "no large record in the second segment")
	got := make([]byte, len(big.data))
	n, err := l.ReadData(big.loc, 0, got)
	require.NoError(t, err)
	require.Equal(t, big.data, got[:n])
	inRecord := func() int {
		n, err := pagecache.ResidentIn(sealed[1], int64(big.loc.Off), int64(big.loc.Len))
		require.NoError(t, err)
		return n
	}
	require.Zero(t, inRecord(), "a %d KiB read of a sealed segment left its pages cached", len(big.data)>>10)

	small := make([]byte, 8<<10)
	_, err = l.ReadData(big.loc, 0, small)
	require.NoError(t, err)
	require.NotZero(t, inRecord(), "an 8 KiB read of a sealed segment did not stay cached")
}

// Records' data parts are page-aligned (gaps), so large reads of sealed
// segments and random ones go direct: they bring no page of the segment
// into the cache, and, unlike a read through the cache that gives its pages
// back, they leave the pages someone else had cached where they are.
// Every byte read is the record's, at any offset and length, aligned or
// not, random or not.
func TestSealedReadsGoDirect(t *testing.T) {
	l, sealed, recs := sealedLog(t)
	rng := rand.New(rand.NewPCG(9, 9))
	var inSeg1 []testRecord
	for _, r := range recs {
		require.Zero(t, r.loc.Off%dataAlign, "a 512 KiB record's data part is not page-aligned: %+v", r.loc)
		if r.loc.Seg == 1 {
			inSeg1 = append(inSeg1, r)
		}
	}
	require.NotEmpty(t, inSeg1)

	whole := make([]byte, len(inSeg1[0].data))
	n, err := l.ReadData(inSeg1[0].loc, 0, whole)
	require.NoError(t, err)
	require.Equal(t, inSeg1[0].data, whole[:n])
	require.Zero(t, residentPages(t, sealed[1]), "a direct read of a whole record left pages of the segment cached")

	_, err = os.ReadFile(sealed[1])
	require.NoError(t, err)
	warm := residentPages(t, sealed[1])
	require.NotZero(t, warm)
	n, err = l.ReadData(inSeg1[0].loc, 0, whole)
	require.NoError(t, err)
	require.Equal(t, inSeg1[0].data, whole[:n])
	page := make([]byte, 2*4096)[4096:] // a page-aligned page: Go aligns allocations of 8 KiB
	for i := 0; i < 20; i++ {
		r := inSeg1[rng.IntN(len(inSeg1))]
		off := int64(rng.IntN(len(r.data)/4096)) * 4096
		n, err := l.ReadDataRandom(r.loc, off, page)
		require.NoError(t, err)
		require.Equal(t, r.data[off:off+int64(n)], page[:n])
	}
	require.Equal(t, warm, residentPages(t, sealed[1]), "large and random reads dropped pages a reader had cached: they did not go direct")
	require.NoError(t, l.segTable()[1].f.(*diskFile).directErr(), "the disk refused a direct read")

	for i := 0; i < 50; i++ {
		r := recs[rng.IntN(len(recs))]
		off := int64(rng.IntN(len(r.data)))
		got := make([]byte, 1+rng.IntN(len(r.data)-int(off)))
		read := l.ReadData
		if i%2 == 0 {
			read = l.ReadDataRandom
		}
		n, err := read(r.loc, off, got)
		require.NoError(t, err)
		require.Equal(t, r.data[off:off+int64(n)], got[:n], "read %d: %d bytes at %d", i, len(got), off)
	}
}

// A random read that is not page-aligned cannot go direct: it reads
// through the cache and gives back the pages wholly inside it.
func TestUnalignedRandomReadDropsItsPages(t *testing.T) {
	l, sealed, recs := sealedLog(t)
	r := recs[len(recs)/2]
	for r.loc.Seg == uint32(len(sealed)) {
		r = recs[0]
	}
	got := make([]byte, 12<<10)
	n, err := l.ReadDataRandom(r.loc, 100, got)
	require.NoError(t, err)
	require.Equal(t, r.data[100:100+n], got[:n])
	in, err := pagecache.ResidentIn(sealed[r.loc.Seg], int64(r.loc.Off)+100, int64(len(got)))
	require.NoError(t, err)
	require.Zero(t, in, "an unaligned random read left its pages cached")
}

// diskTestFiles writes 3 MiB of random bytes, synced, into a file of Disk
// in TMPDIR and, where /dev/shm is a tmpfs, into one there, and returns
// the bytes and the open files by where they are.
func diskTestFiles(t *testing.T) ([]byte, map[string]File) {
	t.Helper()
	dirs := map[string]string{"TMPDIR": t.TempDir()}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && !pagecache.Droppable("/dev/shm") {
		shm, err := os.MkdirTemp("/dev/shm", "pagelog-test-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(shm) })
		dirs["tmpfs"] = shm
	}
	want := make([]byte, 3<<20)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	files := map[string]File{}
	for name, dir := range dirs {
		f, err := Disk.OpenFile(filepath.Join(dir, "f"), os.O_RDWR|os.O_CREATE, 0o644)
		require.NoError(t, err)
		_, err = f.WriteAt(want, 0)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		files[name] = f
	}
	return want, files
}

// Disk's ReadDirect reads the same bytes as ReadAt where the file system
// has direct I/O, and says ErrUnsupported where it has not or where the
// read is not aligned.
func TestDiskReadDirect(t *testing.T) {
	want, files := diskTestFiles(t)
	for name, f := range files {
		var err error
		got := make([]byte, 1<<20)
		_, err = f.ReadDirect(got[1:4097], 0)
		require.ErrorIs(t, err, errors.ErrUnsupported, "%s: an unaligned buffer", name)
		_, err = f.ReadDirect(got[:4096], 100)
		require.ErrorIs(t, err, errors.ErrUnsupported, "%s: an unaligned offset", name)
		for _, off := range []int64{0, 4096, 2 << 20} {
			n, err := f.ReadDirect(got, off)
			if errors.Is(err, errors.ErrUnsupported) {
				t.Logf("%s: no direct I/O: %v", name, err)
				break
			}
			require.NoError(t, err, "%s: ReadDirect at %d", name, off)
			require.Equal(t, len(got), n)
			require.Equal(t, want[off:off+int64(n)], got, "%s: ReadDirect at %d", name, off)
		}
		require.NoError(t, f.Close())
		_, err = f.ReadDirect(got, 0)
		require.Error(t, err, "%s: a read after Close", name)
	}
}

// Disk's ReadOnce reads the same bytes as ReadAt where the file system has
// uncached reads (the disk) and where it has not (tmpfs, which refuses
// them: the file then goes on with ReadAt).
func TestDiskReadOnce(t *testing.T) {
	want, files := diskTestFiles(t)
	for name, f := range files {
		for _, off := range []int64{0, 4095, 1 << 20, int64(len(want)) - 100} {
			got := make([]byte, 1<<20)
			n, err := f.ReadOnce(got, off)
			wantN := min(len(got), len(want)-int(off))
			if wantN < len(got) {
				require.ErrorIs(t, err, io.EOF, "%s: ReadOnce at %d", name, off)
			} else {
				require.NoError(t, err, "%s: ReadOnce at %d", name, off)
			}
			require.Equal(t, wantN, n, "%s: ReadOnce at %d", name, off)
			require.Equal(t, want[off:off+int64(n)], got[:n], "%s: ReadOnce at %d", name, off)
		}
		t.Logf("%s: uncached reads refused: %v", name, f.(*diskFile).noOnce.Load())
		require.NoError(t, f.Close())
	}
}

// Verify reads every record of every segment and leaves the sealed ones'
// records uncached. (Opening a segment reads its header with a plain read,
// which keeps the first few pages: 16 KiB a segment.)
func TestVerifyLeavesNoPages(t *testing.T) {
	l, sealed, recs := sealedLog(t)
	rep, err := Verify(l.dir, nil)
	require.NoError(t, err)
	require.EqualValues(t, len(recs), rep.Records)
	for _, p := range sealed {
		n, err := pagecache.ResidentIn(p, 64<<10, -1)
		require.NoError(t, err)
		require.Zero(t, n, "verify left pages of %s past its header in the cache", p)
	}
}

// A file system that refuses to open a file with O_DIRECT (procfs does,
// with EINVAL) leaves reads to the page cache: ReadUncached returns the
// file's bytes, and the file remembers that it cannot read direct.
func TestReadUncachedWhereDirectCannotOpen(t *testing.T) {
	want, err := os.ReadFile("/proc/version")
	require.NoError(t, err)
	f, err := Disk.OpenFile("/proc/version", os.O_RDONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	got := make([]byte, 2*pagecache.DirectAlign)[pagecache.DirectAlign:] // page-aligned, as go-fuse's buffers are
	require.True(t, pagecache.Aligned(got, 0))
	for i := 0; i < 2; i++ {
		n, err := ReadUncached(f, got, 0)
		require.ErrorIs(t, err, io.EOF, "read %d", i)
		require.Equal(t, want, got[:n], "read %d", i)
		require.ErrorIs(t, f.(*diskFile).directErr(), errors.ErrUnsupported, "read %d: procfs opened with O_DIRECT", i)
	}
}

// refusingTwin stands for a file system that opens a file with O_DIRECT
// and then refuses every direct read with EINVAL.
type refusingTwin struct{ reads, closes int }

func (r *refusingTwin) ReadAt(b []byte, off int64) (int, error) {
	r.reads++
	return 0, &os.PathError{Op: "read", Path: "twin", Err: syscall.EINVAL}
}

func (r *refusingTwin) Close() error { r.closes++; return nil }

// Such a file system costs one refused read: ReadUncached returns the
// bytes through the page cache, that one and every later one, and never
// asks for a direct read again.
func TestReadUncachedWhereDirectReadsFail(t *testing.T) {
	want, files := diskTestFiles(t)
	f := files["TMPDIR"].(*diskFile)
	twin := &refusingTwin{}
	f.direct = twin
	got := make([]byte, (64<<10)+pagecache.DirectAlign)[pagecache.DirectAlign:]
	for i, off := range []int64{0, 1 << 20, 4096} {
		n, err := ReadUncached(f, got, off)
		require.NoError(t, err, "read %d", i)
		require.Equal(t, want[off:off+int64(n)], got[:n], "read %d", i)
		require.Equal(t, len(got), n, "read %d", i)
	}
	require.Equal(t, 1, twin.reads, "ReadDirect kept asking a file system that refused a direct read")
	require.ErrorIs(t, f.directErr(), syscall.EINVAL)
	require.ErrorIs(t, f.directErr(), errors.ErrUnsupported)
	require.NoError(t, f.Close())
	require.Equal(t, 1, twin.closes, "Close left the direct twin open")
}
