package pagelog

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// residentPages counts the pages of the file at path that are in the page
// cache (mincore of a read-only mapping, which faults nothing in).
func residentPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	require.NotZero(t, fi.Size())
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	require.NoError(t, err)
	defer unix.Munmap(m)
	ps := os.Getpagesize()
	vec := make([]byte, (len(m)+ps-1)/ps)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	require.Zero(t, errno, "mincore")
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// A segment sealed by a roll leaves the page cache; the active one, whose
// records were just written, is still there. On the real disk: this is
// about the kernel's page cache, which MemFS does not have.
func TestRollDropsSealedSegmentFromPageCache(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, Options{Dir: dir, SegmentSize: 1 << 20, Preallocate: true})
	rng := rand.New(rand.NewPCG(1, 2))
	for len(l.Segments()) < 2 {
		appendTest(t, l, rng, 16, 64<<10)
	}
	appendTest(t, l, rng, 16, 64<<10)
	require.NoError(t, l.WriteOut())
	segs := l.Segments()
	require.Len(t, segs, 2)
	sealed, active := filepath.Join(dir, segs[0].Name), filepath.Join(dir, segs[1].Name)
	require.Zero(t, residentPages(t, sealed), "the sealed segment's pages are still cached")
	require.NotZero(t, residentPages(t, active), "the active segment was just written: its pages should be cached (else this test measures nothing)")
}
