package pagecache

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A file just written and synced is in the cache; Drop gives it back.
func TestDropAndResident(t *testing.T) {
	dir := t.TempDir()
	if !Droppable(dir) {
		t.Skip("TMPDIR is on tmpfs, where a file's cached pages are the file")
	}
	path := filepath.Join(dir, "f")
	ps := os.Getpagesize()
	require.NoError(t, os.WriteFile(path, make([]byte, 16*ps), 0o644))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Sync())
	n, err := Resident(path)
	require.NoError(t, err)
	require.Equal(t, 16, n)

	Drop(f)
	n, err = Resident(path)
	require.NoError(t, err)
	require.Zero(t, n)
}

// ReadOnce reads what ReadAt reads, leaves no page it brought in, keeps
// the pages that were cached before, and says io.EOF at the end.
func TestReadOnce(t *testing.T) {
	dir := t.TempDir()
	if !Droppable(dir) {
		t.Skip("TMPDIR is on tmpfs, where a file's cached pages are the file")
	}
	path := filepath.Join(dir, "f")
	want := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	require.NoError(t, os.WriteFile(path, want, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Sync())
	Drop(f)

	readAll := func() []byte {
		got := make([]byte, 0, len(want))
		buf := make([]byte, 1<<20+123) // not page-sized: the pieces end inside pages
		for off := int64(0); ; {
			n, err := ReadOnce(f, buf, off)
			if errors.Is(err, errors.ErrUnsupported) {
				t.Skipf("this kernel or file system has no uncached reads: %v", err)
			}
			got = append(got, buf[:n]...)
			off += int64(n)
			if err == io.EOF {
				return got
			}
			require.NoError(t, err)
			require.Equal(t, len(buf), n, "a short read without io.EOF")
		}
	}
	require.Equal(t, want, readAll())
	n, err := Resident(path)
	require.NoError(t, err)
	require.Zero(t, n, "ReadOnce left pages it read in the cache")

	_, err = os.ReadFile(path)
	require.NoError(t, err)
	before, err := Resident(path)
	require.NoError(t, err)
	require.Equal(t, readAll(), want)
	after, err := Resident(path)
	require.NoError(t, err)
	require.Equal(t, before, after, "ReadOnce dropped pages that were cached before it")
}

// ResidentIn counts only the pages wholly inside its range.
func TestResidentIn(t *testing.T) {
	dir := t.TempDir()
	ps := int64(os.Getpagesize())
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, make([]byte, 8*ps), 0o644))
	_, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, c := range []struct{ off, n, want int64 }{
		{0, -1, 8}, {0, 8 * ps, 8}, {1, 8*ps - 1, 7}, {ps, 2 * ps, 2}, {ps + 1, 2 * ps, 1}, {ps, ps - 1, 0}, {3 * ps, -1, 5},
	} {
		got, err := ResidentIn(path, c.off, c.n)
		require.NoError(t, err)
		require.EqualValues(t, c.want, got, "ResidentIn(%d, %d)", c.off, c.n)
	}
}

// OpenDirect opens the very file, even after it was renamed and another
// took its name, and reads through it leave the page cache as it was.
func TestOpenDirect(t *testing.T) {
	dir := t.TempDir()
	if !Droppable(dir) {
		t.Skip("TMPDIR is on tmpfs, where a file's cached pages are the file")
	}
	want := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, want, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, os.Rename(path, path+".old"))
	require.NoError(t, os.WriteFile(path, []byte("another file"), 0o644))
	require.NoError(t, f.Sync())
	Drop(f)

	d, err := OpenDirect(f)
	require.NoError(t, err)
	defer d.Close()
	got := make([]byte, 256<<10)
	require.True(t, Aligned(got, 512<<10))
	n, err := d.ReadAt(got, 512<<10)
	require.NoError(t, err)
	require.Equal(t, want[512<<10:512<<10+n], got[:n])
	cached, err := Resident(path + ".old")
	require.NoError(t, err)
	require.Zero(t, cached, "a direct read left pages in the cache")

	require.False(t, Aligned(got[1:4097], 0), "an unaligned buffer")
	require.False(t, Aligned(got[:4096], 512), "an unaligned offset")
	require.False(t, Aligned(got[:4000], 0), "an unaligned length")
	require.False(t, Aligned(nil, 0), "nothing to read")
}
