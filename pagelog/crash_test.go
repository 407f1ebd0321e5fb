package pagelog

import (
	"errors"
	"github.com/stretchr/testify/require"
	"math/rand/v2"
	"testing"
)

var errCrash = errors.New("injected crash")

// crashWorkload appends records of random sizes through l, syncing now and
// then, until an error. Every tenth is over 64 KiB, large enough for a gap
// before its data part (gapFor). It returns the records Append
// acknowledged and how many of them a successful Sync (or Close) covered.
func crashWorkload(t *testing.T, l *Log, rng *rand.Rand) (all []testRecord, synced int) {
	for i := range 40 {
		size := rng.IntN(400)
		if i%10 == 9 {
			size = 64<<10 + rng.IntN(8<<10)
		}
		meta, data := makeRecord(rng, rng.IntN(20), size)
		n, tm, loc, err := l.Append(Type(1+i%200), meta, data)
		if err != nil {
			return all, synced
		}
		all = append(all, testRecord{lsn: n, time: tm, typ: Type(1 + i%200), meta: meta, data: data, loc: loc})
		if rng.IntN(4) == 0 {
			if err := l.Sync(n); err != nil {
				return all, synced
			}
			synced = len(all)
		}
	}
	if err := l.Close(); err == nil {
		synced = len(all)
	}
	return all, synced
}

// TestCrashAtEveryWrite crashes the machine at the k-th call that changes
// something (write, sync, create, rename, ...) for k = 0, 1, 2, ... until
// the workload runs through. At the crash the disk keeps a random part of
// what was not synced, with a torn last write. After every crash the log
// must open, hold every record whose Sync returned, byte for byte, and be a
// contiguous prefix of what was appended.
func TestCrashAtEveryWrite(t *testing.T) {
	seed := testSeed(t)
	codecs := []Codec{CodecNone, CodecS2, CodecZstd}
	for k := 0; ; k++ {
		const variants = 3 // different random crashes at the same point
		done := false
		for v := range variants {
			rng := rand.New(rand.NewPCG(seed, uint64(k*variants+v)))
			mem := NewMemFS()
			efs := NewErrorFS(mem)
			efs.Inject(Fault{Op: OpAny, Nth: k, Err: errCrash, Crash: true, Short: rng.IntN(2) == 0})
			opts := Options{Dir: "/log", VolumeID: testVolume, FS: efs, SegmentSize: 1024, Codec: codecs[k%3],
				Preallocate: v%2 == 0}
			l, _, err := Open(opts, nil)
			var all []testRecord
			var synced int
			if err == nil {
				all, synced = crashWorkload(t, l, rng)
			} else if !errors.Is(err, errCrash) {
				t.Fatalf("k=%d: open: %v", k, err)
			}
			if !efs.Fired() {
				done = true
				break
			}
			mem.CrashRandom(rng)
			checkAfterCrash(t, mem, opts, all, synced, k, v)
		}
		if done {
			t.Logf("crashed at each of %d calls, %d ways each", k, variants)
			return
		}
	}
}

func checkAfterCrash(t *testing.T, mem *MemFS, opts Options, all []testRecord, synced, k, v int) {
	t.Helper()
	opts.FS = mem
	l, rep, err := Open(opts, nil)
	if err != nil {
		t.Fatalf("k=%d variant %d: open after crash: %v\n%s", k, v, err, mem)
	}
	got := scanAll(t, l)
	if len(got) < synced {
		t.Fatalf("k=%d variant %d: %d records after the crash, %d were synced", k, v, len(got), synced)
	}
	if len(got) > len(all) {
		t.Fatalf("k=%d variant %d: %d records after the crash, only %d appended", k, v, len(got), len(all))
	}
	// Every record there is byte-identical to the one appended, which also
	// makes them a contiguous prefix starting at LSN 1.
	requireSameRecords(t, all[:len(got)], got)
	require.EqualValues(t, len(got), rep.Head)

	// The log goes on from there, and a crash right after a sync loses
	// nothing.
	n, _, _, err := l.Append(1, []byte("after"), []byte("the crash"))
	require.NoError(t, err)
	require.NoError(t, l.Sync(n))
	mem.Crash()
	l, rep, err = Open(opts, nil)
	require.NoError(t, err, "k=%d variant %d: second open", k, v)
	require.Equal(t, n, rep.Head)
	require.NoError(t, l.Close())
	_, err = Verify(opts.Dir, mem)
	require.NoError(t, err, "k=%d variant %d: verify", k, v)
}

// TestCrashDuringRecovery crashes at every call of an Open that has a torn
// tail to cut: the next Open must find the same records and cut the tail
// (again, if it had not been cut).
func TestCrashDuringRecovery(t *testing.T) {
	seed := testSeed(t)
	b := buildLog(t, CodecNone, 0, 6)
	for k := 0; ; k++ {
		rng := rand.New(rand.NewPCG(seed, uint64(k)))
		mem := b.mem(t, b.last, func(c []byte) []byte { return append(c[:len(c)-10], 1, 2, 3) })
		efs := NewErrorFS(mem)
		efs.Inject(Fault{Op: OpAny, Nth: k, Err: errCrash, Crash: true, Short: rng.IntN(2) == 0})
		l, _, err := Open(b.opts(efs), nil)
		if !efs.Fired() {
			require.NoError(t, err)
			require.NoError(t, l.Close())
			t.Logf("crashed at each of %d calls", k)
			return
		}
		require.ErrorIs(t, err, errCrash)
		mem.CrashRandom(rng)
		l, rep, err := Open(b.opts(mem), nil)
		require.NoError(t, err, "k=%d", k)
		require.EqualValues(t, 5, rep.Head, "k=%d", k)
		requireSameRecords(t, b.recs[:5], scanAll(t, l))
		require.NoError(t, l.Close())
	}
}
