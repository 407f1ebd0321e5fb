package pagelog

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func preallocOpts(fs FS) Options {
	return Options{Dir: "/log", VolumeID: testVolume, FS: fs, SegmentSize: 64 << 10, Preallocate: true}
}

// A preallocated segment is reserved at full size, reads as a clean end
// after its last record, and is cut to its last record when sealed.
func TestPreallocatedSegments(t *testing.T) {
	mem := NewMemFS()
	opts := preallocOpts(mem)
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	var recs []testRecord
	for i := 0; i < 3; i++ {
		n, tm, loc, err := l.Append(1, []byte("m"), []byte("first segment"))
		require.NoError(t, err)
		recs = append(recs, testRecord{lsn: n, time: tm, typ: 1, meta: []byte("m"), data: []byte("first segment"), loc: loc})
	}
	require.NoError(t, l.Sync(l.Head()))
	first := segmentName(1)
	b, err := mem.ReadFile("/log/" + first)
	require.NoError(t, err)
	require.Len(t, b, 64<<10, "the segment is reserved at its full size")
	require.Less(t, l.Bytes(), int64(64<<10), "Bytes counts records, not reserved space")
	require.NoError(t, l.Close())

	l, rep, err := Open(opts, nil)
	require.NoError(t, err)
	require.Zero(t, rep.CutBytes, "the reserved zeros are not a torn tail")
	require.EqualValues(t, 3, rep.Head)
	requireSameRecords(t, recs, scanAll(t, l))

	// Fill past the first segment: the sealed one ends at its last record.
	big := make([]byte, 40<<10)
	for i := 0; i < 3; i++ {
		_, _, _, err := l.Append(2, nil, big)
		require.NoError(t, err)
	}
	infos := l.Segments()
	require.Greater(t, len(infos), 1)
	require.NoError(t, l.Close())
	sealed, err := mem.ReadFile("/log/" + first)
	require.NoError(t, err)
	require.EqualValues(t, infos[0].Size, len(sealed), "a sealed segment must end at its last record")
	_, err = Verify("/log", mem)
	require.NoError(t, err)
}

// A crash can keep a later unsynced record and lose an earlier one, which
// then reads as zeros. That is a torn tail (everything from the gap on was
// unsynced), not corruption: recovery keeps the synced prefix.
func TestUnsyncedGapIsATornTail(t *testing.T) {
	mem := NewMemFS()
	opts := preallocOpts(mem)
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	_, _, _, err = l.Append(1, []byte("synced"), []byte("kept"))
	require.NoError(t, err)
	require.NoError(t, l.Sync(l.Head()))
	end := l.Bytes()
	_, _, _, err = l.Append(1, []byte("lost"), []byte("never reached the disk"))
	require.NoError(t, err)
	gapEnd := l.Bytes()
	_, _, _, err = l.Append(1, []byte("kept by chance"), []byte("written, not synced"))
	require.NoError(t, err)
	require.NoError(t, l.Close())

	f, err := mem.OpenFile("/log/"+segmentName(1), os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, gapEnd-end), end)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	l, rep, err := Open(opts, nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Head)
	require.NotZero(t, rep.CutBytes)
	require.LessOrEqual(t, rep.CutBytes, l.Bytes()+256, "the reserved zeros are not counted as cut")
	require.Contains(t, rep.CutReason, "unsynced")
	got := scanAll(t, l)
	require.Len(t, got, 1)
	require.NoError(t, l.Close())
	_, err = Verify("/log", mem)
	require.NoError(t, err)
}
