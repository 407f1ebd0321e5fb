package volume

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/backtrack"
	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// fingerprint describes every file under dir, byte for byte: one line per
// path with its size and a hash of its content. A volume's own files are
// what a clone must never change.
func fingerprint(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			lines = append(lines, rel+"/")
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %d %x", rel, len(b), sha256.Sum256(b)))
		return nil
	}))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func lsnTarget(l lsn.LSN) *lsn.Target { return &lsn.Target{Kind: lsn.TargetLSN, LSN: l} }

// openClone opens a clone read-write with the test's clock.
func openClone(t *testing.T, dir string, clock *fakeClock) *Volume {
	t.Helper()
	v, err := Open(dir, Options{Logf: t.Logf, Now: clock.Now})
	require.NoError(t, err)
	return v
}

// viewTree is the tree of a read-only view of dir at l.
func viewTree(t *testing.T, dir string, l lsn.LSN, clock *fakeClock) string {
	t.Helper()
	view, err := Open(dir, Options{ReadOnly: true, At: lsnTarget(l), Logf: t.Logf, Now: clock.Now})
	require.NoError(t, err)
	defer view.Close()
	return dump(t, view)
}

// TestCloneAtSeveralTargets: a random workload with rewinds and a
// compaction in its history; clones at several noted states show exactly
// the parent's state there (and its read-only view's), are independent of
// the parent in both directions, byte for byte, keep the shared history
// in their window, and can be cloned again.
func TestCloneAtSeveralTargets(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	v, dir, clock := clockVolume(t, InitOptions{Window: time.Minute, SegmentSize: 1 << 16}, true)
	defer func() { v.Close() }()
	w := &workload{t: t, v: v, rng: rng, dirs: []uint64{fsstate.RootIno}}
	var notes []noted
	run := func(n int) {
		for i := 0; i < n; i++ {
			clock.Add(10 * time.Millisecond)
			w.step()
			if rng.Intn(40) == 0 {
				notes = append(notes, noted{v.Head(), dump(t, v)})
			}
		}
	}
	run(300)
	clock.Add(2 * time.Minute) // what came before leaves the window
	run(300)
	rw := notes[len(notes)-1]
	run(50)
	// A state the rewind below abandons: a clone there takes that branch.
	abandoned := noted{v.Head(), dump(t, v)}
	_, _, err := v.Rewind(rw.l)
	require.NoError(t, err)
	w.files, w.dirs = liveFiles(v)
	run(300)
	require.NoError(t, v.Flush())
	r := compactAll(t, v)
	require.Greater(t, r.ToLSN, lsn.LSN(0), "the base never moved")
	require.Greater(t, r.SegmentsRemoved, 0)
	run(300)
	notes = append(notes, noted{v.Head(), dump(t, v)})
	_, err = v.Mark("last", true)
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	earliest := v.Status().EarliestLSN
	var inWindow []noted
	for _, n := range notes {
		if n.l >= earliest {
			inWindow = append(inWindow, n)
		}
	}
	require.GreaterOrEqual(t, len(inWindow), 3)

	// Clones at the earliest noted state, one in the middle, the base LSN
	// itself and the newest: made while the parent is open, as when it is
	// mounted.
	picks := []noted{inWindow[0], inWindow[len(inWindow)/2], inWindow[len(inWindow)-1]}
	picks = append(picks, noted{earliest, viewTree(t, dir, earliest, clock)})
	require.GreaterOrEqual(t, abandoned.l, earliest)
	picks = append(picks, abandoned)
	root := t.TempDir()
	type made struct {
		n   noted
		dir string
	}
	var clones []made
	linked := 0
	for i, n := range picks {
		cdir := filepath.Join(root, fmt.Sprintf("clone%d", i))
		rep, err := Clone(dir, cdir, CloneOptions{Target: lsnTarget(n.l), Now: clock.Now})
		require.NoError(t, err, "clone at LSN %d", n.l)
		require.Equal(t, n.l, rep.LSN)
		require.Positive(t, rep.PageFiles, "the base image was not copied")
		linked += rep.SegmentsLinked
		c := openClone(t, cdir, clock)
		require.Equal(t, n.tree, dump(t, c), "clone at LSN %d", n.l)
		require.Equal(t, viewTree(t, dir, n.l, clock), dump(t, c), "clone and view at LSN %d", n.l)
		require.NoError(t, c.Close())
		clones = append(clones, made{n, cdir})
	}
	require.Positive(t, linked, "no segment was linked")
	// The mark comes along with a clone at it (its record is after it).
	markLSN := v.Status().Marks[0].LSN
	cdir := filepath.Join(root, "at-mark")
	rep, err := Clone(dir, cdir, CloneOptions{Target: &lsn.Target{Kind: lsn.TargetMark, Mark: "last"}, Now: clock.Now})
	require.NoError(t, err)
	require.Equal(t, markLSN, rep.LSN)
	require.Equal(t, []string{"last"}, rep.Marks)
	c := openClone(t, cdir, clock)
	l, err := c.Resolve(lsn.Target{Kind: lsn.TargetMark, Mark: "last"})
	require.NoError(t, err)
	require.Equal(t, markLSN, l)
	require.NoError(t, c.Close())
	parentTree := dump(t, v)
	parentHead := v.Head()
	require.NoError(t, v.Close())

	// Writing to a clone (and compacting it, and rewinding it into the
	// history it shares) changes no byte of the parent.
	before := fingerprint(t, dir)
	for _, m := range clones {
		c := openClone(t, m.dir, clock)
		s, err := ReadSettings(m.dir)
		require.NoError(t, err)
		require.Len(t, s.Ancestors, 1)
		require.Equal(t, m.n.l, s.Ancestors[0].BranchLSN)
		cw := &workload{t: t, v: c, rng: rng, seq: 1 << 20}
		cw.files, cw.dirs = liveFiles(c)
		for i := 0; i < 200; i++ {
			clock.Add(10 * time.Millisecond)
			cw.step()
		}
		// A state from before the branch, still in the clone's window.
		for _, n := range inWindow {
			if n.l < m.n.l && n.l >= c.Status().EarliestLSN {
				_, _, err := c.Rewind(n.l)
				require.NoError(t, err)
				require.Equal(t, n.tree, dump(t, c), "clone of LSN %d rewound to LSN %d", m.n.l, n.l)
				break
			}
		}
		require.NoError(t, c.Close())
	}
	require.Equal(t, before, fingerprint(t, dir), "a clone changed the parent's files")

	// And the other way: the parent writes, compacts everything and
	// deletes its segments; the clones' files and trees do not change.
	cprints := map[string]string{}
	ctrees := map[string]string{}
	for _, m := range clones {
		c := openClone(t, m.dir, clock)
		ctrees[m.dir] = dump(t, c)
		require.NoError(t, c.Close())
		cprints[m.dir] = fingerprint(t, m.dir)
	}
	v, err = Open(dir, Options{Logf: func(string, ...any) {}, Now: clock.Now})
	require.NoError(t, err)
	require.Equal(t, parentHead, v.Head())
	require.Equal(t, parentTree, dump(t, v))
	require.NoError(t, v.Unmark("last"))
	w.v = v
	w.files, w.dirs = liveFiles(v)
	w.seq += 1 << 22
	run(200)
	clock.Add(5 * time.Minute)
	run(10)
	r = compactAll(t, v)
	require.Greater(t, r.SegmentsRemoved, 0)
	for _, m := range clones {
		require.Equal(t, cprints[m.dir], fingerprint(t, m.dir), "the parent changed clone %s", m.dir)
		c := openClone(t, m.dir, clock)
		require.Equal(t, ctrees[m.dir], dump(t, c))
		require.NoError(t, c.Close())
	}

	// A clone of a clone, at its head and at a state of the shared
	// history before the first branch.
	first := clones[2] // the newest noted state
	c = openClone(t, first.dir, clock)
	head, tree := c.Head(), dump(t, c)
	require.NoError(t, c.Close())
	gdir := filepath.Join(root, "grandchild")
	_, err = Clone(first.dir, gdir, CloneOptions{Now: clock.Now})
	require.NoError(t, err)
	g := openClone(t, gdir, clock)
	require.Equal(t, head, g.Head())
	require.Equal(t, tree, dump(t, g))
	cw := &workload{t: t, v: g, rng: rng, seq: 1 << 21}
	cw.files, cw.dirs = liveFiles(g)
	for i := 0; i < 100; i++ {
		cw.step()
	}
	require.NoError(t, g.Close())
	gs, err := ReadSettings(gdir)
	require.NoError(t, err)
	require.Len(t, gs.Ancestors, 2)
	ids, err := gs.AncestorIDs()
	require.NoError(t, err)
	own, _ := gs.ID()
	_, err = pagelog.VerifyVolumes(filepath.Join(gdir, LogDir), nil, append([][16]byte{own}, ids...))
	require.NoError(t, err)
	_, err = pagelog.Verify(filepath.Join(gdir, LogDir), nil)
	require.ErrorIs(t, err, pagelog.ErrVolumeMismatch, "plain Verify knows no lineage")

	cc := openClone(t, first.dir, clock)
	cearliest := cc.Status().EarliestLSN
	require.NoError(t, cc.Close())
	for _, n := range inWindow {
		if n.l >= cearliest && n.l < first.n.l {
			g2 := filepath.Join(root, "grandchild2")
			_, err = Clone(first.dir, g2, CloneOptions{Target: lsnTarget(n.l), Now: clock.Now})
			require.NoError(t, err)
			g := openClone(t, g2, clock)
			require.Equal(t, n.tree, dump(t, g))
			require.NoError(t, g.Close())
			break
		}
	}
}

// TestCloneRefusals: bad input is refused with a clear error, and leaves
// nothing at NEWVOLUME and nothing beside it.
func TestCloneRefusals(t *testing.T) {
	v, dir, clock := clockVolume(t, InitOptions{Window: time.Minute, SegmentSize: 1 << 16}, true)
	defer v.Close()
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(1)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 300; i++ {
		w.step()
	}
	old := v.Head()
	clock.Add(5 * time.Minute)
	for i := 0; i < 50; i++ {
		w.step()
	}
	compactAll(t, v)
	root := t.TempDir()
	dst := filepath.Join(root, "c")
	// The files as a reader sees them, with every record written out, as
	// a mounted parent's sync (the Durable callback) would leave them.
	require.NoError(t, v.WriteOut())
	before := fingerprint(t, dir)

	_, err := Clone(dir, dst, CloneOptions{Target: lsnTarget(old - 10), Now: clock.Now})
	require.ErrorIs(t, err, ErrCloneTarget)
	require.ErrorIs(t, err, backtrack.ErrOutsideWindow)
	require.Contains(t, err.Error(), "window holds LSN")
	_, err = Clone(dir, dst, CloneOptions{Target: lsnTarget(v.Head() + 100), Now: clock.Now})
	require.ErrorIs(t, err, backtrack.ErrOutsideWindow)
	_, err = Clone(dir, dst, CloneOptions{Target: &lsn.Target{Kind: lsn.TargetMark, Mark: "nope"}, Now: clock.Now})
	require.ErrorIs(t, err, backtrack.ErrUnknownMark)
	_, err = Clone(root, dst, CloneOptions{})
	require.ErrorIs(t, err, ErrNotVolume)
	_, err = Clone(dir, filepath.Join(dir, "inside"), CloneOptions{})
	require.Error(t, err)
	_, err = Clone(dir, filepath.Join(root, "no", "such"), CloneOptions{})
	require.ErrorContains(t, err, "does not exist")
	// A mounted parent whose sync fails.
	_, err = Clone(dir, dst, CloneOptions{Durable: func() (lsn.LSN, error) { return 0, os.ErrDeadlineExceeded }})
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	// A target after what the mounted parent made durable.
	_, err = Clone(dir, dst, CloneOptions{Target: lsnTarget(v.Head()), Durable: func() (lsn.LSN, error) { return v.Head() - 1, nil }})
	require.ErrorIs(t, err, ErrCloneTarget)
	require.ErrorContains(t, err, "not durable")

	ents, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Empty(t, ents, "a refused clone left files behind")

	require.NoError(t, os.Mkdir(dst, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dst, "x"), nil, 0o644))
	_, err = Clone(dir, dst, CloneOptions{})
	require.ErrorIs(t, err, ErrNotEmpty)
	require.NoError(t, os.Remove(filepath.Join(dst, "x")))
	// An empty directory is fine, and a second clone into it is refused.
	_, err = Clone(dir, dst, CloneOptions{Now: clock.Now})
	require.NoError(t, err)
	_, err = Clone(dir, dst, CloneOptions{Now: clock.Now})
	require.ErrorIs(t, err, ErrExists)
	require.Equal(t, before, fingerprint(t, dir), "refusals and clones changed the parent")
}

// TestCloneSettings: the archive is not taken, retention can be
// overridden, and an empty parent clones to an empty volume.
func TestCloneSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	_, err := Init(dir, InitOptions{Archive: "s3://bucket/prefix", Window: time.Hour})
	require.NoError(t, err)
	dst := filepath.Join(t.TempDir(), "c")
	win := 2 * time.Hour
	capBytes := int64(1 << 30)
	rep, err := Clone(dir, dst, CloneOptions{Window: &win, MaxLogBytes: &capBytes})
	require.NoError(t, err)
	require.Equal(t, "s3://bucket/prefix", rep.ArchiveCleared)
	require.Equal(t, lsn.LSN(0), rep.LSN)
	s, err := ReadSettings(dst)
	require.NoError(t, err)
	require.Empty(t, s.Archive)
	require.Equal(t, "2h0m0s", s.Window)
	require.Equal(t, capBytes, s.MaxLogBytes)
	ps, err := ReadSettings(dir)
	require.NoError(t, err)
	require.NotEqual(t, ps.VolumeID, s.VolumeID)
	require.Equal(t, ps.Created, s.Created)
	c, err := Open(dst, Options{Logf: t.Logf})
	require.NoError(t, err)
	_, err = c.Create(fsstate.RootIno, "f", 0o100644, 0, 0, 0, false)
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

// TestCloneFailureLeavesNothing: a clone that fails at any step leaves
// nothing at NEWVOLUME, no temporary directory beside it, and the parent
// as it was.
func TestCloneFailureLeavesNothing(t *testing.T) {
	v, dir, clock := clockVolume(t, InitOptions{Window: time.Minute, SegmentSize: 1 << 16}, true)
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(2)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 300; i++ {
		w.step()
	}
	clock.Add(5 * time.Minute)
	for i := 0; i < 300; i++ {
		w.step()
	}
	compactAll(t, v)
	_, err := v.Mark("m", false)
	require.NoError(t, err)
	require.NoError(t, v.Close())
	before := fingerprint(t, dir)
	root := t.TempDir()
	dst := filepath.Join(root, "c")
	defer func() { cloneHook = nil }()
	steps := []string{"log", "base", "settings", "check", "rename"}
	for _, step := range steps {
		var seen []string
		cloneHook = func(s string) error {
			seen = append(seen, s)
			if s == step {
				return fmt.Errorf("injected failure at %s", s)
			}
			return nil
		}
		_, err := Clone(dir, dst, CloneOptions{Now: clock.Now})
		require.ErrorContains(t, err, "injected failure at "+step)
		require.Equal(t, step, seen[len(seen)-1])
		ents, err := os.ReadDir(root)
		require.NoError(t, err)
		require.Empty(t, ents, "a clone that failed at %s left files", step)
	}
	cloneHook = nil
	require.Equal(t, before, fingerprint(t, dir))
	_, err = Clone(dir, dst, CloneOptions{Now: clock.Now})
	require.NoError(t, err)
}

// TestCloneWhileParentCompacts: the parent keeps writing and compacting
// (up to the clone's target, which a kept mark holds) while the clone is
// made; the clone still shows exactly the state at the target.
func TestCloneWhileParentCompacts(t *testing.T) {
	v, dir, clock := clockVolume(t, InitOptions{Window: time.Second, SegmentSize: 1 << 16}, true)
	defer func() { v.Close() }()
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(3)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 1500; i++ {
		w.step()
	}
	// Small folds, so that many run (and some wait for the clone, or the
	// clone for them) while it is made.
	v.policy.BatchRecords = 10
	root := t.TempDir()
	var at lsn.LSN
	for round := 0; round < 3; round++ {
		// Each round holds compaction at a new point, with history
		// before it for the folds to work through.
		for i := 0; i < 500; i++ {
			w.step()
		}
		var err error
		at, err = v.Mark("at", true)
		require.NoError(t, err)
		want := viewTree(t, dir, at, clock)
		dst := filepath.Join(root, fmt.Sprintf("c%d", round))
		done := make(chan error, 1)
		go func() {
			_, err := Clone(dir, dst, CloneOptions{Target: &lsn.Target{Kind: lsn.TargetMark, Mark: "at"}, Now: clock.Now})
			done <- err
		}()
		folds := 0
	loop:
		for {
			select {
			case err := <-done:
				require.NoError(t, err)
				break loop
			default:
			}
			for i := 0; i < 5; i++ {
				clock.Add(100 * time.Millisecond)
				w.step()
			}
			r, err := v.Compact()
			require.NoError(t, err)
			if r.ToLSN > r.FromLSN {
				folds++
			}
		}
		t.Logf("round %d: %d folds while cloning", round, folds)
		c := openClone(t, dst, clock)
		require.Equal(t, at, c.Head())
		require.Equal(t, want, dump(t, c))
		require.NoError(t, c.Close())
	}
	require.Positive(t, v.Status().BaseLSN, "compaction never ran")
}

// TestCloneAtBaseWithoutItsSegment: a clone at the parent's base LSN after
// compaction deleted the segment of the base record starts with an empty
// segment of its own after it.
func TestCloneAtBaseWithoutItsSegment(t *testing.T) {
	v, dir, clock := clockVolume(t, InitOptions{Window: time.Minute, SegmentSize: 1 << 16}, true)
	defer func() { v.Close() }()
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(4)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 800; i++ {
		w.step()
	}
	segs := v.log.Segments()
	require.Greater(t, len(segs), 3)
	l := segs[len(segs)/2].LastLSN
	// A view at l pins it: compaction folds exactly up to it and deletes
	// the segment that ends there.
	view, err := Open(dir, Options{ReadOnly: true, At: lsnTarget(l), Logf: t.Logf, Now: clock.Now})
	require.NoError(t, err)
	want := dump(t, view)
	clock.Add(5 * time.Minute)
	compactAll(t, v)
	require.Equal(t, l, v.Status().BaseLSN)
	for _, s := range v.log.Segments() {
		require.Greater(t, s.FirstLSN, l, "the segment of the base record is still there")
	}
	dst := filepath.Join(t.TempDir(), "c")
	rep, err := Clone(dir, dst, CloneOptions{Target: lsnTarget(l), Now: clock.Now})
	require.NoError(t, err)
	require.NoError(t, view.Close())
	require.Empty(t, rep.SegmentCopied)
	require.Zero(t, rep.SegmentsLinked)
	c := openClone(t, dst, clock)
	require.Equal(t, l, c.Head())
	require.Equal(t, want, dump(t, c))
	cw := &workload{t: t, v: c, rng: rand.New(rand.NewSource(5)), seq: 1 << 20}
	cw.files, cw.dirs = liveFiles(c)
	for i := 0; i < 100; i++ {
		cw.step()
	}
	after := dump(t, c)
	require.NoError(t, c.Close())
	c = openClone(t, dst, clock)
	require.Equal(t, after, dump(t, c))
	require.NoError(t, c.Close())
}

// The clone shares the parent's base page files by hard link; the first
// fold that writes one copies it first (baseimage's OpenPages). A failure
// at any call of that fold (the copy, its sync, the rename, the page
// writes, the commit) leaves the clone's bytes as they were, and the fold
// done again afterwards gives the parent the state it had.
func TestFoldCopiesSharedPageFilesWhateverFails(t *testing.T) {
	for k := 0; ; k++ {
		v, dir, clock := clockVolume(t, InitOptions{Window: time.Hour, SegmentSize: 1 << 16}, true)
		a, err := v.Create(fsstate.RootIno, "db", 0o100600, 0, 0, 0, false)
		require.NoError(t, err)
		for off := int64(0); off < 256<<10; off += 4096 {
			_, err := v.Write(a.Ino, off, bytes.Repeat([]byte{byte(off >> 12)}, 4096))
			require.NoError(t, err)
		}
		require.NoError(t, v.Sync())
		clock.Add(2 * time.Hour)
		compactAll(t, v) // the file is in the base image now
		cloneDir := filepath.Join(t.TempDir(), "clone")
		rep, err := Clone(dir, cloneDir, CloneOptions{Now: clock.Now})
		require.NoError(t, err)
		require.Positive(t, rep.PageFilesLinked, "the page files are shared")
		cloneBefore := fingerprint(t, cloneDir)

		for off := int64(0); off < 256<<10; off += 16384 {
			_, err := v.Write(a.Ino, off, bytes.Repeat([]byte{0xee}, 4096))
			require.NoError(t, err)
		}
		require.NoError(t, v.Sync())
		want := dump(t, v)
		require.NoError(t, v.Close())
		clock.Add(2 * time.Hour)

		// The parent's next fold, with its k-th changing call failing.
		efs := pagelog.NewErrorFS(pagelog.Disk)
		v, err = Open(dir, Options{Logf: func(string, ...any) {}, Now: clock.Now, FS: efs})
		require.NoError(t, err)
		efs.Inject(pagelog.Fault{Op: pagelog.OpAny, Nth: k, Err: syscall.EIO, Under: "/" + baseimage.Dir + "/"})
		_, ferr := v.Compact()
		_ = v.Close()
		require.Equal(t, cloneBefore, fingerprint(t, cloneDir), "call %d: the parent's fold changed the clone", k)

		v, err = Open(dir, Options{Logf: t.Logf, Now: clock.Now})
		require.NoError(t, err, "call %d", k)
		compactAll(t, v)
		require.Equal(t, want, dump(t, v), "call %d: the parent after the fold", k)
		require.NoError(t, v.Close())
		require.Equal(t, cloneBefore, fingerprint(t, cloneDir), "call %d", k)
		if ferr == nil {
			t.Logf("the fold made %d changing calls in base/; each failed once", k)
			return // k is past the fold's last changing call: all were tried
		}
	}
}
