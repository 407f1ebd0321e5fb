package archive

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/internal/pagecache"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
	"github.com/rewindfs/rewindfs/volume"
)

// testVolume is an open volume with 64 KiB segments and one file that the
// test writes to.
type testVolume struct {
	t    *testing.T
	dir  string
	v    *volume.Volume
	ino  uint64
	off  int64
	data []byte // what the file holds
	rnd  *rand.Rand
}

func newTestVolume(t *testing.T) *testVolume {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vol")
	_, err := volume.Init(dir, volume.InitOptions{SegmentSize: 1 << 16, Archive: "s3://test-bucket/vol"})
	require.NoError(t, err)
	v, err := volume.Open(dir, volume.Options{Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	a, err := v.Create(fsstate.RootIno, "data", 0o100644, 0, 0, 0, false)
	require.NoError(t, err)
	return &testVolume{t: t, dir: dir, v: v, ino: a.Ino, rnd: rand.New(rand.NewSource(1))}
}

// write appends n bytes of random data to the file, in 4 KiB writes.
func (tv *testVolume) write(n int) {
	tv.t.Helper()
	buf := make([]byte, n)
	tv.rnd.Read(buf)
	for i := 0; i < n; i += 4096 {
		end := min(i+4096, n)
		_, err := tv.v.Write(tv.ino, tv.off, buf[i:end])
		require.NoError(tv.t, err)
		tv.off += int64(end - i)
	}
	tv.data = append(tv.data, buf...)
	require.NoError(tv.t, tv.v.Sync())
}

// lastSealed is the last LSN of the last sealed segment.
func (tv *testVolume) lastSealed() lsn.LSN {
	segs := tv.v.Segments()
	if len(segs) < 2 {
		return 0
	}
	return segs[len(segs)-2].LastLSN
}

func (tv *testVolume) uploader(b Bucket, mod func(o *UploaderOptions)) *Uploader {
	tv.t.Helper()
	o := UploaderOptions{
		Bucket: b, VolumeDir: tv.dir, LogDir: filepath.Join(tv.dir, volume.LogDir), Settings: tv.v.Settings,
		Segments: tv.v.Segments, Poll: 10 * time.Millisecond, Backoff: Backoff{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond},
		Parallel: 3, Logf: tv.t.Logf,
	}
	if mod != nil {
		mod(&o)
	}
	u, err := NewUploader(o)
	require.NoError(tv.t, err)
	return u
}

// run starts u in the background; the returned function stops it and
// returns Run's result.
func run(t *testing.T, u *Uploader) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err = u.Run(ctx)
	}()
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUploaderArchivesSealedSegments(t *testing.T) {
	tv := newTestVolume(t)
	b := newMemBucket()
	tv.write(300 << 10)
	require.Greater(t, len(tv.v.Segments()), 3)
	u := tv.uploader(b, func(o *UploaderOptions) { o.MaxBatch = 2 })
	stop := run(t, u)
	waitFor(t, "the sealed segments to be archived", func() bool { return u.ArchivedThrough() == tv.lastSealed() })

	// Every sealed segment is an object with its bytes, named by the
	// newest manifest with its checksum; the active one is not archived.
	ctx := context.Background()
	m, ref, err := Latest(ctx, b, 0)
	require.NoError(t, err)
	require.Greater(t, m.Seq, uint64(1), "MaxBatch 2 makes a manifest per two segments")
	segs := tv.v.Segments()
	require.Len(t, m.Objects, len(segs)-1)
	for i, o := range m.Objects {
		s := segs[i]
		require.Equal(t, SegmentKey(s.FirstLSN), o.Key)
		require.Equal(t, s.LastLSN, o.LastLSN)
		require.Equal(t, time.Unix(0, s.FirstTime).UTC(), o.FirstTime)
		local, err := os.ReadFile(filepath.Join(tv.dir, volume.LogDir, s.Name))
		require.NoError(t, err)
		rc, info, err := b.Get(ctx, o.Key)
		require.NoError(t, err)
		remote := readAll(t, rc)
		require.True(t, bytes.Equal(local, remote), "object %s holds the segment's bytes", o.Key)
		require.Equal(t, Checksum(local), o.CRC32C)
		require.Equal(t, o.CRC32C, info.Meta[metaCRC32C])
		require.Equal(t, s.FirstLSN.String(), info.Meta[metaFirstLSN])
		require.Equal(t, s.LastLSN.String(), info.Meta[metaLastLSN])
		require.Equal(t, tv.v.Settings.VolumeID, info.Meta[metaVolume])
	}
	// Each manifest names the previous one by checksum.
	for seq := m.Seq; seq > 1; seq-- {
		cur, _, err := ReadManifest(ctx, b, seq)
		require.NoError(t, err)
		_, prevRef, err := ReadManifest(ctx, b, seq-1)
		require.NoError(t, err)
		require.Equal(t, prevRef, *cur.Previous)
	}
	require.Empty(t, m.Settings.Archive, "the manifest does not carry the archive settings")
	st, err := ReadState(tv.dir)
	require.NoError(t, err)
	require.Equal(t, State{URL: b.String(), Manifest: &ref, ArchivedThrough: m.ArchivedThrough}, st)

	s := u.Status()
	require.Equal(t, m.Seq, s.Manifest)
	require.Equal(t, tv.lastSealed(), s.ArchivedThroughLSN)
	require.Equal(t, uint64(tv.v.Head()-tv.lastSealed()), s.LagLSNs, "what the active segment holds is the lag")
	require.Equal(t, segs[len(segs)-1].Size, s.LagBytes)
	require.False(t, s.Behind)
	require.Empty(t, s.Error)

	// Idle: no request at all.
	puts, stats := b.puts.Load(), b.stats.Load()
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, puts, b.puts.Load())
	require.Equal(t, stats, b.stats.Load())

	// More writes seal more segments, which go up in the next manifest.
	tv.write(200 << 10)
	waitFor(t, "the new segments", func() bool { return u.ArchivedThrough() == tv.lastSealed() })
	require.NoError(t, stop())

	// A new uploader (after a restart) finds the newest manifest from
	// archive.json and has nothing to upload.
	puts = b.puts.Load()
	u2 := tv.uploader(b, nil)
	require.Equal(t, tv.lastSealed(), u2.ArchivedThrough(), "archive.json gives the confirmed LSN before the store answers")
	stop2 := run(t, u2)
	waitFor(t, "the restarted uploader to read the archive", func() bool { return u2.Status().Manifest > 0 })
	require.NoError(t, stop2())
	require.Equal(t, puts, b.puts.Load())
}

func readAll(t *testing.T, rc interface {
	Read([]byte) (int, error)
	Close() error
}) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := buf.ReadFrom(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	return buf.Bytes()
}

func TestUploaderRetriesWhileTheStoreIsDown(t *testing.T) {
	tv := newTestVolume(t)
	b := newMemBucket()
	b.down.Store(true)
	u := tv.uploader(b, nil)
	stop := run(t, u)
	// Writes go on while the store is down; the lag grows and status says why.
	for range 4 {
		tv.write(100 << 10)
	}
	waitFor(t, "a few failed attempts", func() bool { return u.Status().Failures >= 3 })
	s := u.Status()
	require.Contains(t, s.Error, "connection refused")
	require.Equal(t, lsn.LSN(0), s.ArchivedThroughLSN)
	require.Equal(t, uint64(tv.v.Head()), s.LagLSNs)
	require.Greater(t, s.LagBytes, int64(400<<10))
	require.False(t, s.Stopped)
	b.down.Store(false)
	waitFor(t, "the archive to catch up", func() bool { return u.ArchivedThrough() == tv.lastSealed() })
	s = u.Status()
	require.Empty(t, s.Error)
	require.Zero(t, s.Failures)
	require.NoError(t, stop())
}

func TestUploaderResumesAfterACrashBeforeTheManifest(t *testing.T) {
	tv := newTestVolume(t)
	b := newMemBucket()
	tv.write(200 << 10)
	segs := tv.v.Segments()
	// A run that uploaded the first segment and died before its manifest.
	first, err := os.ReadFile(filepath.Join(tv.dir, volume.LogDir, segs[0].Name))
	require.NoError(t, err)
	b.put(SegmentKey(segs[0].FirstLSN), first, map[string]string{metaCRC32C: Checksum(first)})
	// And one whose upload left an object without metadata.
	second, err := os.ReadFile(filepath.Join(tv.dir, volume.LogDir, segs[1].Name))
	require.NoError(t, err)
	b.put(SegmentKey(segs[1].FirstLSN), second, nil)

	u := tv.uploader(b, nil)
	stop := run(t, u)
	waitFor(t, "the archive", func() bool { return u.ArchivedThrough() == tv.lastSealed() })
	require.NoError(t, stop())
	m, _, err := Latest(context.Background(), b, 0)
	require.NoError(t, err)
	require.Equal(t, uint64(1), m.Seq)
	require.Equal(t, Checksum(first), m.Objects[0].CRC32C)
}

func TestUploaderStopsOnAConflict(t *testing.T) {
	tv := newTestVolume(t)
	b := newMemBucket()
	tv.write(200 << 10)
	segs := tv.v.Segments()
	b.put(SegmentKey(segs[1].FirstLSN), []byte("another volume's segment"), map[string]string{metaCRC32C: "01234567"})
	u := tv.uploader(b, nil)
	stop := run(t, u)
	waitFor(t, "the uploader to stop", func() bool { return u.Status().Stopped })
	err := stop()
	require.ErrorIs(t, err, ErrConflict)
	require.Contains(t, err.Error(), SegmentKey(segs[1].FirstLSN))
	require.Contains(t, u.Status().Error, "archive: conflicting object")
	require.Equal(t, lsn.LSN(0), u.ArchivedThrough(), "no manifest names a conflicting chain")
	_, _, err = Latest(context.Background(), b, 0)
	require.ErrorIs(t, err, ErrNoArchive)
}

func TestUploaderRefusesAnotherVolumesArchive(t *testing.T) {
	tv := newTestVolume(t)
	b := newMemBucket()
	other := testManifest(1, seg(1, 3))
	data, err := other.Encode()
	require.NoError(t, err)
	b.put(ManifestKey(1), data, nil)
	tv.write(200 << 10)
	u := tv.uploader(b, nil)
	err = u.Run(context.Background())
	require.ErrorIs(t, err, ErrOtherVolume)
	require.Contains(t, err.Error(), other.VolumeID)
}

func TestRestore(t *testing.T) {
	tv := newTestVolume(t)
	b := newMemBucket()
	tv.write(150 << 10)
	mid := tv.v.Head()
	midData := bytes.Clone(tv.data)
	tv.write(250 << 10)
	u := tv.uploader(b, nil)
	stop := run(t, u)
	waitFor(t, "the archive", func() bool { return u.ArchivedThrough() == tv.lastSealed() })
	require.NoError(t, stop())
	archived := u.ArchivedThrough()

	ctx := context.Background()
	var total int64
	var got atomic.Int64 // Progress is called from each download
	dst := t.TempDir()   // an empty directory is a fine destination
	rep, err := Restore(ctx, b, RestoreOptions{Dir: dst, Started: func(n int64) { total = n }, Progress: func(n int) { got.Add(int64(n)) }})
	require.NoError(t, err)
	require.Equal(t, archived, rep.LastLSN)
	require.Equal(t, archived, rep.Target)
	require.Equal(t, total, got.Load())
	require.Equal(t, rep.Bytes, total)

	r, err := volume.Open(dst, volume.Options{ReadOnly: true, Logf: t.Logf})
	require.NoError(t, err)
	require.Equal(t, tv.v.Settings.VolumeID, r.Settings.VolumeID)
	require.Empty(t, r.Settings.Archive, "a restored volume does not archive to its source's prefix")
	require.Equal(t, archived, r.Head())
	require.NoError(t, r.Close())

	// --at an LSN: only the segments through it, then a rewind to it.
	dst2 := filepath.Join(t.TempDir(), "at")
	tg := lsn.Target{Kind: lsn.TargetLSN, LSN: mid, Text: mid.String()}
	rep, err = Restore(ctx, b, RestoreOptions{Dir: dst2, At: &tg})
	require.NoError(t, err)
	require.Equal(t, mid, rep.Target)
	require.Less(t, rep.LastLSN, archived)
	r, err = volume.Open(dst2, volume.Options{ReadOnly: true, Logf: t.Logf})
	require.NoError(t, err)
	defer r.Close()
	var size uint64
	require.NoError(t, r.View(func(s *fsstate.State) error {
		size = s.Attr(s.Inodes[tv.ino]).Size
		return nil
	}))
	require.Equal(t, uint64(len(midData)), size)
	buf := make([]byte, size)
	n, err := r.Read(tv.ino, 0, buf)
	require.NoError(t, err)
	require.True(t, bytes.Equal(midData, buf[:n]), "the restored file is the file at LSN %d", mid)

	// A target beyond the archive changes nothing.
	dst3 := filepath.Join(t.TempDir(), "late")
	late := lsn.Target{Kind: lsn.TargetLSN, LSN: archived + 1, Text: "late"}
	_, err = Restore(ctx, b, RestoreOptions{Dir: dst3, At: &late})
	require.ErrorIs(t, err, ErrTarget)
	requireNothingAt(t, dst3)
}

// archivedTestVolume writes n bytes to a new test volume and archives its
// sealed segments into a new in-memory bucket; it returns both and the
// archive's newest manifest.
func archivedTestVolume(t *testing.T, n int) (*testVolume, *memBucket, *Manifest) {
	t.Helper()
	tv := newTestVolume(t)
	b := newMemBucket()
	tv.write(n)
	u := tv.uploader(b, nil)
	stop := run(t, u)
	waitFor(t, "the archive", func() bool { return u.ArchivedThrough() == tv.lastSealed() })
	require.NoError(t, stop())
	m, _, err := Latest(context.Background(), b, 0)
	require.NoError(t, err)
	return tv, b, m
}

// requireNothingAt checks that a failed restore left nothing behind: no
// destination and no temporary directory beside it.
func requireNothingAt(t *testing.T, dst string) {
	t.Helper()
	_, err := os.Stat(dst)
	require.True(t, errors.Is(err, os.ErrNotExist), "%s exists after a failed restore", dst)
	ents, err := os.ReadDir(filepath.Dir(dst))
	require.NoError(t, err)
	for _, e := range ents {
		require.False(t, strings.Contains(e.Name(), filepath.Base(dst)), "left behind: %s", e.Name())
	}
}

func TestRestoreRefusesBadObjects(t *testing.T) {
	_, b, m := archivedTestVolume(t, 300<<10)
	victim := m.Objects[1].Key
	ctx := context.Background()

	// A flipped byte: the metadata still says the right checksum.
	b.damage(victim, 100)
	dst := filepath.Join(t.TempDir(), "bad")
	_, err := Restore(ctx, b, RestoreOptions{Dir: dst})
	require.ErrorIs(t, err, ErrChecksum)
	require.Contains(t, err.Error(), victim, "the error names the object")
	requireNothingAt(t, dst)
	b.damage(victim, 100) // undo

	// A missing object.
	rc, _, err := b.Get(ctx, victim)
	require.NoError(t, err)
	data := readAll(t, rc)
	b.remove(victim)
	_, err = Restore(ctx, b, RestoreOptions{Dir: dst})
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), victim)
	requireNothingAt(t, dst)

	// A manifest with a gap.
	b.put(victim, data, map[string]string{metaCRC32C: Checksum(data)})
	gap := *m
	gap.Seq, gap.Previous = m.Seq+1, &ManifestRef{Seq: m.Seq, Key: ManifestKey(m.Seq), Size: 1, CRC32C: "00000000"}
	gap.Objects = append([]Object{gap.Objects[0]}, gap.Objects[2:]...)
	enc, err := gap.Encode()
	require.NoError(t, err)
	b.put(ManifestKey(gap.Seq), enc, nil)
	_, err = Restore(ctx, b, RestoreOptions{Dir: dst})
	require.ErrorIs(t, err, ErrGap)
	require.Contains(t, err.Error(), gap.Objects[1].Key)
	requireNothingAt(t, dst)

	// Into a directory that is not empty: refused before anything is read.
	full := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(full, "keep"), []byte("x"), 0o600))
	b.down.Store(true)
	_, err = Restore(ctx, b, RestoreOptions{Dir: full})
	require.ErrorIs(t, err, ErrNotEmpty)
}

// A restore with Branch (rewindfs clone s3://...) is a clone of the
// archived volume: an ID of its own, the archived volume as its parent at
// the target, its log accepted and extended with its own ID, verify clean.
func TestRestoreAsBranch(t *testing.T) {
	tv := newTestVolume(t)
	b := newMemBucket()
	tv.write(300 << 10)
	u := tv.uploader(b, nil)
	stop := run(t, u)
	waitFor(t, "the archive", func() bool { return u.ArchivedThrough() == tv.lastSealed() })
	require.NoError(t, stop())
	mid := u.ArchivedThrough() - 5

	dst := filepath.Join(t.TempDir(), "branch")
	tg := lsn.Target{Kind: lsn.TargetLSN, LSN: mid, Text: mid.String()}
	rep, err := Restore(context.Background(), b, RestoreOptions{Dir: dst, At: &tg, Branch: true})
	require.NoError(t, err)
	parent := tv.v.Settings.VolumeID
	require.Equal(t, parent, rep.ParentID)
	require.NotEqual(t, parent, rep.VolumeID)

	s, err := volume.ReadSettings(dst)
	require.NoError(t, err)
	require.Equal(t, rep.VolumeID, s.VolumeID)
	require.Len(t, s.Ancestors, 1)
	require.Equal(t, parent, s.Ancestors[0].VolumeID)
	require.Equal(t, mid, s.Ancestors[0].BranchLSN)
	require.Equal(t, b.String(), s.Ancestors[0].Path)
	require.Empty(t, s.Archive)

	require.Equal(t, viewTree(t, tv.dir, mid), viewTree(t, dst, mid))
	v, err := volume.Open(dst, volume.Options{Logf: t.Logf})
	require.NoError(t, err)
	a, err := v.Create(fsstate.RootIno, "branch-only", 0o100644, 0, 0, 0, false)
	require.NoError(t, err)
	_, err = v.Write(a.Ino, 0, bytes.Repeat([]byte{7}, 200<<10)) // past a segment: a segment with the branch's ID
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	require.NoError(t, v.Close())
	ids, err := s.AncestorIDs()
	require.NoError(t, err)
	own, err := s.ID()
	require.NoError(t, err)
	_, err = pagelog.VerifyVolumes(filepath.Join(dst, volume.LogDir), nil, append([][16]byte{own}, ids...))
	require.NoError(t, err)
}

// An uploaded segment leaves the page cache: it is read for the upload and
// then not for a long time, if ever.
func TestUploaderDropsWhatItRead(t *testing.T) {
	tv := newTestVolume(t)
	if !pagecache.Droppable(tv.dir) {
		t.Skip("TMPDIR is on tmpfs, where a file's cached pages are the file")
	}
	tv.write(300 << 10)
	segs := tv.v.Segments()
	require.Greater(t, len(segs), 3)
	sealed := segs[:len(segs)-1]
	for _, s := range sealed {
		p := filepath.Join(tv.dir, volume.LogDir, s.Name)
		_, err := os.ReadFile(p)
		require.NoError(t, err)
		n, err := pagecache.Resident(p)
		require.NoError(t, err)
		require.NotZero(t, n, "a segment just read should be cached (else this test measures nothing)")
	}
	u := tv.uploader(newMemBucket(), nil)
	stop := run(t, u)
	waitFor(t, "the sealed segments to be archived", func() bool { return u.ArchivedThrough() == tv.lastSealed() })
	require.NoError(t, stop())
	for _, s := range sealed {
		n, err := pagecache.Resident(filepath.Join(tv.dir, volume.LogDir, s.Name))
		require.NoError(t, err)
		require.Zero(t, n, "%s is still cached after its upload", s.Name)
	}
}
