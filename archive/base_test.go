package archive

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// fakeClock is a clock the test moves; the volume stamps records with it
// and the uploader measures base intervals and the archive window by it.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// newCompactingVolume is a test volume with a 1 s local window on the
// fake clock, so that the test decides when history leaves the window and
// compaction moves the base image.
func newCompactingVolume(t *testing.T, c *fakeClock) *testVolume {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vol")
	_, err := volume.Init(dir, volume.InitOptions{SegmentSize: 1 << 16, Window: time.Second, Archive: "s3://test-bucket/vol", Now: c.Now()})
	require.NoError(t, err)
	v, err := volume.Open(dir, volume.Options{Logf: t.Logf, Now: c.Now})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	a, err := v.Create(fsstate.RootIno, "data", 0o100644, 0, 0, 0, false)
	require.NoError(t, err)
	return &testVolume{t: t, dir: dir, v: v, ino: a.Ino, rnd: rand.New(rand.NewSource(1))}
}

// compact folds everything older than the window.
func (tv *testVolume) compact() lsn.LSN {
	tv.t.Helper()
	for {
		r, err := tv.v.Compact()
		require.NoError(tv.t, err)
		if r.Done() || r.ToLSN == r.FromLSN {
			return r.ToLSN
		}
	}
}

// tree is a volume's file system as path → what it is (mode, size, and
// the bytes of a regular file), for comparing two volumes' states.
func tree(t *testing.T, v *volume.Volume) map[string]string {
	t.Helper()
	out := map[string]string{}
	type file struct {
		ino  uint64
		size uint64
	}
	files := map[string]file{}
	require.NoError(t, v.View(func(s *fsstate.State) error {
		var walk func(ino uint64, path string)
		walk = func(ino uint64, path string) {
			n := s.Inodes[ino]
			a := s.Attr(n)
			out[path] = fmt.Sprintf("mode %o size %d", a.Mode, a.Size)
			if n.IsRegular() {
				files[path] = file{ino, a.Size}
			}
			for name, c := range n.Entries {
				walk(c, path+"/"+name)
			}
		}
		walk(fsstate.RootIno, "")
		return nil
	}))
	for path, f := range files {
		buf := make([]byte, f.size)
		n, err := v.Read(f.ino, 0, buf)
		require.NoError(t, err)
		out[path] += fmt.Sprintf(" crc %s", Checksum(buf[:n]))
	}
	return out
}

// viewTree is the tree a read-only view of dir shows at l.
func viewTree(t *testing.T, dir string, l lsn.LSN) map[string]string {
	t.Helper()
	tg := lsn.Target{Kind: lsn.TargetLSN, LSN: l, Text: l.String()}
	v, err := volume.Open(dir, volume.Options{ReadOnly: true, At: &tg, Logf: t.Logf})
	require.NoError(t, err)
	defer v.Close()
	return tree(t, v)
}

// restoreAt restores the archive at l into a new directory and returns
// the report and the restored tree.
func restoreAt(t *testing.T, b Bucket, l lsn.LSN) (RestoreReport, map[string]string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored")
	tg := lsn.Target{Kind: lsn.TargetLSN, LSN: l, Text: l.String()}
	var total int64
	var got atomic.Int64 // Progress is called from each download
	rep, err := Restore(context.Background(), b, RestoreOptions{Dir: dst, At: &tg,
		Started: func(n int64) { total = n }, Progress: func(n int) { got.Add(int64(n)) }})
	require.NoError(t, err)
	require.Equal(t, rep.Bytes, total)
	require.Equal(t, total, got.Load(), "progress counts every byte downloaded, base image included")
	v, err := volume.Open(dst, volume.Options{ReadOnly: true, Logf: t.Logf})
	require.NoError(t, err)
	defer v.Close()
	return rep, tree(t, v)
}

// baseScenario writes history in three phases a minute apart, compacts
// the first away, and archives with a base image due after 64 KiB. It
// returns the volume, the bucket, the running uploader and the LSNs at the
// end of each phase.
type baseScenario struct {
	tv       *testVolume
	clock    *fakeClock
	b        *memBucket
	u        *Uploader
	stop     func() error
	a, bb, c lsn.LSN
	snap     map[lsn.LSN]map[string]string // trees taken while they were in the window
}

func newBaseScenario(t *testing.T, mod func(o *UploaderOptions)) *baseScenario {
	s := &baseScenario{clock: newFakeClock(), b: newMemBucket(), snap: map[lsn.LSN]map[string]string{}}
	s.tv = newCompactingVolume(t, s.clock)
	tv := s.tv
	s.u = tv.uploader(s.b, func(o *UploaderOptions) {
		o.Now = s.clock.Now
		o.BaseEveryBytes = 64 << 10
		o.BaseEvery = -1
		if mod != nil {
			mod(o)
		}
	})
	// As in the daemon: compaction keeps what the archive has not got.
	tv.v.SetArchivedThrough(s.u.ArchivedThrough)
	tv.write(100 << 10)
	s.a = tv.v.Head()
	s.snap[s.a] = tree(t, tv.v)
	s.clock.Advance(time.Minute)
	_, err := tv.v.Create(fsstate.RootIno, "second", 0o100600, 0, 0, 0, false)
	require.NoError(t, err)
	tv.write(100 << 10)
	s.bb = tv.v.Head()
	s.snap[s.bb] = tree(t, tv.v)
	s.clock.Advance(time.Minute)
	// Phase b leaves the window; the base moves to its end.
	require.Equal(t, s.bb, tv.compact())
	tv.write(150 << 10)
	s.c = tv.v.Head()
	return s
}

// run starts the uploader; the segments before the base image, which the
// archive has not got yet, are still on disk.
func (s *baseScenario) run(t *testing.T) {
	s.stop = run(t, s.u)
}

func (s *baseScenario) waitBase(t *testing.T, l lsn.LSN) *Manifest {
	var m *Manifest
	waitFor(t, fmt.Sprintf("a manifest naming the base image at LSN %d", l), func() bool {
		mm, _, err := Latest(context.Background(), s.b, 0)
		if err != nil {
			return false
		}
		nb, ok := mm.NewestBase()
		m = mm
		return ok && nb.LSN == l
	})
	return m
}

func TestBaseImageUploadAndRestore(t *testing.T) {
	s := newBaseScenario(t, nil)
	s.run(t)
	m := s.waitBase(t, s.bb)
	require.NoError(t, s.stop())
	require.Equal(t, 2, m.Version, "a manifest naming a base image is version 2")
	require.Zero(t, m.BaseLSN, "without a window the chain from LSN 1 stays")
	base := m.Bases[0]
	require.Equal(t, BaseStateKey(s.bb), base.Objects[0].Key)
	require.Greater(t, len(base.Objects), 1, "the page files are objects too")
	for _, o := range base.Objects {
		info, err := s.b.Stat(context.Background(), o.Key)
		require.NoError(t, err)
		require.Equal(t, o.Size, info.Size)
		require.Equal(t, o.CRC32C, info.Meta[metaCRC32C])
		require.Equal(t, s.bb.String(), info.Meta[metaFirstLSN])
	}
	r, err := m.Restorable()
	require.NoError(t, err)
	require.Equal(t, s.bb, r.NewestBaseLSN)

	// Before the base: from LSN 1, as before base images; at and after
	// it: from the base image, with only the segments after it.
	rep, got := restoreAt(t, s.b, s.a)
	require.Zero(t, rep.BaseLSN)
	require.Equal(t, s.snap[s.a], got)

	for _, l := range []lsn.LSN{s.bb, s.bb + 7, s.u.ArchivedThrough()} {
		rep, got = restoreAt(t, s.b, l)
		require.Equal(t, s.bb, rep.BaseLSN, "restore at LSN %d starts from the base image", l)
		require.Equal(t, len(base.Objects), rep.BaseObjects)
		require.LessOrEqual(t, rep.FirstLSN, s.bb+1)
		require.Greater(t, rep.FirstLSN, s.a, "the segments before the base are not downloaded")
		require.Equal(t, viewTree(t, s.tv.dir, l), got, "restore at LSN %d is the view at LSN %d", l, l)
	}
	require.Equal(t, s.snap[s.bb], viewTree(t, s.tv.dir, s.bb))

	// A time target picks the base image by its time too.
	dst := filepath.Join(t.TempDir(), "bytime")
	tg := lsn.Target{Kind: lsn.TargetTime, Time: base.Time, Text: "base time"}
	rep, err = Restore(context.Background(), s.b, RestoreOptions{Dir: dst, At: &tg})
	require.NoError(t, err)
	require.Equal(t, s.bb, rep.BaseLSN)
}

func TestBaseImageIsPinnedAgainstFolds(t *testing.T) {
	// While a base image uploads, compaction holds back (it is not
	// blocked) and names the upload; once it is done, compaction goes on.
	s := newBaseScenario(t, nil)
	release := make(chan struct{})
	var entered atomic.Bool
	s.b.setFail(func(key string) error {
		if strings.HasPrefix(key, "base/") && entered.CompareAndSwap(false, true) {
			<-release
		}
		return nil
	}, nil)
	s.run(t)
	waitFor(t, "the base upload to start", entered.Load)
	s.clock.Advance(time.Minute)
	r, err := s.tv.v.Compact()
	require.NoError(t, err)
	require.Equal(t, s.bb, r.ToLSN, "no fold past the base image being uploaded")
	require.Contains(t, r.HeldBy, "archive upload of the base image")
	close(release)
	s.waitBase(t, s.bb)
	require.Greater(t, s.tv.compact(), s.bb, "compaction goes on after the upload")
}

func TestArchiveRetention(t *testing.T) {
	s := newBaseScenario(t, func(o *UploaderOptions) { o.Window = 30 * time.Second })
	// The manifest is written, but deletes fail for now: the objects
	// dropped must stay pending and be deleted later.
	var mu sync.Mutex
	var deleted []string
	var deleting atomic.Bool
	s.b.setFail(nil, func(key string) error {
		// The delete hook runs under the bucket's lock: look at the
		// newest manifest directly. It must not name what is deleted.
		newest := ""
		for k := range s.b.objs {
			if strings.HasPrefix(k, "manifests/") && k > newest {
				newest = k
			}
		}
		m, err := DecodeManifest(s.b.objs[newest].data, newest)
		if err != nil || namedKeys(m)[key] {
			t.Errorf("%s deleted while %s names it (%v)", key, newest, err)
		}
		if !deleting.Load() {
			return errors.New("fake store: delete refused")
		}
		mu.Lock()
		deleted = append(deleted, key)
		mu.Unlock()
		return nil
	})
	nDeleted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(deleted)
	}
	s.run(t)
	// The base image is at the end of phase b, a minute ago: older than
	// the 30 s window, so everything before it leaves the archive.
	var m *Manifest
	waitFor(t, "a manifest that drops the segments before the base", func() bool {
		mm, _, err := Latest(context.Background(), s.b, 0)
		m = mm
		return err == nil && mm.BaseLSN == s.bb
	})
	for _, o := range m.Objects {
		require.Greater(t, o.LastLSN, s.bb)
	}
	st, err := ReadState(s.tv.dir)
	require.NoError(t, err)
	waitFor(t, "the state file to record the manifest and the pending deletes", func() bool {
		st, err = ReadState(s.tv.dir)
		return err == nil && st.Manifest != nil && st.Manifest.Seq == m.Seq && len(st.PendingDeletes) > 0
	})
	m1, _, err := ReadManifest(context.Background(), s.b, 1)
	require.NoError(t, err)
	for _, k := range st.PendingDeletes {
		require.True(t, slices.ContainsFunc(m1.Objects, func(o Object) bool { return o.Key == k }), "%s was named by manifest 1", k)
		_, err := s.b.Stat(context.Background(), k)
		require.NoError(t, err, "%s is not deleted while deletes fail", k)
	}
	require.NoError(t, s.stop())

	// A restart (a crash between the manifest and the deletes) deletes
	// them, and deletes nothing the manifest names.
	deleting.Store(true)
	u2 := s.tv.uploader(s.b, func(o *UploaderOptions) {
		o.Now, o.BaseEveryBytes, o.BaseEvery, o.Window = s.clock.Now, 64<<10, -1, 30*time.Second
	})
	stop := run(t, u2)
	waitFor(t, "the pending deletes", func() bool { return u2.Status().PendingDeletes == 0 && nDeleted() > 0 })
	require.NoError(t, stop())
	st, err = ReadState(s.tv.dir)
	require.NoError(t, err)
	require.Empty(t, st.PendingDeletes)
	m, _, err = Latest(context.Background(), s.b, 0)
	require.NoError(t, err)
	named := map[string]bool{}
	for _, o := range m.Objects {
		named[o.Key] = true
	}
	for _, b := range m.Bases {
		for _, o := range b.Objects {
			named[o.Key] = true
		}
	}
	for _, k := range deleted {
		require.False(t, named[k], "%s was deleted but the manifest names it", k)
		_, err := s.b.Stat(context.Background(), k)
		require.ErrorIs(t, err, ErrNotFound)
	}
	for k := range named {
		_, err := s.b.Stat(context.Background(), k)
		require.NoError(t, err, "%s is named and must exist", k)
	}
	require.Contains(t, deleted, SegmentKey(1))

	// What is left restores any point from the base on, and nothing
	// before it.
	rep, got := restoreAt(t, s.b, s.bb+3)
	require.Equal(t, s.bb, rep.BaseLSN)
	require.Equal(t, viewTree(t, s.tv.dir, s.bb+3), got)
	tg := lsn.Target{Kind: lsn.TargetLSN, LSN: s.a, Text: s.a.String()}
	_, err = Restore(context.Background(), s.b, RestoreOptions{Dir: filepath.Join(t.TempDir(), "old"), At: &tg})
	require.ErrorIs(t, err, ErrTarget)
}

func TestArchiveRetentionKeepsKeptMarks(t *testing.T) {
	// A kept mark inside phase a: the archive must keep a way to it, so
	// the base at the end of phase b (after the mark) cannot be the start.
	var mark atomic.Uint64
	s := newBaseScenario(t, func(o *UploaderOptions) {
		o.Window = 30 * time.Second
		o.KeptMarks = func() []lsn.LSN { return []lsn.LSN{lsn.LSN(mark.Load())} }
	})
	mark.Store(uint64(s.a))
	s.run(t)
	m := s.waitBase(t, s.bb)
	require.NoError(t, s.stop())
	require.Zero(t, m.BaseLSN, "the chain from LSN 1 stays for the kept mark")
	_, err := s.b.Stat(context.Background(), SegmentKey(1))
	require.NoError(t, err)
	_, got := restoreAt(t, s.b, s.a)
	require.Equal(t, s.snap[s.a], got)
}

func TestBaseUploadResumesAfterACrashBeforeTheManifest(t *testing.T) {
	s := newBaseScenario(t, nil)
	// Every base object goes up, then the manifest write fails: the
	// daemon died between them.
	var failing atomic.Bool
	failing.Store(true)
	s.b.setFail(func(key string) error {
		if failing.Load() && strings.HasPrefix(key, "manifests/") {
			if m, _, err := Latest(context.Background(), s.b, 0); err == nil && m.ArchivedThrough == s.tv.lastSealed() {
				return errors.New("fake store: crash before the manifest")
			}
		}
		return nil
	}, nil)
	s.run(t)
	waitFor(t, "the base objects", func() bool {
		_, err := s.b.Stat(context.Background(), BaseStateKey(s.bb))
		return err == nil
	})
	require.NoError(t, s.stop())
	m, _, err := Latest(context.Background(), s.b, 0)
	require.NoError(t, err)
	require.Empty(t, m.Bases, "no manifest names the base image yet: it is not part of the archive")
	require.Equal(t, 1, m.Version, "a manifest without base images stays version 1")
	puts := s.b.puts.Load()

	// A new uploader finds the objects by checksum and names them.
	failing.Store(false)
	u2 := s.tv.uploader(s.b, func(o *UploaderOptions) { o.Now, o.BaseEveryBytes, o.BaseEvery = s.clock.Now, 64<<10, -1 })
	stop := run(t, u2)
	s.waitBase(t, s.bb)
	require.NoError(t, stop())
	require.Greater(t, s.b.puts.Load(), puts)
	_, got := restoreAt(t, s.b, s.bb+1)
	require.Equal(t, viewTree(t, s.tv.dir, s.bb+1), got)
}

func TestOldManifestWithoutBasesStillRestores(t *testing.T) {
	// A version 1 manifest as an older rewindfs wrote it: no "bases",
	// version 1. It restores, and an uploader that knows base images
	// continues the archive from it.
	tv := newTestVolume(t)
	b := newMemBucket()
	tv.write(200 << 10)
	u := tv.uploader(b, func(o *UploaderOptions) { o.BaseEveryBytes, o.BaseEvery = -1, -1 })
	stop := run(t, u)
	waitFor(t, "the archive", func() bool { return u.ArchivedThrough() == tv.lastSealed() })
	require.NoError(t, stop())
	rc, _, err := b.Get(context.Background(), ManifestKey(1))
	require.NoError(t, err)
	raw := readAll(t, rc)
	require.Contains(t, string(raw), `"version": 1`)
	require.NotContains(t, string(raw), `"bases"`)

	rep, got := restoreAt(t, b, u.ArchivedThrough())
	require.Zero(t, rep.BaseLSN)
	require.Equal(t, viewTree(t, tv.dir, u.ArchivedThrough()), got)
}

func TestCorruptBaseObjectIsNamed(t *testing.T) {
	s := newBaseScenario(t, nil)
	s.run(t)
	m := s.waitBase(t, s.bb)
	require.NoError(t, s.stop())
	victim := m.Bases[0].Objects[len(m.Bases[0].Objects)-1]
	s.b.damage(victim.Key, int(victim.Size/2))
	dst := filepath.Join(t.TempDir(), "bad")
	tg := lsn.Target{Kind: lsn.TargetLSN, LSN: s.bb + 1, Text: "x"}
	_, err := Restore(context.Background(), s.b, RestoreOptions{Dir: dst, At: &tg})
	require.ErrorIs(t, err, ErrChecksum)
	require.Contains(t, err.Error(), victim.Key)
	requireNothingAt(t, dst)

	s.b.remove(m.Bases[0].Objects[0].Key)
	_, err = Restore(context.Background(), s.b, RestoreOptions{Dir: dst, At: &tg})
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), BaseStateKey(s.bb))
	requireNothingAt(t, dst)
}

func TestRetainKeepsTheNewestBaseBeforeTheEdge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := testManifest(3, seg(1, 10), seg(11, 20), seg(21, 30), seg(31, 40))
	mk := func(l lsn.LSN, at time.Time) Base {
		return Base{LSN: l, Time: at, Objects: []Object{{Kind: KindBaseState, Key: BaseStateKey(l), FirstLSN: l, LastLSN: l, FirstTime: at, LastTime: at, Size: 1, CRC32C: "00000000"}}}
	}
	m.Bases = []Base{mk(15, t0.Add(time.Hour)), mk(25, t0.Add(2*time.Hour))}
	m.Version = manifestVersion
	mustEncode(t, m)

	next, dropped := retain(m, t0.Add(30*time.Minute), nil)
	require.Nil(t, next, "no base image is older than the edge: keep everything")
	require.Nil(t, dropped)

	next, dropped = retain(m, t0.Add(90*time.Minute), nil)
	require.Equal(t, lsn.LSN(15), next.BaseLSN)
	require.Equal(t, []string{SegmentKey(1)}, dropped)
	require.Len(t, next.Bases, 2)

	next, dropped = retain(m, t0.Add(3*time.Hour), nil)
	require.Equal(t, lsn.LSN(25), next.BaseLSN)
	require.Equal(t, []string{BaseStateKey(15), SegmentKey(1), SegmentKey(11)}, dropped)
	require.Equal(t, SegmentKey(21), next.Objects[0].Key, "the segment holding LSN 26 stays though it starts before it")
	_, err := DecodeManifest(mustEncode(t, next), "next")
	require.NoError(t, err)
	chain, err := next.Chain()
	require.NoError(t, err)
	require.Len(t, chain, 2)

	next, _ = retain(m, t0.Add(3*time.Hour), []lsn.LSN{20})
	require.Equal(t, lsn.LSN(15), next.BaseLSN, "a kept mark at LSN 20 keeps the base at LSN 15")
}

func TestCutShortBaseUploadIsDeletedWhenTheBaseMovesOn(t *testing.T) {
	s := newBaseScenario(t, nil)
	// The base objects go up, the manifest does not: the daemon died.
	s.b.setFail(func(key string) error {
		if strings.HasPrefix(key, "manifests/") {
			if _, err := s.b.Stat(context.Background(), BaseStateKey(s.bb)); err == nil {
				return errors.New("fake store: crash before the manifest")
			}
		}
		return nil
	}, nil)
	s.run(t)
	waitFor(t, "the base objects", func() bool {
		st, err := ReadState(s.tv.dir)
		_, serr := s.b.Stat(context.Background(), BaseStateKey(s.bb))
		return serr == nil && err == nil && slices.Contains(st.PendingDeletes, BaseStateKey(s.bb))
	})
	require.NoError(t, s.stop())
	s.b.setFail(nil, nil)

	// Meanwhile the local base moves on: the objects of the base at bb
	// will never be named.
	s.clock.Advance(time.Minute)
	moved := s.tv.compact()
	require.Greater(t, moved, s.bb)
	s.tv.write(150 << 10)

	u2 := s.tv.uploader(s.b, func(o *UploaderOptions) { o.Now, o.BaseEveryBytes, o.BaseEvery = s.clock.Now, 64<<10, -1 })
	s.tv.v.SetArchivedThrough(u2.ArchivedThrough)
	stop := run(t, u2)
	s.waitBase(t, moved)
	waitFor(t, "the cut-short upload's objects to be deleted", func() bool {
		_, err := s.b.Stat(context.Background(), BaseStateKey(s.bb))
		return errors.Is(err, ErrNotFound) && u2.Status().PendingDeletes == 0
	})
	require.NoError(t, stop())
	for _, k := range s.b.keys() {
		require.False(t, strings.HasPrefix(k, fmt.Sprintf("base/%016x/", uint64(s.bb))), "%s is left over", k)
	}
	_, got := restoreAt(t, s.b, moved+1)
	require.Equal(t, viewTree(t, s.tv.dir, moved+1), got)
}

// A volume that ran longer than its window before it was given an archive
// no longer has records 1..: its archive begins with its base image, and
// restores from there.
func TestArchiveBeginsWithTheBaseImage(t *testing.T) {
	clock := newFakeClock()
	tv := newCompactingVolume(t, clock)
	tv.write(200 << 10)
	clock.Advance(time.Minute)
	_, err := tv.v.Create(fsstate.RootIno, "later", 0o100600, 0, 0, 0, false)
	require.NoError(t, err)
	tv.write(10 << 10)
	clock.Advance(time.Minute)
	// No archive yet: compaction deletes the segments it folded.
	base := tv.compact()
	require.Greater(t, base, lsn.LSN(0))
	require.Greater(t, tv.v.Segments()[0].FirstLSN, lsn.LSN(1), "records 1.. are gone from the log")

	// No segment after the base is sealed yet: the archive waits for one
	// (a first manifest must name one) instead of failing.
	require.LessOrEqual(t, tv.lastSealed(), base)
	b := newMemBucket()
	u := tv.uploader(b, func(o *UploaderOptions) { o.Now = clock.Now })
	stop := run(t, u)
	time.Sleep(300 * time.Millisecond)
	u.Kick()
	time.Sleep(300 * time.Millisecond)

	tv.write(150 << 10)
	head := tv.lastSealed()
	require.Greater(t, head, base)
	u.Kick()
	waitFor(t, fmt.Sprintf("the archive through LSN %d", head), func() bool { return u.ArchivedThrough() >= head })
	require.NoError(t, stop())

	m, _, err := Latest(context.Background(), b, 0)
	require.NoError(t, err)
	require.Equal(t, base, m.BaseLSN, "the archive begins at the base image")
	require.Len(t, m.Bases, 1)
	r, err := m.Restorable()
	require.NoError(t, err)
	require.Equal(t, base, r.FirstLSN)

	rep, got := restoreAt(t, b, head)
	require.Equal(t, base, rep.BaseLSN)
	require.Equal(t, viewTree(t, tv.dir, head), got)

	// Before the base there is nothing to restore.
	tg := lsn.Target{Kind: lsn.TargetLSN, LSN: base - 1, Text: (base - 1).String()}
	_, err = Restore(context.Background(), b, RestoreOptions{Dir: filepath.Join(t.TempDir(), "old"), At: &tg})
	require.Error(t, err)
}
