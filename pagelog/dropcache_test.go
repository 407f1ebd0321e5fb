package pagelog

import (
	"math/rand/v2"
	"path/filepath"
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
	segs := l.Segments()
	require.Len(t, segs, 2)
	sealed, active := filepath.Join(dir, segs[0].Name), filepath.Join(dir, segs[1].Name)
	require.Zero(t, residentPages(t, sealed), "the sealed segment's pages are still cached")
	require.NotZero(t, residentPages(t, active), "the active segment was just written: its pages should be cached (else this test measures nothing)")
}
