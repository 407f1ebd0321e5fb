package pagelog

import (
	"errors"
	"github.com/stretchr/testify/require"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

var testSizes = []int{0, 1, 100, 4096, 1 << 20}

func TestRoundTrip(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecS2, CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(codec)))
			dir := t.TempDir()
			opts := Options{Dir: dir, VolumeID: testVolume, Codec: codec}
			l := openTestLog(t, opts)
			var want []testRecord
			for _, metaLen := range []int{0, 1, 37} {
				for _, dataLen := range testSizes {
					want = append(want, appendTest(t, l, rng, metaLen, dataLen))
				}
			}
			if codec != CodecNone {
				compressed := 0
				for _, r := range want {
					if r.loc.Codec == codec {
						compressed++
						require.True(t, r.loc.Len < uint32(len(r.data)), "lsn %d", r.lsn)
					}
				}
				require.True(t, compressed >= 6, "only %d records compressed", compressed)
			}
			// Records can be read back before they are synced.
			checkReadData(t, l, want, rng)
			requireSameRecords(t, want, scanAll(t, l))
			require.NoError(t, l.Sync(l.Head()))
			require.NoError(t, l.Close())

			l2, rep, err := Open(opts, nil)
			require.NoError(t, err)
			defer l2.Close()
			require.Equal(t, want[len(want)-1].lsn, rep.Head)
			require.EqualValues(t, len(want), rep.Records)
			require.Zero(t, rep.CutBytes)
			got := scanAll(t, l2)
			requireSameRecords(t, want, got)
			// The locations found by the scan are the ones Append gave.
			for i := range want {
				require.Equal(t, want[i].loc, got[i].loc, "lsn %d", want[i].lsn)
			}
			checkReadData(t, l2, want, rng)
		})
	}
}

// checkReadData reads every record's data at a few offsets and lengths,
// including reads that run past the end.
func checkReadData(t *testing.T, l *Log, recs []testRecord, rng *rand.Rand) {
	t.Helper()
	for _, r := range recs {
		size := len(r.data)
		for range 5 {
			off := rng.IntN(size + 1)
			n := rng.IntN(size - off + 1)
			buf := make([]byte, n)
			got, err := l.ReadData(r.loc, int64(off), buf)
			require.NoError(t, err, "lsn %d off %d len %d", r.lsn, off, n)
			require.Equal(t, n, got)
			require.Equal(t, r.data[off:off+n], buf, "lsn %d off %d len %d", r.lsn, off, n)
		}
		// One byte too many: the bytes there are copied, then an error.
		buf := make([]byte, 2)
		got, err := l.ReadData(r.loc, int64(max(size-1, 0)), buf)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "lsn %d", r.lsn)
		if size > 0 {
			require.Equal(t, 1, got)
			require.Equal(t, r.data[size-1], buf[0])
		}
	}
}

func TestCompressionOnlyWhenSmaller(t *testing.T) {
	l := openTestLog(t, Options{Codec: CodecZstd})
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	_, _, loc, err := l.Append(1, nil, random)
	require.NoError(t, err)
	require.Equal(t, CodecNone, loc.Codec)
	require.EqualValues(t, 4096, loc.Len)

	zeros := make([]byte, 4096)
	_, _, loc, err = l.Append(1, nil, zeros)
	require.NoError(t, err)
	require.Equal(t, CodecZstd, loc.Codec)
	require.True(t, loc.Len < 4096, "stored %d bytes", loc.Len)
}

func TestSegmentRoll(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	opts := Options{Dir: t.TempDir(), VolumeID: testVolume, SegmentSize: 1024, Codec: CodecS2}
	l := openTestLog(t, opts)
	var want []testRecord
	for i := range 60 {
		want = append(want, appendTest(t, l, rng, i%7, rng.IntN(700)))
	}
	// A record larger than a whole segment gets a segment of its own.
	big := make([]byte, 5000)
	for i := range big {
		big[i] = byte(rng.UintN(256)) // incompressible
	}
	n, tm, loc, err := l.Append(7, nil, big)
	require.NoError(t, err)
	want = append(want, testRecord{lsn: n, time: tm, typ: 7, meta: []byte{}, data: big, loc: loc})
	want = append(want, appendTest(t, l, rng, 3, 10))
	bigSeg := l.Segments()[loc.Seg]
	require.Equal(t, n, bigSeg.FirstLSN)
	require.Equal(t, n, bigSeg.LastLSN)
	require.True(t, bigSeg.Size > 1024, "segment of %d bytes", bigSeg.Size)

	segs := l.Segments()
	require.Greater(t, len(segs), 5)
	for i, s := range segs {
		require.Equal(t, segmentName(s.FirstLSN), s.Name)
		if i > 0 {
			require.Equal(t, segs[i-1].LastLSN+1, s.FirstLSN, "segment %s", s.Name)
		}
		require.True(t, s.LastLSN >= s.FirstLSN, "segment %s is empty", s.Name)
	}
	for _, r := range want {
		s := segs[r.loc.Seg]
		require.True(t, s.FirstLSN <= r.lsn && r.lsn <= s.LastLSN, "lsn %d is not in segment %d", r.lsn, r.loc.Seg)
	}
	var total int64
	for _, s := range segs {
		total += s.Size
	}
	require.Equal(t, total, l.Bytes())
	require.NoError(t, l.Close())

	l2, rep, err := Open(opts, nil)
	require.NoError(t, err)
	defer l2.Close()
	require.Equal(t, len(segs), rep.Segments)
	require.Equal(t, segs, l2.Segments())
	got := scanAll(t, l2)
	requireSameRecords(t, want, got)
	for i := range want {
		require.Equal(t, want[i].loc, got[i].loc, "lsn %d", want[i].lsn)
	}
	// Appending continues in the last segment and rolls on from there.
	r := appendTest(t, l2, rng, 0, 1500)
	require.Equal(t, want[len(want)-1].lsn+1, r.lsn)
}

func TestTimesNeverDecrease(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	times := []time.Time{base, base.Add(time.Second), base.Add(-time.Hour), base.Add(2 * time.Second)}
	i := 0
	now := func() time.Time { t := times[i%len(times)]; i++; return t }
	l := openTestLog(t, Options{Now: now})
	var got []int64
	for range 3 {
		_, tm, _, err := l.Append(1, nil, nil)
		require.NoError(t, err)
		got = append(got, tm)
	}
	// The third Append gets a time an hour back and keeps the second's.
	require.Equal(t, []int64{base.UnixNano(), base.Add(time.Second).UnixNano(), base.Add(time.Second).UnixNano()}, got)
}

func TestAppendRefusals(t *testing.T) {
	l := openTestLog(t, Options{})
	_, _, _, err := l.Append(TypeInvalid, nil, nil)
	require.ErrorIs(t, err, ErrInvalidType)
	_, _, _, err = l.Append(1, make([]byte, MaxMetaLen+1), nil)
	require.ErrorIs(t, err, ErrTooLarge)
	_, _, _, err = l.Append(1, nil, make([]byte, MaxDataLen+1))
	require.ErrorIs(t, err, ErrTooLarge)
	// The log is still fine.
	n, _, _, err := l.Append(1, nil, make([]byte, MaxDataLen))
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.NoError(t, l.Close())
	_, _, _, err = l.Append(1, nil, nil)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, l.Close(), ErrClosed)
	_, err = l.ReadData(Location{}, 0, nil)
	require.ErrorIs(t, err, ErrClosed)
}

func TestEmptyLog(t *testing.T) {
	dir := t.TempDir()
	l, rep, err := Open(Options{Dir: dir, VolumeID: testVolume}, nil)
	require.NoError(t, err)
	require.Zero(t, rep.Head)
	require.Zero(t, l.Head())
	require.NoError(t, l.Sync(5))
	require.Empty(t, l.Segments())
	require.NoError(t, l.Scan(func(*Scanned) error { return errors.New("no records expected") }))
	require.NoError(t, l.Close())
	v, err := Verify(dir, nil)
	require.NoError(t, err)
	require.Zero(t, v.Records)
}

func TestReadDataBadLocation(t *testing.T) {
	l := openTestLog(t, Options{})
	_, err := l.ReadData(Location{Seg: 3}, 0, make([]byte, 1))
	require.ErrorIs(t, err, ErrBadLocation)
}

func TestScanCallbackError(t *testing.T) {
	opts := Options{Dir: t.TempDir(), VolumeID: testVolume}
	l := openTestLog(t, opts)
	for range 3 {
		_, _, _, err := l.Append(1, []byte("m"), nil)
		require.NoError(t, err)
	}
	stop := errors.New("stop")
	require.ErrorIs(t, l.Scan(func(s *Scanned) error { return stop }), stop)
	require.NoError(t, l.Close())
	_, _, err := Open(opts, func(s *Scanned) error { return stop })
	require.ErrorIs(t, err, stop)
}

// TestReadOnlyFollows opens a read-only view of a log that another Log
// keeps appending to, as a read-only mount does.
func TestReadOnlyFollows(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	opts := Options{Dir: t.TempDir(), VolumeID: testVolume, SegmentSize: 4096, Codec: CodecS2}
	w := openTestLog(t, opts)
	var want []testRecord
	for range 10 {
		want = append(want, appendTest(t, w, rng, 5, 1000))
	}
	// Another process sees records once they are written out (at a sync,
	// a close on the mount, or a full write buffer).
	require.NoError(t, w.WriteOut())
	ro := opts
	ro.ReadOnly = true
	r, rep, err := Open(ro, nil)
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, want[9].lsn, rep.Head)
	_, _, _, err = r.Append(1, nil, nil)
	require.ErrorIs(t, err, ErrReadOnly)

	for range 20 {
		want = append(want, appendTest(t, w, rng, 5, 1000))
	}
	require.NoError(t, w.WriteOut())
	requireSameRecords(t, want, scanAll(t, r))
	require.Equal(t, w.Head(), r.Head())
	require.Equal(t, w.Segments(), r.Segments())
}
