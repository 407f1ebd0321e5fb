package volume

import (
	"bytes"
	"errors"
	"math/rand"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/backtrack"
	"github.com/rewindfs/rewindfs/compaction"
	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// fakeClock is a clock tests move by hand, so that records leave the
// window when the test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type noted struct {
	l    lsn.LSN
	tree string
}

// clockVolume makes and opens a volume whose clock the test moves by hand
// (quiet drops the volume's log lines).
func clockVolume(t *testing.T, o InitOptions, quiet bool) (*Volume, string, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := filepath.Join(t.TempDir(), "vol")
	o.Now = clock.Now()
	_, err := Init(dir, o)
	require.NoError(t, err)
	logf := t.Logf
	if quiet {
		logf = func(string, ...any) {}
	}
	v, err := Open(dir, Options{Logf: logf, Now: clock.Now})
	require.NoError(t, err)
	return v, dir, clock
}

// windowEdge is the first LSN of the volume's window, as compaction sees
// it: every state from there on must stay offered.
func windowEdge(t *testing.T, v *Volume) lsn.LSN {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	plan, err := compaction.Choose(v.hist, v.log.Segments(), v.policy, v.now(), v.log.Durable(), nil)
	require.NoError(t, err)
	return plan.Edge
}

// compactAll runs Compact until nothing is left to do.
func compactAll(t *testing.T, v *Volume) CompactReport {
	t.Helper()
	var total CompactReport
	for i := 0; ; i++ {
		r, err := v.Compact()
		require.NoError(t, err)
		if i == 0 {
			total.FromLSN = r.FromLSN
		}
		total.ToLSN = r.ToLSN
		total.SegmentsRemoved += r.SegmentsRemoved
		total.BytesFreed += r.BytesFreed
		if r.Done() || r.ToLSN == r.FromLSN {
			total.LagRecords, total.HeldBy = r.LagRecords, r.HeldBy
			return total
		}
	}
}

// checkWindow opens a read-only view of every noted state: those in the
// window (from its edge on) must show their tree exactly, those before the
// volume's earliest LSN must be refused. Between the two, a state on a
// timeline that a rewind started from below the base image may be refused
// (the window's own states are not built on it, so compaction may fold it
// away); if it is offered, it must be exact. A live rewind to a state
// before the earliest is refused too and changes nothing.
func checkWindow(t *testing.T, v *Volume, fs pagelog.FS, notes []noted) {
	t.Helper()
	earliest := v.Status().EarliestLSN
	edge := windowEdge(t, v)
	live := dump(t, v)
	for _, n := range notes {
		at := lsn.Target{Kind: lsn.TargetLSN, LSN: n.l}
		view, err := Open(v.Dir, Options{ReadOnly: true, At: &at, Logf: t.Logf, Now: v.now, FS: fs})
		if n.l < earliest {
			require.ErrorIs(t, err, backtrack.ErrOutsideWindow, "view at LSN %d before the earliest %d", n.l, earliest)
			_, _, err = v.Rewind(n.l)
			require.ErrorIs(t, err, backtrack.ErrOutsideWindow, "rewind to LSN %d before the earliest %d", n.l, earliest)
			continue
		}
		if n.l < edge && errors.Is(err, backtrack.ErrOutsideWindow) {
			continue
		}
		require.NoError(t, err, "view at LSN %d (earliest %d, window from %d)", n.l, earliest, edge)
		require.Equal(t, n.tree, dump(t, view), "view at LSN %d (earliest %d)", n.l, earliest)
		require.NoError(t, view.Close())
	}
	require.Equal(t, live, dump(t, v), "the live tree changed")
}

// TestCompactionKeepsEveryStateInTheWindow: a random workload with
// rewinds, a moving clock and compaction after every stretch. Compaction
// never changes the live tree, every noted state at or after the earliest
// LSN still rewinds exactly (also after a restart and through views),
// older ones are refused, and whole segments are deleted.
func TestCompactionKeepsEveryStateInTheWindow(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	v, dir, clock := clockVolume(t, InitOptions{Window: 10 * time.Second, SegmentSize: 1 << 16}, false)
	defer func() { v.Close() }()

	w := &workload{t: t, v: v, rng: rng, dirs: []uint64{fsstate.RootIno}}
	var notes []noted
	removed := 0
	for round := 0; round < 12; round++ {
		for i := 0; i < 150; i++ {
			clock.Add(20 * time.Millisecond)
			w.step()
			if rng.Intn(25) == 0 {
				notes = append(notes, noted{v.Head(), dump(t, v)})
			}
		}
		if round%4 == 3 && len(notes) > 0 {
			// A rewind makes a new timeline; the abandoned one stays
			// restorable while it is in the window.
			n := notes[rng.Intn(len(notes))]
			if _, _, err := v.Rewind(n.l); err == nil {
				w.files, w.dirs = liveFiles(v)
			}
		}
		require.NoError(t, v.Flush())
		before := dump(t, v)
		r := compactAll(t, v)
		removed += r.SegmentsRemoved
		require.Equal(t, before, dump(t, v), "compaction changed the live tree (round %d)", round)
		require.Zero(t, r.LagRecords, "compaction left work behind")
		checkWindow(t, v, nil, notes)
	}
	st := v.Status()
	require.Greater(t, st.BaseLSN, lsn.LSN(0), "the base never moved")
	require.Greater(t, removed, 0, "no segment was deleted")

	// A restart rebuilds the same live tree and the same window.
	live := dump(t, v)
	require.NoError(t, v.Close())
	v, err := Open(dir, Options{Logf: t.Logf, Now: clock.Now})
	require.NoError(t, err)
	require.Equal(t, live, dump(t, v))
	require.Equal(t, st.EarliestLSN, v.Status().EarliestLSN)
	checkWindow(t, v, nil, notes)

	// Live rewinds to states in the window give them back exactly (those
	// before its edge, if they are still offered; see checkWindow).
	head, edge := v.Head(), windowEdge(t, v)
	for _, i := range rng.Perm(len(notes)) {
		if notes[i].l >= v.Status().EarliestLSN {
			_, _, err := v.Rewind(notes[i].l)
			if notes[i].l < edge && errors.Is(err, backtrack.ErrOutsideWindow) {
				continue
			}
			require.NoError(t, err)
			require.Equal(t, notes[i].tree, dump(t, v), "after a rewind to LSN %d", notes[i].l)
		}
	}
	_, _, err = v.Rewind(head)
	require.NoError(t, err)
	require.Equal(t, live, dump(t, v))
}

// TestViewPinsCompaction: a mounted view at LSN L keeps compaction from
// folding past L, and reads the same tree before and after a compaction
// of the live volume.
func TestViewPinsCompaction(t *testing.T) {
	v, dir, clock := clockVolume(t, InitOptions{Window: 5 * time.Second, SegmentSize: 1 << 16}, false)
	defer func() { v.Close() }()
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(7)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 300; i++ {
		clock.Add(10 * time.Millisecond)
		w.step()
	}
	require.NoError(t, v.Flush())
	pinned := noted{v.Head(), dump(t, v)}
	at := lsn.Target{Kind: lsn.TargetLSN, LSN: pinned.l}
	view, err := Open(dir, Options{ReadOnly: true, At: &at, Logf: t.Logf, Purpose: "mounted at /mnt/test", Now: clock.Now})
	require.NoError(t, err)
	for i := 0; i < 600; i++ {
		clock.Add(50 * time.Millisecond)
		w.step()
	}
	require.NoError(t, v.Flush())
	r := compactAll(t, v)
	require.LessOrEqual(t, r.ToLSN, pinned.l, "compaction folded past a mounted view")
	require.Contains(t, r.HeldBy, "read-only view mounted at /mnt/test")
	require.Contains(t, v.Status().Warnings[0], "read-only view mounted at /mnt/test")
	require.Equal(t, pinned.tree, dump(t, view), "the view changed under compaction")
	require.NoError(t, view.Close())

	// Once the view is gone, compaction moves on.
	r = compactAll(t, v)
	require.Greater(t, r.ToLSN, pinned.l)
	_, _, err = v.Rewind(pinned.l)
	require.ErrorIs(t, err, backtrack.ErrOutsideWindow)
}

// TestCompactionCrashAtEveryStep stops the machine at every changing file
// system call of a compaction (all later calls fail, then everything not
// synced is lost), reopens, and checks that the live tree is the same and
// every state the reopened volume offers rebuilds exactly.
func TestCompactionCrashAtEveryStep(t *testing.T) {
	for k := 0; ; k++ {
		clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		dir := filepath.Join(t.TempDir(), "vol")
		_, err := Init(dir, InitOptions{Window: 2 * time.Second, SegmentSize: 1 << 16, Now: clock.Now()})
		require.NoError(t, err)
		mem := pagelog.NewMemFS()
		efs := pagelog.NewErrorFS(mem)
		v, err := Open(dir, Options{Logf: func(string, ...any) {}, Now: clock.Now, FS: efs})
		require.NoError(t, err)
		w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(11)), dirs: []uint64{fsstate.RootIno}}
		var notes []noted
		for i := 0; i < 400; i++ {
			clock.Add(15 * time.Millisecond)
			w.step()
			if i%40 == 39 {
				notes = append(notes, noted{v.Head(), dump(t, v)})
			}
		}
		require.NoError(t, v.Flush())
		live := dump(t, v)
		efs.Inject(pagelog.Fault{Op: pagelog.OpAny, Nth: k, Err: syscall.EIO, Crash: true})
		_, cerr := v.Compact()
		fired := efs.Fired()
		if !fired {
			require.NoError(t, cerr)
		}
		// The process dies here: no Close. Then the machine loses what
		// was not synced.
		v.lock.Release()
		mem.Crash()

		v2, err := Open(dir, Options{Logf: func(string, ...any) {}, Now: clock.Now, FS: pagelog.NewErrorFS(mem)})
		require.NoError(t, err, "reopen after a crash at changing call %d of compaction", k)
		require.Equal(t, live, dump(t, v2), "live tree after a crash at call %d", k)
		checkWindow(t, v2, mem, notes)
		// And compaction can finish afterwards.
		_, err = v2.Compact()
		require.NoError(t, err)
		require.Equal(t, live, dump(t, v2))
		require.NoError(t, v2.Close())
		if !fired {
			require.Greater(t, k, 5, "compaction made suspiciously few changing calls")
			t.Logf("compaction made %d changing calls; crashed at each", k)
			return
		}
	}
}

// TestResetToMarkKeepsTheLogBounded is the test-database use case: mark a
// state, then for a long time run a "test" and rewind to the mark after
// it. Every reset is a rewind back to the mark, so the whole window is
// built on the mark's state; compaction must still drop the runs between
// resets once they leave the window, and the mark must stay a target.
func TestResetToMarkKeepsTheLogBounded(t *testing.T) {
	v, dir, clock := clockVolume(t, InitOptions{Window: 3 * time.Second, SegmentSize: 1 << 16}, true)
	defer func() { v.Close() }()
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(5)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 100; i++ {
		w.step()
	}
	_, err := v.Mark("clean", false)
	require.NoError(t, err)
	clean := dump(t, v)
	files, dirs := liveFiles(v)
	var peak, last int64
	for run := 0; run < 60; run++ {
		w.files, w.dirs = append([]uint64(nil), files...), append([]uint64(nil), dirs...)
		for i := 0; i < 60; i++ {
			clock.Add(10 * time.Millisecond)
			w.step()
		}
		l, err := v.Resolve(lsn.Target{Kind: lsn.TargetMark, Mark: "clean"})
		require.NoError(t, err)
		_, _, err = v.Rewind(l)
		require.NoError(t, err)
		require.Equal(t, clean, dump(t, v), "reset %d", run)
		require.NoError(t, v.Flush())
		compactAll(t, v)
		last = v.Status().LogBytes
		if run == 20 {
			peak = last
		}
	}
	require.Greater(t, v.Status().BaseLSN, lsn.LSN(0))
	require.Less(t, last, 2*peak, "the log keeps growing while the volume is reset to one mark")
	// After all that, the mark still works, also after a restart.
	require.NoError(t, v.Close())
	v, err = Open(dir, Options{Logf: t.Logf, Now: clock.Now})
	require.NoError(t, err)
	w.v = v
	w.files, w.dirs = liveFiles(v)
	for i := 0; i < 30; i++ {
		w.step()
	}
	l, err := v.Resolve(lsn.Target{Kind: lsn.TargetMark, Mark: "clean"})
	require.NoError(t, err)
	_, _, err = v.Rewind(l)
	require.NoError(t, err)
	require.Equal(t, clean, dump(t, v))
}

// TestKeptMarkHoldsCompaction: a mark made with keep stays restorable
// after it leaves the window; deleting it lets compaction move on.
func TestKeptMarkHoldsCompaction(t *testing.T) {
	v, dir, clock := clockVolume(t, InitOptions{Window: 2 * time.Second, SegmentSize: 1 << 16}, false)
	defer func() { v.Close() }()
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(9)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 200; i++ {
		clock.Add(10 * time.Millisecond)
		w.step()
	}
	l, err := v.Mark("golden", true)
	require.NoError(t, err)
	golden := dump(t, v)
	for i := 0; i < 500; i++ {
		clock.Add(20 * time.Millisecond)
		w.step()
	}
	require.NoError(t, v.Flush())
	r := compactAll(t, v)
	require.LessOrEqual(t, r.ToLSN, l)
	require.Contains(t, r.HeldBy, `kept mark "golden"`)
	view, err := Open(dir, Options{ReadOnly: true, At: &lsn.Target{Kind: lsn.TargetMark, Mark: "golden"}, Logf: t.Logf, Now: clock.Now})
	require.NoError(t, err)
	require.Equal(t, golden, dump(t, view))
	require.NoError(t, view.Close())

	require.NoError(t, v.Unmark("golden"))
	require.Error(t, v.Unmark("golden"), "a deleted mark cannot be deleted again")
	r = compactAll(t, v)
	require.Greater(t, r.ToLSN, l, "compaction still held after the kept mark was deleted")
	_, err = v.Resolve(lsn.Target{Kind: lsn.TargetMark, Mark: "golden"})
	require.ErrorIs(t, err, backtrack.ErrUnknownMark)
}

// TestCompactionWhileWritingAndReading runs compaction in a loop while
// another goroutine writes and reads a file; every read must return what
// was last written there. Run with -race.
func TestCompactionWhileWritingAndReading(t *testing.T) {
	v, _, clock := clockVolume(t, InitOptions{Window: time.Second, SegmentSize: 1 << 16}, true)
	defer func() { v.Close() }()
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o644, 0, 0, 0, false)
	require.NoError(t, err)
	const pages = 64
	ps := v.PageSize()
	want := make([][]byte, pages)
	for p := range want {
		want[p] = make([]byte, ps)
		_, err := v.Write(a.Ino, int64(p*ps), want[p])
		require.NoError(t, err)
	}
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		var err error
		for err == nil {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err = v.Flush(); err == nil {
				_, err = v.Compact()
			}
		}
		done <- err
	}()
	rng := rand.New(rand.NewSource(1))
	got := make([]byte, ps)
	for i := 0; i < 3000; i++ {
		clock.Add(5 * time.Millisecond)
		p := rng.Intn(pages)
		if rng.Intn(2) == 0 {
			b := make([]byte, ps)
			rng.Read(b)
			_, err := v.Write(a.Ino, int64(p*ps), b)
			require.NoError(t, err)
			want[p] = b
		}
		n, err := v.Read(a.Ino, int64(p*ps), got)
		require.NoError(t, err)
		require.Equal(t, ps, n)
		require.Equal(t, want[p], got, "page %d at step %d", p, i)
	}
	close(stop)
	require.NoError(t, <-done)
	require.Greater(t, v.Status().BaseLSN, lsn.LSN(0))
}

// TestByteCapShortensTheWindow: a cap smaller than the window needs makes
// compaction drop records still inside the window; status says so, the
// log stays near the cap, and writes never fail because of it.
func TestByteCapShortensTheWindow(t *testing.T) {
	const capBytes = 512 << 10
	v, _, clock := clockVolume(t, InitOptions{Window: time.Hour, MaxLogBytes: capBytes, SegmentSize: 1 << 16}, true)
	defer func() { v.Close() }()
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(4)), dirs: []uint64{fsstate.RootIno}}
	var notes []noted
	for i := 0; i < 3000; i++ {
		clock.Add(10 * time.Millisecond)
		w.step() // require.NoError inside: no write fails
		if i%300 == 299 {
			require.NoError(t, v.Flush())
			compactAll(t, v)
			notes = append(notes, noted{v.Head(), dump(t, v)})
		}
	}
	st := v.Status()
	require.Greater(t, st.EarliestLSN, lsn.LSN(1), "the cap did not move the window")
	require.LessOrEqual(t, st.LogBytes, int64(capBytes+(1<<16)), "the log outgrew its cap by more than a segment")
	require.NotEmpty(t, st.Warnings)
	require.Contains(t, st.Warnings[0], "byte cap")
	held, err := time.ParseDuration(st.WindowActual)
	require.NoError(t, err)
	require.Less(t, held, time.Hour)
	checkWindow(t, v, nil, notes)
}

// TestTruncateThroughABasePage: a page that only the base image holds,
// cut by a truncate and then grown back, reads as zeros past the cut.
func TestTruncateThroughABasePage(t *testing.T) {
	v, _, clock := clockVolume(t, InitOptions{Window: time.Second, SegmentSize: 1 << 16}, false)
	defer func() { v.Close() }()
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o644, 0, 0, 0, false)
	require.NoError(t, err)
	full := bytes.Repeat([]byte{0xaa}, 2*v.PageSize())
	_, err = v.Write(a.Ino, 0, full)
	require.NoError(t, err)
	require.NoError(t, v.Flush())
	clock.Add(time.Hour)
	_, err = v.Mark("x", false) // a record inside the window, so the write can leave it
	require.NoError(t, err)
	compactAll(t, v)
	require.GreaterOrEqual(t, v.Status().BaseLSN, lsn.LSN(2), "the write was not folded into the base image")

	_, err = v.SetAttr(a.Ino, SetAttrIn{Valid: fsstate.SetSize, Size: 100})
	require.NoError(t, err)
	_, err = v.Write(a.Ino, int64(2*v.PageSize()-1), []byte{1})
	require.NoError(t, err)
	got := make([]byte, 2*v.PageSize())
	n, err := v.Read(a.Ino, 0, got)
	require.NoError(t, err)
	require.Equal(t, len(got), n)
	want := make([]byte, len(got))
	copy(want, full[:100])
	want[len(want)-1] = 1
	require.Equal(t, want, got)
}

// TestCompactionFailureIsRetried: a compaction that hits ENOSPC or EIO
// (not a crash) fails, the volume keeps taking writes and serving every
// state it offers, and the next compaction finishes the job.
func TestCompactionFailureIsRetried(t *testing.T) {
	for _, fault := range []pagelog.Fault{
		{Op: pagelog.OpWrite, Nth: 3, Err: syscall.ENOSPC},
		{Op: pagelog.OpSync, Nth: 2, Err: syscall.EIO},
		{Op: pagelog.OpRename, Nth: 0, Err: syscall.EIO},
	} {
		clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		dir := filepath.Join(t.TempDir(), "vol")
		_, err := Init(dir, InitOptions{Window: 2 * time.Second, SegmentSize: 1 << 16, Now: clock.Now()})
		require.NoError(t, err)
		efs := pagelog.NewErrorFS(pagelog.Disk)
		v, err := Open(dir, Options{Logf: func(string, ...any) {}, Now: clock.Now, FS: efs})
		require.NoError(t, err)
		w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(8)), dirs: []uint64{fsstate.RootIno}}
		var notes []noted
		for i := 0; i < 400; i++ {
			clock.Add(15 * time.Millisecond)
			w.step()
			if i%50 == 49 {
				notes = append(notes, noted{v.Head(), dump(t, v)})
			}
		}
		require.NoError(t, v.Flush())
		efs.Inject(fault)
		_, err = v.Compact()
		require.Error(t, err, "fault %+v did not reach compaction", fault)
		// Writes go on; the states offered are intact.
		for i := 0; i < 50; i++ {
			w.step()
		}
		require.NoError(t, v.Flush())
		notes = append(notes, noted{v.Head(), dump(t, v)})
		checkWindow(t, v, nil, notes)
		r := compactAll(t, v)
		require.Greater(t, r.ToLSN, lsn.LSN(0))
		checkWindow(t, v, nil, notes)
		require.NoError(t, v.Close())
	}
}

// TestCompactionKeepsUnarchivedSegments: with an archive behind, folding
// goes on but no segment holding a record after what the archive has
// confirmed is deleted; once it catches up, they go.
func TestCompactionKeepsUnarchivedSegments(t *testing.T) {
	v, _, clock := clockVolume(t, InitOptions{Window: time.Second, SegmentSize: 1 << 16}, true)
	defer func() { v.Close() }()
	archived := lsn.LSN(0)
	v.SetArchivedThrough(func() lsn.LSN { return archived })
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(12)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 600; i++ {
		clock.Add(10 * time.Millisecond)
		w.step()
	}
	require.NoError(t, v.Flush())
	segs := len(v.log.Segments())
	r := compactAll(t, v)
	require.Greater(t, r.ToLSN, lsn.LSN(0), "the base did not move")
	require.Zero(t, r.SegmentsRemoved, "a segment the archive has not confirmed was deleted")
	require.Equal(t, segs, len(v.log.Segments()))

	archived = r.ToLSN / 2
	compactAll(t, v)
	require.LessOrEqual(t, v.log.Segments()[0].FirstLSN, archived+1,
		"a segment with records after the archived LSN %d was deleted", archived)
	require.Less(t, len(v.log.Segments()), segs, "nothing was deleted once the archive caught up")
	for _, s := range v.log.Segments() {
		if s.LastLSN > archived {
			continue
		}
		t.Fatalf("segment %s (LSNs %d..%d) is wholly archived and folded but still there", s.Name, s.FirstLSN, s.LastLSN)
	}
}
