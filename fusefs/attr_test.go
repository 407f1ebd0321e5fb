package fusefs

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnixNano(t *testing.T) {
	neg := func(s int64) uint64 { return uint64(s) } // how the kernel sends a time before 1970
	for _, tc := range []struct {
		sec  uint64
		nsec uint32
		want int64
		ok   bool
	}{
		{0, 0, 0, true},
		{1234567890, 123456789, 1234567890123456789, true},
		{neg(-1000), 5, -999999999995, true},
		{9223372035, 999999999, 9223372035999999999, true},
		{9223372036, 0, 0, false}, // 2262-04-11T23:47:16Z: one second too late for int64 nanoseconds
		{10000000000, 1, 0, false},
		{neg(-9223372036), 0, -9223372036000000000, true},
		{neg(-9223372037), 0, 0, false},
		{math.MaxUint64, 0, -1e9, true}, // -1 s
		{1, 1e9, 0, false},
	} {
		got, ok := unixNano(tc.sec, tc.nsec)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("unixNano(%d, %d) = %d, %v; want %d, %v", int64(tc.sec), tc.nsec, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBlocksStale(t *testing.T) {
	for _, c := range []struct {
		last, now uint64
		want      bool
	}{
		{0, 0, false}, {0, 8, true}, {8, 0, true}, {8, 8, false},
		{64, 72, true}, {80, 88, false}, {2048, 2056, false}, {2048, 2304, true}, {2048, 1792, true},
	} {
		require.Equal(t, c.want, blocksStale(c.last, c.now), "last %d now %d", c.last, c.now)
	}
}

// A file that grows by a page per fsync (a WAL) shows st_blocks within an
// eighth of the truth after every fsync, never 0 once it has data.
func TestBlocksAfterFsyncOfAGrowingFile(t *testing.T) {
	mnt, _, _ := mountTest(t)
	f, err := os.Create(filepath.Join(mnt, "wal"))
	require.NoError(t, err)
	defer f.Close()
	page := bytes.Repeat([]byte{1}, 4096)
	for i := range 300 {
		_, err := f.Write(page)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		var st syscall.Stat_t
		require.NoError(t, syscall.Fstat(int(f.Fd()), &st))
		want := int64(i+1) * 8
		require.Greater(t, st.Blocks, int64(0), "after %d pages", i+1)
		require.GreaterOrEqual(t, st.Blocks*8, want*7, "after %d pages: %d blocks", i+1, st.Blocks)
	}
}
