package pagelog

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSeal: Seal ends a segment that holds records (the archive can take
// it), makes nothing when the current segment is empty, and leaves every
// record it sealed durable: a crash right after it loses none of them.
func TestSeal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	mem := NewMemFS()
	opts := Options{Dir: "/log", FS: mem, VolumeID: testVolume, SegmentSize: 1 << 20}
	require.NoError(t, mem.MkdirAll(opts.Dir, 0o755))
	l, _, err := Open(opts, nil)
	require.NoError(t, err)

	sealed, err := l.Seal()
	require.NoError(t, err)
	require.False(t, sealed, "an empty log has nothing to seal")
	require.Empty(t, l.Segments())

	var want []testRecord
	for range 5 {
		want = append(want, appendTest(t, l, rng, 3, 200))
	}
	require.Len(t, l.Segments(), 1)
	sealed, err = l.Seal()
	require.NoError(t, err)
	require.True(t, sealed)
	segs := l.Segments()
	require.Len(t, segs, 2, "Seal moves on to a new segment")
	require.Equal(t, want[0].lsn, segs[0].FirstLSN)
	require.Equal(t, want[4].lsn, segs[0].LastLSN)
	require.Equal(t, want[4].lsn+1, segs[1].FirstLSN)
	require.GreaterOrEqual(t, l.Durable(), want[4].lsn, "the sealed segment is synced")

	// Sealing again without a new record changes nothing: an idle volume
	// makes no segments.
	sealed, err = l.Seal()
	require.NoError(t, err)
	require.False(t, sealed)
	require.Equal(t, segs, l.Segments())

	// A power cut now keeps every sealed record, without a Sync: the
	// seal synced the segment, its successor's name and the directory.
	mem.Crash()
	l2, rep, err := Open(opts, nil)
	require.NoError(t, err)
	require.Equal(t, want[4].lsn, rep.Head)
	requireSameRecords(t, want, scanAll(t, l2))
	// The log goes on after a sealed segment.
	r := appendTest(t, l2, rng, 1, 10)
	require.Equal(t, want[4].lsn+1, r.lsn)
	require.NoError(t, l2.Close())
	_, err = Verify(opts.Dir, mem)
	require.NoError(t, err)
}
