package fusefs

import (
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/require"
)

// TestObserve: every request reaches the file system and then the
// observer, with the status the file system answered; a vectored write the
// file system does not implement is left to the plain write go-fuse sends
// next, so that one write counts once.
func TestObserve(t *testing.T) {
	type call struct {
		op string
		st fuse.Status
	}
	var calls []call
	fs := Observe(fuse.NewDefaultRawFileSystem(), func(op string, took time.Duration, st fuse.Status) {
		require.GreaterOrEqual(t, took, time.Duration(0))
		calls = append(calls, call{op, st})
	})
	require.Equal(t, fuse.ENOSYS, fs.Lookup(nil, &fuse.InHeader{}, "x", &fuse.EntryOut{}))
	_, st := fs.Writev(nil, &fuse.WriteIn{}, [][]byte{{1}})
	require.Equal(t, fuse.ENOSYS, st)
	fs.Write(nil, &fuse.WriteIn{}, []byte{1})
	fs.Fsync(nil, &fuse.FsyncIn{})
	fs.Release(nil, &fuse.ReleaseIn{})
	require.Equal(t, []call{{"lookup", fuse.ENOSYS}, {"write", fuse.ENOSYS}, {"fsync", fuse.ENOSYS}, {"release", fuse.OK}}, calls)
	require.Equal(t, fuse.NewDefaultRawFileSystem().String(), fs.String(), "methods it does not observe reach the file system")
}
