package pagelog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/lsn"
)

// TestCopySegmentPrefix: a clone's log made of the parent's sealed
// segments (linked, with the parent's ID) and a copy of the segment that
// holds the branch LSN cut right after its record (with the clone's ID)
// opens at the branch LSN only when the parent's ID is an ancestor, takes
// new records after it, and leaves the parent's log as it was.
func TestCopySegmentPrefix(t *testing.T) {
	parent := t.TempDir()
	l := openTestLog(t, Options{Dir: parent, SegmentSize: 4096})
	for i := 0; i < 60; i++ {
		_, _, _, err := l.Append(1, []byte("meta"), make([]byte, 300+i))
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(l.Head()))
	segs := l.Segments()
	require.Greater(t, len(segs), 4)
	holder := segs[2]
	require.Greater(t, holder.LastLSN, holder.FirstLSN)
	through := holder.FirstLSN + (holder.LastLSN-holder.FirstLSN)/2
	before, err := os.ReadFile(filepath.Join(parent, holder.Name))
	require.NoError(t, err)

	clone := t.TempDir()
	cloneID := [16]byte{9, 9, 9}
	for _, s := range segs[:2] {
		require.NoError(t, os.Link(filepath.Join(parent, s.Name), filepath.Join(clone, s.Name)))
	}
	_, err = CopySegmentPrefix(nil, parent, holder.Name, clone, through, cloneID)
	require.NoError(t, err)
	_, err = CopySegmentPrefix(nil, parent, holder.Name, clone, through, cloneID)
	require.ErrorIs(t, err, os.ErrExist, "a copy is never overwritten")
	_, err = CopySegmentPrefix(nil, parent, holder.Name, t.TempDir(), holder.LastLSN+1, cloneID)
	require.ErrorContains(t, err, "ends at LSN")
	_, err = CopySegmentPrefix(nil, parent, holder.Name, t.TempDir(), holder.FirstLSN-1, cloneID)
	require.Error(t, err)

	_, _, err = Open(Options{Dir: clone, VolumeID: cloneID, SegmentSize: 4096}, nil)
	require.ErrorIs(t, err, ErrVolumeMismatch, "the parent's segments without the lineage")
	c, rep, err := Open(Options{Dir: clone, VolumeID: cloneID, AncestorIDs: [][16]byte{testVolume}, SegmentSize: 4096}, nil)
	require.NoError(t, err)
	require.Equal(t, through, rep.Head)
	require.Zero(t, rep.CutBytes, "the copy ends exactly after its last record")
	for i := 0; i < 30; i++ {
		got, _, _, err := c.Append(2, []byte("clone"), make([]byte, 500))
		require.NoError(t, err)
		require.Equal(t, through+lsn.LSN(i)+1, got)
	}
	require.NoError(t, c.Close())
	_, err = Verify(clone, nil)
	require.ErrorIs(t, err, ErrVolumeMismatch)
	vr, err := VerifyVolumes(clone, nil, [][16]byte{cloneID, testVolume})
	require.NoError(t, err)
	require.Equal(t, through+30, vr.Head)

	after, err := os.ReadFile(filepath.Join(parent, holder.Name))
	require.NoError(t, err)
	require.Equal(t, before, after, "the parent's segment changed")

	// A clone at a base whose segment is gone starts with an empty one.
	empty := t.TempDir()
	require.NoError(t, CreateEmptySegment(nil, empty, 101, cloneID))
	e, rep, err := Open(Options{Dir: empty, VolumeID: cloneID}, nil)
	require.NoError(t, err)
	require.Equal(t, lsn.LSN(100), rep.Head)
	got, _, _, err := e.Append(1, nil, []byte("x"))
	require.NoError(t, err)
	require.Equal(t, lsn.LSN(101), got)
	require.NoError(t, e.Close())
}
