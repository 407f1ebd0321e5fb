package volume

import (
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/fsstate"
)

// TestKeptMarkCost: status puts a price on a kept mark once it has left the
// window, and the price is what compaction frees when the mark goes. A mark
// that is not kept, and a kept mark inside the window, cost nothing.
func TestKeptMarkCost(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := filepath.Join(t.TempDir(), "vol")
	_, err := Init(dir, InitOptions{Window: 2 * time.Second, SegmentSize: 1 << 16, Now: clock.Now()})
	require.NoError(t, err)
	v, err := Open(dir, Options{Logf: t.Logf, Now: clock.Now})
	require.NoError(t, err)
	defer v.Close()
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(11)), dirs: []uint64{fsstate.RootIno}}
	steps := func(n int, d time.Duration) {
		for i := 0; i < n; i++ {
			clock.Add(d)
			w.step()
		}
	}
	cost := func(name string) int64 {
		t.Helper()
		for _, m := range v.Status().Marks {
			if m.Name == name {
				return m.CostBytes
			}
		}
		t.Fatalf("status has no mark %q", name)
		return 0
	}

	steps(200, 10*time.Millisecond)
	_, err = v.Mark("golden", true)
	require.NoError(t, err)
	_, err = v.Mark("plain", false)
	require.NoError(t, err)
	require.Zero(t, cost("golden"), "a kept mark inside the window costs nothing")

	steps(500, 20*time.Millisecond) // 10 s: the marks leave the 2 s window
	require.NoError(t, v.Flush())
	r := compactAll(t, v)
	require.Contains(t, r.HeldBy, `kept mark "golden"`)
	require.Zero(t, cost("plain"), "a mark that is not kept costs nothing")
	c := cost("golden")
	require.Greater(t, c, int64(1<<16), "the kept mark holds several 64 KiB segments of history older than the window")
	st := v.Status()
	require.Less(t, c, st.LogBytes)

	require.NoError(t, v.Unmark("golden"))
	r = compactAll(t, v)
	require.Equal(t, c, r.BytesFreed, "deleting the kept mark frees what status said it cost")
}

// TestStatusWindowNumbers: the numeric window fields and the window alert
// that metrics export, under a byte cap that keeps less than the window.
func TestStatusWindowNumbers(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := filepath.Join(t.TempDir(), "vol")
	_, err := Init(dir, InitOptions{Window: time.Hour, MaxLogBytes: 256 << 10, SegmentSize: 1 << 16, Now: clock.Now()})
	require.NoError(t, err)
	v, err := Open(dir, Options{Logf: func(string, ...any) {}, Now: clock.Now})
	require.NoError(t, err)
	defer v.Close()
	st := v.Status()
	require.False(t, st.WindowAlert)
	require.Equal(t, 3600.0, st.WindowSeconds)
	require.Zero(t, st.AppendedBytes)
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(5)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 1500; i++ {
		clock.Add(10 * time.Millisecond)
		w.step()
	}
	require.NoError(t, v.Flush())
	compactAll(t, v)
	st = v.Status()
	require.True(t, st.WindowAlert, "warnings: %q", st.Warnings)
	require.Greater(t, st.WindowActualSeconds, 0.0)
	require.Less(t, st.WindowActualSeconds, 3600.0)
	held, err := time.ParseDuration(st.WindowActual)
	require.NoError(t, err)
	require.InDelta(t, held.Seconds(), st.WindowActualSeconds, 1)
	require.Greater(t, st.AppendedBytes, st.LogBytes, "compaction deleted segments, so more was appended than is left")
}
