package pagelog

import (
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// memLog opens a log on an ErrorFS over a MemFS.
func memLog(t *testing.T, opts Options) (*Log, *ErrorFS, *MemFS, Options) {
	t.Helper()
	mem := NewMemFS()
	efs := NewErrorFS(mem)
	opts.Dir, opts.VolumeID, opts.FS = "/log", testVolume, efs
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	return l, efs, mem, opts
}

// readBack reads every record's data with ReadData and compares it.
func readBack(t *testing.T, l *Log, recs []testRecord) {
	t.Helper()
	for _, r := range recs {
		got := make([]byte, len(r.data))
		n, err := l.ReadData(r.loc, 0, got)
		require.NoError(t, err, "lsn %d", r.lsn)
		require.Equal(t, len(got), n)
		require.Equal(t, r.data, got, "lsn %d", r.lsn)
		if len(r.data) > 10 {
			// A part from the middle, as a page read of a longer run is.
			part := make([]byte, 7)
			_, err := l.ReadData(r.loc, 3, part)
			require.NoError(t, err)
			require.Equal(t, r.data[3:10], part, "lsn %d, bytes 3-10", r.lsn)
		}
	}
}

// Small records are batched: eight appends and a sync are one write of
// the segment, and every record reads back before and after it, with and
// without compression.
func TestWriteBufferBatchesAppends(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecS2} {
		t.Run(codec.String(), func(t *testing.T) {
			l, efs, mem, opts := memLog(t, Options{Codec: codec})
			rng := rand.New(rand.NewPCG(1, 2))
			first := appendTest(t, l, rng, 8, 4096) // makes the first segment
			require.NoError(t, l.Sync(first.lsn))
			writes := efs.Count(OpWrite)
			var recs []testRecord
			for range 8 {
				recs = append(recs, appendTest(t, l, rng, 8, 4096))
			}
			require.Equal(t, writes, efs.Count(OpWrite), "an append of a small record wrote to the file")
			readBack(t, l, recs)
			require.NoError(t, l.Sync(recs[7].lsn))
			require.Equal(t, writes+1, efs.Count(OpWrite), "eight buffered records, one sync: one write")
			readBack(t, l, recs)
			require.NoError(t, l.Close())

			mem.Crash()
			l2, rep, err := Open(opts, nil)
			require.NoError(t, err)
			require.Equal(t, recs[7].lsn, rep.Head)
			requireSameRecords(t, append([]testRecord{first}, recs...), scanAll(t, l2))
			require.NoError(t, l2.Close())
		})
	}
}

// A record larger than bufferedMax is written at once, after whatever the
// buffer held; a full buffer is written out by the append that would
// overflow it.
func TestWriteBufferLargeRecordsAndFullBuffer(t *testing.T) {
	l, efs, _, _ := memLog(t, Options{SegmentSize: 8 << 20})
	rng := rand.New(rand.NewPCG(3, 4))
	var recs []testRecord
	recs = append(recs, appendTest(t, l, rng, 8, 100))
	writes := efs.Count(OpWrite)
	recs = append(recs, appendTest(t, l, rng, 8, bufferedMax+1))
	require.Equal(t, writes+2, efs.Count(OpWrite), "the buffer, then the large record")
	require.Zero(t, l.cur.pendFrom.Load())

	writes = efs.Count(OpWrite)
	n := bufferSize / (4096 + 64)
	for range n + 1 {
		recs = append(recs, appendTest(t, l, rng, 8, 4096))
	}
	require.Equal(t, writes+1, efs.Count(OpWrite), "%d records of 4 KiB fill the buffer once", n+1)
	readBack(t, l, recs)
	require.NoError(t, l.Close())
}

// A full disk when the buffer is written out loses nothing: Sync reports
// ENOSPC without breaking the log, the records stay readable from the
// buffer, and the next Sync writes and syncs them. An append that cannot
// make room in a full buffer fails the same way and takes no LSN.
func TestWriteBufferENOSPC(t *testing.T) {
	l, efs, mem, opts := memLog(t, Options{SegmentSize: 8 << 20})
	rng := rand.New(rand.NewPCG(5, 6))
	var recs []testRecord
	for range 4 {
		recs = append(recs, appendTest(t, l, rng, 8, 4096))
	}
	efs.Inject(Fault{Op: OpWrite, Nth: 0, Err: syscall.ENOSPC, Short: true, Except: indexSuffix})
	err := l.Sync(recs[3].lsn)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NotErrorIs(t, err, ErrBroken)
	require.Less(t, l.Durable(), recs[3].lsn)
	readBack(t, l, recs)

	// The buffer is full and the disk still is too.
	for len(l.pend)+4096+64 <= bufferSize {
		recs = append(recs, appendTest(t, l, rng, 8, 4096))
	}
	head := l.Head()
	efs.Inject(Fault{Op: OpWrite, Nth: 0, Err: syscall.ENOSPC, Except: indexSuffix})
	_, _, _, err = l.Append(1, nil, make([]byte, 4096))
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NotErrorIs(t, err, ErrBroken)
	require.Equal(t, head, l.Head(), "a failed append must not take an LSN")
	readBack(t, l, recs)

	// Space is back.
	recs = append(recs, appendTest(t, l, rng, 8, 4096))
	require.NoError(t, l.Sync(l.Head()))
	require.NoError(t, l.Close())
	mem.Crash()
	l2, rep, err := Open(opts, nil)
	require.NoError(t, err)
	require.Zero(t, rep.CutBytes, "the half-written buffer was written again whole")
	requireSameRecords(t, recs, scanAll(t, l2))
	require.NoError(t, l2.Close())
}

// Any other write error breaks the log, as a failed write did before the
// buffer: nothing after it can be trusted to reach the disk.
func TestWriteBufferEIOBreaks(t *testing.T) {
	l, efs, _, _ := memLog(t, Options{})
	rng := rand.New(rand.NewPCG(7, 8))
	r := appendTest(t, l, rng, 8, 4096)
	efs.Inject(Fault{Op: OpWrite, Nth: 0, Err: syscall.EIO, Except: indexSuffix})
	err := l.Sync(r.lsn)
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorIs(t, err, ErrBroken)
	_, _, _, err = l.Append(1, nil, nil)
	require.ErrorIs(t, err, ErrBroken)
	_ = l.Close()
}

// A crash loses what was buffered and never written out, and only that:
// the log reopens at the last record written out, a prefix of the LSNs.
// WriteOut alone (no sync) survives the end of the process, which is what
// MemFS.Crash without dropping unsynced data cannot show, so the files are
// read with a second, read-only log instead.
func TestWriteBufferWriteOutAndCrash(t *testing.T) {
	l, _, mem, opts := memLog(t, Options{})
	rng := rand.New(rand.NewPCG(9, 10))
	var recs []testRecord
	for range 3 {
		recs = append(recs, appendTest(t, l, rng, 8, 4096))
	}
	require.NoError(t, l.Sync(recs[2].lsn))
	for range 3 {
		recs = append(recs, appendTest(t, l, rng, 8, 4096))
	}
	ro := opts
	ro.ReadOnly = true
	r, rep, err := Open(ro, nil)
	require.NoError(t, err)
	require.Equal(t, recs[2].lsn, rep.Head, "a reader of the files sees records once written out")
	require.NoError(t, r.Close())

	require.NoError(t, l.WriteOut())
	r, rep, err = Open(ro, nil)
	require.NoError(t, err)
	require.Equal(t, recs[5].lsn, rep.Head)
	requireSameRecords(t, recs, scanAll(t, r))
	require.NoError(t, r.Close())

	recs = append(recs, appendTest(t, l, rng, 8, 4096)) // buffered only
	mem.Crash()
	l2, rep, err := Open(opts, nil)
	require.NoError(t, err)
	require.Equal(t, recs[2].lsn, rep.Head, "synced records survive, unsynced ones go (MemFS.Crash drops them)")
	requireSameRecords(t, recs[:3], scanAll(t, l2))
	require.NoError(t, l2.Close())
}

// Readers of buffered records race with appends and syncs that write the
// buffer out under them; run with -race.
func TestWriteBufferConcurrentReads(t *testing.T) {
	l, _, _, _ := memLog(t, Options{SegmentSize: 1 << 20, Codec: CodecS2})
	rng := rand.New(rand.NewPCG(11, 12))
	recs := make(chan testRecord, 4096)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range recs {
				got := make([]byte, len(r.data))
				if _, err := l.ReadData(r.loc, 0, got); err != nil {
					t.Errorf("lsn %d: %v", r.lsn, err)
					return
				}
				if string(got) != string(r.data) {
					t.Errorf("lsn %d: data differs", r.lsn)
					return
				}
			}
		}()
	}
	for i := range 2000 {
		r := appendTest(t, l, rng, 8, 1000+rng.IntN(3000))
		recs <- r
		if i%7 == 0 {
			require.NoError(t, l.Sync(r.lsn))
		}
	}
	close(recs)
	wg.Wait()
	require.NoError(t, l.Close())
}
