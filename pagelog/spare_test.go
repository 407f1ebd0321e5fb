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
// each segment and gain nothing: its rolls make reserved segments and leave
// the spare where it is, unmade again. Once the workload syncs, the log
// moves on to the spare at once, and a new one is made.
func TestStreamsLeaveTheSpare(t *testing.T) {
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
	require.True(t, l.cur.zeroed, "a new log starts on a spare")
	require.Equal(t, 1, spares(), "and makes the next one")
	require.EqualValues(t, 2, l.spare.made.Load())
	for range 3 {
		appendUntilRoll(false)
		require.False(t, l.cur.zeroed, "a stream without syncs gets reserved segments")
	}
	require.Equal(t, 1, spares())
	require.EqualValues(t, 2, l.spare.made.Load(), "the spare waits; nothing is zeroed for the stream")

	n, _, _, err := l.Append(1, nil, data)
	require.NoError(t, err)
	require.NoError(t, l.Sync(n)) // the workload syncs: the next append moves on to the spare
	segs := len(l.Segments())
	_, _, _, err = l.Append(1, nil, data)
	require.NoError(t, err)
	require.Len(t, l.Segments(), segs+1)
	require.True(t, l.cur.zeroed)
	require.Equal(t, 1, spares(), "and a new spare is made")
	require.EqualValues(t, 3, l.spare.made.Load())
	appendUntilRoll(true)
	require.True(t, l.cur.zeroed, "a synced segment is followed by the spare")
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

// A segment not made from a spare pays a journal commit on every
// fdatasync. A new log starts on a spare; the segment a bulk load rolled to
// and the one a reopened log goes on appending to are reserved: once they
// are synced often the log moves on to the spare at the next Append, long
// before the segment is full. Records on both sides of each move survive
// a reopen.
func TestSyncedSegmentMovesOnToSpare(t *testing.T) {
	mem := NewMemFS()
	opts := preallocOpts(mem)
	opts.SegmentSize = 8 << 20 // the moves below happen long before a segment is full
	opts.ZeroFill = true
	var recs []testRecord
	add := func(l *Log, sync bool, size int) {
		t.Helper()
		data := make([]byte, size)
		data[0] = byte(len(recs))
		n, tm, loc, err := l.Append(1, []byte("m"), data)
		require.NoError(t, err)
		recs = append(recs, testRecord{lsn: n, time: tm, typ: 1, meta: []byte("m"), data: data, loc: loc})
		if sync {
			require.NoError(t, l.Sync(n))
		}
	}
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	add(l, true, 100)
	require.True(t, l.cur.zeroed, "a new log starts on a spare")
	for len(l.Segments()) == 1 { // a bulk load fills it
		add(l, false, 256<<10)
	}
	require.False(t, l.cur.zeroed, "the segment after a bulk load is only reserved")
	l.waitSpare()
	add(l, true, 100) // the database commits again
	add(l, true, 100)
	require.Len(t, l.Segments(), 3, "moved on to the spare")
	require.True(t, l.cur.zeroed)
	for range 50 {
		add(l, true, 100)
	}
	l.waitSpare()
	require.Len(t, l.Segments(), 3, "a zeroed segment is kept until it is full")
	for len(l.Segments()) == 3 {
		add(l, false, 256<<10)
	}
	require.NoError(t, l.Close())

	l, _, err = Open(opts, nil) // a reopened log makes a spare, and moves on to it once synced
	require.NoError(t, err)
	require.False(t, l.cur.zeroed, "what is past the last record of a reopened segment is not known")
	l.waitSpare()
	add(l, true, 100)
	require.Len(t, l.Segments(), 4)
	add(l, false, 100)
	require.Len(t, l.Segments(), 5)
	require.True(t, l.cur.zeroed)
	require.NoError(t, l.Close())

	l, _, err = Open(opts, nil)
	require.NoError(t, err)
	requireSameRecords(t, recs, scanAll(t, l))
	require.NoError(t, l.Close())
	_, err = Verify("/log", mem)
	require.NoError(t, err)
}

func TestSpareWorthIt(t *testing.T) {
	for _, c := range []struct {
		syncs, size int64
		want        bool
	}{
		{0, 100, false}, {1, 100, true}, {1, 2 << 20, false}, {2, 2 << 20, true},
		{64, 64 << 20, true}, {63, 64 << 20, false}, {1, 64 << 20, false},
	} {
		require.Equal(t, c.want, spareWorthIt(c.syncs, c.size), "%d syncs in %d bytes", c.syncs, c.size)
	}
}
