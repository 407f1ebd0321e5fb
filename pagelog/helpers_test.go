package pagelog

import (
	"bytes"
	"errors"
	"github.com/stretchr/testify/require"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
)

var testVolume = [16]byte{0x72, 0x65, 0x77, 0x69, 0x6e, 0x64, 0x66, 0x73, 1, 2, 3, 4, 5, 6, 7, 8}

// openTestLog opens a log for a test. An empty opts.Dir becomes a fresh
// t.TempDir() and a zero VolumeID becomes testVolume. When the test ends,
// the log is written out and checked with Verify (headers, checksums,
// contiguous LSNs and segments) before it is closed, so every test checks
// the log it leaves.
func openTestLog(t testing.TB, opts Options) *Log {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.VolumeID == ([16]byte{}) {
		opts.VolumeID = testVolume
	}
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = l.WriteOut() // Verify reads the files, not the write buffer
		rep, err := Verify(opts.Dir, opts.FS)
		if err != nil {
			t.Errorf("log left by the test does not verify: %v", err)
		} else if rep.Head != l.Head() && l.broken.Load() == nil && !l.isShut.Load() {
			t.Errorf("Verify finds head %d, the log says %d", rep.Head, l.Head())
		}
		if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrBroken) {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

// testRecord is a record as a test appended it.
type testRecord struct {
	lsn  lsn.LSN
	time int64
	typ  Type
	meta []byte
	data []byte
	loc  Location
}

var testWords = []string{"page ", "row 17 ", "lsn ", "rewind ", "NULL ", "0x7f3a ", "segment ", "fsync "}

// makeRecord returns meta and data of the given sizes. The data compresses
// somewhat like a database page: its first half is random words, its
// second half runs of equal bytes.
func makeRecord(rng *rand.Rand, metaLen, dataLen int) (meta, data []byte) {
	meta = make([]byte, metaLen)
	for i := range meta {
		meta[i] = byte(rng.UintN(256))
	}
	data = make([]byte, 0, dataLen)
	for len(data) < dataLen/2 {
		data = append(data, testWords[rng.IntN(len(testWords))]...)
	}
	data = data[:dataLen]
	for i := dataLen / 2; i < dataLen; i++ {
		data[i] = byte(i / 64)
	}
	return meta, data
}

func appendTest(t testing.TB, l *Log, rng *rand.Rand, metaLen, dataLen int) testRecord {
	t.Helper()
	meta, data := makeRecord(rng, metaLen, dataLen)
	typ := Type(1 + rng.UintN(255))
	n, tm, loc, err := l.Append(typ, meta, data)
	require.NoError(t, err)
	return testRecord{lsn: n, time: tm, typ: typ, meta: meta, data: data, loc: loc}
}

// scanAll collects the records of a scan, with their data read back.
func scanAll(t testing.TB, l *Log) []testRecord {
	t.Helper()
	var recs []testRecord
	require.NoError(t, l.Scan(func(s *Scanned) error {
		recs = append(recs, testRecord{lsn: s.LSN, time: s.Time, typ: s.Type,
			meta: bytes.Clone(s.Meta), loc: s.Data, data: make([]byte, s.DataLen)})
		return nil
	}))
	for i := range recs {
		n, err := l.ReadData(recs[i].loc, 0, recs[i].data)
		require.NoError(t, err)
		require.Equal(t, len(recs[i].data), n)
	}
	return recs
}

// requireSameRecords checks that got holds exactly want, byte for byte.
func requireSameRecords(t testing.TB, want, got []testRecord) {
	t.Helper()
	require.Equal(t, len(want), len(got), "number of records")
	for i := range want {
		w, g := want[i], got[i]
		require.Equal(t, w.lsn, g.lsn, "record %d", i)
		require.Equal(t, w.time, g.time, "lsn %d time", w.lsn)
		require.Equal(t, w.typ, g.typ, "lsn %d type", w.lsn)
		require.True(t, bytes.Equal(w.meta, g.meta), "lsn %d meta differs", w.lsn)
		require.True(t, bytes.Equal(w.data, g.data), "lsn %d data differs", w.lsn)
	}
}

// stepClock is a Now that advances by step on every call.
func stepClock(start time.Time, step time.Duration) func() time.Time {
	var n atomic.Int64
	return func() time.Time {
		return start.Add(time.Duration(n.Add(1)) * step)
	}
}

// testSeed returns the seed of a randomized test and logs it: set
// PAGELOG_SEED to replay a failure.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PAGELOG_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "PAGELOG_SEED")
		seed = v
	}
	t.Logf("random seed %d (PAGELOG_SEED=%d replays it)", seed, seed)
	return seed
}
