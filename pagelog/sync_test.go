package pagelog

import (
	"github.com/stretchr/testify/require"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
)

// TestGroupCommit holds the first fdatasync back until every writer has
// appended its record, so that they all arrive while a sync runs: they must
// share the next one instead of each running its own.
func TestGroupCommit(t *testing.T) {
	const writers = 50
	efs := NewErrorFS(NewMemFS())
	l := openTestLog(t, Options{Dir: "/log", FS: efs})
	_, _, _, err := l.Append(1, nil, []byte("first"))
	require.NoError(t, err)

	release := make(chan struct{})
	var held atomic.Bool
	efs.SetHook(func(op Op, _ string) {
		if op == OpDatasync && held.CompareAndSwap(false, true) {
			<-release
		}
	})
	before := efs.Count(OpDatasync)
	leaderDone := make(chan error)
	go func() { leaderDone <- l.Sync(1) }()
	waitFor(t, "the first sync to start", held.Load)

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			n, _, _, err := l.Append(2, nil, []byte("page"))
			if err == nil {
				err = l.Sync(n)
			}
			errs <- err
		})
	}
	waitFor(t, "all writers to append", func() bool { return l.Head() == writers+1 })
	close(release)
	require.NoError(t, <-leaderDone)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	syncs := efs.Count(OpDatasync) - before
	t.Logf("%d Sync calls, %d fdatasyncs", writers+1, syncs)
	require.True(t, syncs < writers+1, "%d fdatasyncs for %d Sync calls", syncs, writers+1)
	require.Equal(t, l.Head(), l.Durable())
}

// TestGroupCommitStress runs many writers that each append and sync, and
// checks that every Sync really covered its record and that syncs were
// shared. It also reads data back concurrently, for the race detector.
func TestGroupCommitStress(t *testing.T) {
	const writers, perWriter = 16, 40
	efs := NewErrorFS(NewMemFS())
	// Make fdatasync take a moment, as on a real disk.
	efs.SetHook(func(op Op, _ string) {
		if op == OpDatasync {
			time.Sleep(100 * time.Microsecond)
		}
	})
	l := openTestLog(t, Options{Dir: "/log", FS: efs, SegmentSize: 16 << 10, Codec: CodecS2})
	var wg sync.WaitGroup
	var syncCalls atomic.Int64
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range perWriter {
				meta, data := makeRecord(rng, 8, rng.IntN(2000))
				n, _, loc, err := l.Append(Type(w+1), meta, data)
				if err != nil {
					t.Error(err)
					return
				}
				syncCalls.Add(1)
				if err := l.Sync(n); err != nil {
					t.Error(err)
					return
				}
				if d := l.Durable(); d < n {
					t.Errorf("Sync(%d) returned with durable %d", n, d)
				}
				got := make([]byte, len(data))
				if _, err := l.ReadData(loc, 0, got); err != nil || string(got) != string(data) {
					t.Errorf("lsn %d: read back %v", n, err)
				}
			}
		})
	}
	// Scans run alongside and see a contiguous prefix each time.
	stop := make(chan struct{})
	scans := make(chan int)
	go func() {
		n := 0
		defer func() { scans <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var prev lsn.LSN
			err := l.Scan(func(s *Scanned) error {
				if s.LSN != prev+1 {
					t.Errorf("scan: lsn %d after %d", s.LSN, prev)
				}
				prev = s.LSN
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	wg.Wait()
	close(stop)
	t.Logf("%d concurrent scans", <-scans)
	syncs := efs.Count(OpDatasync)
	t.Logf("%d Sync calls, %d fdatasyncs, %d segments", syncCalls.Load(), syncs, len(l.Segments()))
	require.True(t, int64(syncs) < syncCalls.Load(), "no sync was shared")
	require.Equal(t, lsn.LSN(writers*perWriter), l.Head())
}

// TestSyncFailureIsSticky: once an fdatasync failed, nothing may be
// reported durable again, not even after a later fdatasync would succeed.
func TestSyncFailureIsSticky(t *testing.T) {
	mem := NewMemFS()
	efs := NewErrorFS(mem)
	opts := Options{Dir: "/log", VolumeID: testVolume, FS: efs}
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	n1, _, _, err := l.Append(1, nil, []byte("durable"))
	require.NoError(t, err)
	require.NoError(t, l.Sync(n1))

	efs.Inject(Fault{Op: OpDatasync, Nth: 0, Err: syscall.EIO})
	n2, _, _, err := l.Append(1, nil, []byte("lost"))
	require.NoError(t, err)
	err = l.Sync(n2)
	require.ErrorIs(t, err, ErrBroken)
	require.ErrorIs(t, err, syscall.EIO)
	require.Equal(t, n1, l.Durable())

	// Everything keeps failing with the same error, also Sync of an LSN
	// that was durable before.
	for range 3 {
		_, _, _, err2 := l.Append(1, nil, []byte("more"))
		require.Equal(t, err, err2)
		require.Equal(t, err, l.Sync(n2))
		require.Equal(t, err, l.Sync(n1))
	}
	require.Equal(t, n1, l.Durable())
	require.ErrorIs(t, l.Close(), ErrBroken)

	// After a crash the synced record is there; the other may or may not.
	mem.Crash()
	l2, rep, err := Open(Options{Dir: "/log", VolumeID: testVolume, FS: mem}, nil)
	require.NoError(t, err)
	defer l2.Close()
	require.True(t, rep.Head >= n1, "head %d", rep.Head)
}

// TestSyncErrorWakesWaiters: writers waiting for a group commit whose
// fdatasync fails get the error, and none of them runs another fdatasync.
func TestSyncErrorWakesWaiters(t *testing.T) {
	efs := NewErrorFS(NewMemFS())
	l := openTestLog(t, Options{Dir: "/log", FS: efs})
	_, _, _, err := l.Append(1, nil, nil)
	require.NoError(t, err)
	release := make(chan struct{})
	var held atomic.Bool
	efs.SetHook(func(op Op, _ string) {
		if op == OpDatasync && held.CompareAndSwap(false, true) {
			<-release
		}
	})
	efs.Inject(Fault{Op: OpDatasync, Nth: 0, Err: syscall.EIO})
	before := efs.Count(OpDatasync)
	first := make(chan error)
	go func() { first <- l.Sync(1) }()
	waitFor(t, "the first sync to start", held.Load)
	n, _, _, err := l.Append(1, nil, nil)
	require.NoError(t, err)
	second := make(chan error)
	go func() { second <- l.Sync(n) }()
	close(release)
	require.ErrorIs(t, <-first, syscall.EIO)
	require.ErrorIs(t, <-second, syscall.EIO)
	require.Equal(t, 1, efs.Count(OpDatasync)-before)
}

// TestENOSPC: a full disk during a write is reported so that errors.Is
// finds syscall.ENOSPC (fusefs maps it for the application), and the log,
// reopened, cuts the partial record and goes on.
func TestENOSPC(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault Fault
	}{
		// A sealed segment's index is written in the background
		// meanwhile: its calls are left out of the count.
		{"short write", Fault{Op: OpWrite, Nth: 3, Err: syscall.ENOSPC, Short: true, Except: indexSuffix}},
		{"write", Fault{Op: OpWrite, Nth: 3, Err: syscall.ENOSPC, Except: indexSuffix}},
		{"new segment", Fault{Op: OpCreate, Nth: 1, Err: syscall.ENOSPC, Except: indexSuffix}},
		{"segment header", Fault{Op: OpWrite, Nth: 4, Err: syscall.ENOSPC, Short: true, Except: indexSuffix}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := NewMemFS()
			efs := NewErrorFS(mem)
			opts := Options{Dir: "/log", VolumeID: testVolume, FS: efs, SegmentSize: 400}
			l, _, err := Open(opts, nil)
			require.NoError(t, err)
			efs.Inject(tc.fault)
			var appended lsn.LSN
			for i := range 20 {
				n, _, _, err2 := l.Append(1, nil, make([]byte, 100+i))
				if err2 != nil {
					err = err2
					break
				}
				appended = n
			}
			// A full disk is an error for that append, not the end of the
			// log: once space is back (the fault fired once), appends and
			// syncs work, and nothing acknowledged is lost.
			require.ErrorIs(t, err, syscall.ENOSPC)
			require.NotErrorIs(t, err, ErrBroken)
			require.Equal(t, appended, l.Head(), "a failed append must not take an LSN")
			n, _, _, err := l.Append(1, nil, []byte("after the disk had room again"))
			require.NoError(t, err)
			require.Equal(t, appended+1, n)
			require.NoError(t, l.Sync(n))
			require.NoError(t, l.Close())

			opts.FS = mem
			mem.Crash()
			l2, rep, err := Open(opts, nil)
			require.NoError(t, err)
			require.Equal(t, n, rep.Head)
			require.Zero(t, rep.CutBytes, "the partial record was cut when the append failed")
			require.NoError(t, l2.Close())
			_, err = Verify("/log", mem)
			require.NoError(t, err)
		})
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
