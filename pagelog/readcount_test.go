package pagelog

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCountReads: a recovery scan through CountReads reads about what
// ScanBytes predicts, and AppendedBytes counts what was appended.
func TestCountReads(t *testing.T) {
	dir := t.TempDir()
	l, _, err := Open(Options{Dir: dir, SegmentSize: 1 << 16}, nil)
	require.NoError(t, err)
	data := bytes.Repeat([]byte{7}, 3000)
	for i := 0; i < 100; i++ {
		_, _, _, err := l.Append(1, []byte("m"), data)
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(l.Head()))
	appended := l.AppendedBytes()
	require.Greater(t, appended, int64(100*3000))
	require.NoError(t, l.Close())

	require.GreaterOrEqual(t, ScanBytes(dir), appended, "the segments hold every appended record")
	want := OpenBytes(dir) // sealed segments are read from their indexes
	var n atomic.Int64
	l, rep, err := Open(Options{Dir: dir, ReadOnly: true, FS: CountReads(nil, &n)}, nil)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, int64(100), rep.Records)
	require.Zero(t, l.AppendedBytes(), "nothing appended since this Open")
	require.GreaterOrEqual(t, n.Load(), want)
	require.LessOrEqual(t, n.Load(), 2*want)
}

// A record larger than the scan's read window is read once, not once for
// its header and again whole: mounting a log of 1 MiB writes reads the
// log's bytes once.
func TestScanReadsLargeRecordsOnce(t *testing.T) {
	dir := t.TempDir()
	l, _, err := Open(Options{Dir: dir, SegmentSize: 16 << 20}, nil)
	require.NoError(t, err)
	big := bytes.Repeat([]byte{9}, readWindow+5000)
	small := bytes.Repeat([]byte{3}, 3000)
	for i := 0; i < 20; i++ {
		for _, d := range [][]byte{big, small, big[:readWindow-100]} {
			_, _, _, err := l.Append(1, []byte("m"), d)
			require.NoError(t, err)
		}
	}
	require.NoError(t, l.Close())

	want := OpenBytes(dir)
	var n atomic.Int64
	l, rep, err := Open(Options{Dir: dir, ReadOnly: true, FS: CountReads(nil, &n)}, nil)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, int64(60), rep.Records)
	require.LessOrEqual(t, n.Load(), want+readWindow, "read %d bytes of a %d-byte log", n.Load(), want)
	var got int
	require.NoError(t, l.Scan(func(s *Scanned) error { got++; return nil }))
	require.Equal(t, 60, got)
}
