package pagelog

import (
	"math/rand"
	rand2 "math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// With ZeroFill a spare segment of zeros is made in the background and
// taken by the next roll: the new segment is the spare renamed, records
// in it survive a reopen, and a spare left over is removed by Open.
func TestZeroFilledSpareSegments(t *testing.T) {
	mem := NewMemFS()
	opts := preallocOpts(mem)
	opts.ZeroFill = true
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	var recs []testRecord
	data := make([]byte, 20<<10)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 12; i++ { // about four segments
		rng.Read(data)
		n, tm, loc, err := l.Append(1, []byte("m"), data)
		require.NoError(t, err)
		recs = append(recs, testRecord{lsn: n, time: tm, typ: 1, meta: []byte("m"), data: append([]byte(nil), data...), loc: loc})
		require.NoError(t, l.Sync(n)) // a syncing workload, for which spares pay
		// Let the spare be made between appends sometimes, not always.
		if i%3 == 0 {
			l.waitSpare()
		}
	}
	require.NoError(t, l.Sync(l.Head()))
	require.Greater(t, len(l.Segments()), 2)
	l.waitSpare()
	names, err := mem.ReadDir("/log")
	require.NoError(t, err)
	require.Contains(t, names, spareName, "a spare is ready for the next roll")
	require.NoError(t, l.Close())

	l, rep, err := Open(opts, nil)
	require.NoError(t, err)
	require.Zero(t, rep.CutBytes)
	requireSameRecords(t, recs, scanAll(t, l))
	require.NoError(t, l.Close())
	_, err = Verify("/log", mem)
	require.NoError(t, err)
}

// A stream of appends without syncs (a bulk load) would pay for zeroing
// each segment and gain nothing: after the first roll no spare is made,
// and once the workload syncs again, spares come back.
func TestNoSpareForStreamsWithoutSyncs(t *testing.T) {
	mem := NewMemFS()
	opts := preallocOpts(mem)
	opts.ZeroFill = true
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	defer l.Close()
	spares := func() int {
		l.waitSpare()
		names, err := mem.ReadDir("/log")
		require.NoError(t, err)
		n := 0
		for _, name := range names {
			if name == spareName {
				n++
			}
		}
		return n
	}
	data := make([]byte, 20<<10)
	appendUntilRoll := func(sync bool) {
		segs := len(l.Segments())
		for len(l.Segments()) == segs {
			n, _, _, err := l.Append(1, nil, data)
			require.NoError(t, err)
			if sync {
				require.NoError(t, l.Sync(n))
			}
		}
	}
	_, _, _, err = l.Append(1, nil, data) // the first segment
	require.NoError(t, err)
	require.Equal(t, 1, spares(), "a log just opened gets a spare")
	appendUntilRoll(false) // takes the spare made at open
	appendUntilRoll(false)
	require.Zero(t, spares(), "the segment sealed saw no sync: no spare")
	appendUntilRoll(true)
	appendUntilRoll(true)
	require.Equal(t, 1, spares(), "synced segments: a spare again")
}

// A crash while the spare is being written, or after, loses nothing: the
// spare is not a segment until roll renames it.
func TestCrashWithSpareLosesNothingSynced(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		mem := NewMemFS()
		opts := preallocOpts(mem)
		opts.ZeroFill = true
		l, _, err := Open(opts, nil)
		require.NoError(t, err)
		rng := rand.New(rand.NewSource(seed))
		data := make([]byte, 10<<10)
		var synced []testRecord
		var pending []testRecord
		for i := 0; i < 20; i++ {
			rng.Read(data)
			n, tm, loc, err := l.Append(1, nil, data)
			require.NoError(t, err)
			pending = append(pending, testRecord{lsn: n, time: tm, typ: 1, data: append([]byte(nil), data...), loc: loc})
			if rng.Intn(3) == 0 {
				require.NoError(t, l.Sync(n))
				synced = append(synced, pending...)
				pending = nil
			}
		}
		mem.CrashRandom(rand2.New(rand2.NewPCG(uint64(seed), 1)))
		l2, _, err := Open(opts, nil)
		require.NoError(t, err, "seed %d", seed)
		got := scanAll(t, l2)
		require.GreaterOrEqual(t, len(got), len(synced), "seed %d: synced records lost", seed)
		requireSameRecords(t, synced, got[:len(synced)])
		require.NoError(t, l2.Close())
		l.waitSpare()
	}
}
