package volume

import (
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
)

// TestCompactThrough folds a marked state into the base image inside a
// 24-hour window (what import does), then checks the refusals: a state
// that a kept mark before it, or a rewind after it, still needs.
func TestCompactThrough(t *testing.T) {
	v, dir, clock := clockVolume(t, InitOptions{Window: 24 * time.Hour, SegmentSize: 1 << 16}, true)
	defer func() { v.Close() }()
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(3)), dirs: []uint64{fsstate.RootIno}}
	for range 300 {
		clock.Add(time.Millisecond)
		w.step()
	}
	l, err := v.Mark("import", true)
	require.NoError(t, err)
	imported := dump(t, v)
	segs := len(v.Segments())

	r, err := v.CompactThrough(l)
	require.NoError(t, err)
	require.Equal(t, l, r.ToLSN)
	require.Equal(t, l, v.Status().BaseLSN)
	require.Greater(t, r.SegmentsRemoved, 0, "of %d segments", segs)
	require.Equal(t, imported, dump(t, v), "the live tree changed")
	again, err := v.CompactThrough(l)
	require.NoError(t, err)
	require.Equal(t, l, again.ToLSN, "a second call moves nothing")

	// Later writes; the import point stays a target, also after reopening.
	for range 100 {
		clock.Add(time.Millisecond)
		w.step()
	}
	mark := lsn.Target{Kind: lsn.TargetMark, Mark: "import"}
	view, err := Open(dir, Options{ReadOnly: true, At: &mark, Logf: t.Logf, Now: clock.Now})
	require.NoError(t, err)
	require.Equal(t, imported, dump(t, view))
	require.NoError(t, view.Close())

	require.NoError(t, v.Sync())
	_, err = v.CompactThrough(v.Head())
	require.ErrorContains(t, err, `kept mark "import"`)
	require.NoError(t, v.Unmark("import"))

	// A kept mark before the target holds it.
	k, err := v.Mark("kept", true)
	require.NoError(t, err)
	for range 50 {
		w.step()
	}
	require.NoError(t, v.Sync())
	_, err = v.CompactThrough(v.Head())
	require.ErrorContains(t, err, `kept mark "kept"`)
	require.Equal(t, l, v.Status().BaseLSN)

	// A rewind after the target back to a state before it holds it too.
	require.NoError(t, v.Unmark("kept"))
	mid := v.Head()
	_, _, err = v.Rewind(k)
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	_, err = v.CompactThrough(mid)
	require.ErrorContains(t, err, "not built on it")
	// Not durable, or past the head.
	_, err = v.CompactThrough(v.Head() + 5)
	require.Error(t, err)
	require.Equal(t, l, v.Status().BaseLSN, "a refused CompactThrough moved the base")
}
