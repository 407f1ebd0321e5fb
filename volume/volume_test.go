package volume

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// newTestVolume makes and opens a volume in a temporary directory. Its
// cleanup closes the volume and then checks, by reopening it read-only, that
// the log recovers to the same head.
func newTestVolume(t *testing.T, o InitOptions) (*Volume, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vol")
	if o.SegmentSize == 0 {
		o.SegmentSize = 1 << 20 // small segments, so tests cross segment boundaries
	}
	_, err := Init(dir, o)
	require.NoError(t, err)
	v, err := Open(dir, Options{Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() {
		if v.log == nil {
			return
		}
		head := v.Head()
		require.NoError(t, v.Close())
		r, err := Open(dir, Options{ReadOnly: true, Logf: t.Logf})
		require.NoError(t, err)
		defer r.Close()
		require.Equal(t, head, r.Head(), "reopened volume has another head")
	})
	return v, dir
}

// dump describes the whole tree: one line per path with type, mode, owner,
// size, link count, symlink target and a hash of the content.
func dump(t *testing.T, v *Volume) string {
	t.Helper()
	var lines []string
	var walk func(ino uint64, path string)
	walk = func(ino uint64, path string) {
		var a fsstate.Attr
		var target string
		var names []string
		var kids []uint64
		require.NoError(t, v.View(func(s *fsstate.State) error {
			n := s.Inodes[ino]
			a = s.Attr(n)
			target = n.Target
			names = n.SortedEntries()
			for _, name := range names {
				kids = append(kids, n.Entries[name])
			}
			return nil
		}))
		sum := ""
		if a.Mode&syscall.S_IFMT == syscall.S_IFREG {
			buf := make([]byte, a.Size+10)
			k, err := v.Read(ino, 0, buf)
			require.NoError(t, err)
			require.Equal(t, int(a.Size), k)
			sum = fmt.Sprintf("%x", sha256.Sum256(buf[:k]))[:16]
		}
		lines = append(lines, fmt.Sprintf("%s mode=%o uid=%d size=%d nlink=%d target=%q sum=%s",
			path, a.Mode, a.UID, a.Size, a.Nlink, target, sum))
		for i, name := range names {
			walk(kids[i], path+"/"+name)
		}
	}
	walk(fsstate.RootIno, "")
	sort.Strings(lines)
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

// workload applies random operations through the volume's API.
type workload struct {
	t     *testing.T
	v     *Volume
	rng   *rand.Rand
	files []uint64 // regular files that exist
	dirs  []uint64 // directories that exist, root first
	seq   int
}

func (w *workload) name() string { w.seq++; return "n" + strconv.Itoa(w.seq) }

// lookup finds where ino is linked (any one name).
func (w *workload) where(ino uint64) (uint64, string, bool) {
	var p uint64
	var name string
	ok := false
	_ = w.v.View(func(s *fsstate.State) error {
		for d, n := range s.Inodes {
			if !n.IsDir() || n.Nlink == 0 {
				continue
			}
			for nm, c := range n.Entries {
				if c == ino {
					p, name, ok = d, nm, true
					return nil
				}
			}
		}
		return nil
	})
	return p, name, ok
}

func (w *workload) step() {
	v, r := w.v, w.rng
	ps := v.PageSize()
	switch k := r.Intn(20); {
	case k < 3 || len(w.files) == 0:
		a, err := v.Create(w.dirs[r.Intn(len(w.dirs))], w.name(), syscall.S_IFREG|0o644, 0, 0, 0, false)
		require.NoError(w.t, err)
		w.files = append(w.files, a.Ino)
	case k < 10:
		ino := w.files[r.Intn(len(w.files))]
		off := int64(r.Intn(6 * ps))
		if r.Intn(2) == 0 {
			off -= off % int64(ps)
		}
		data := make([]byte, 1+r.Intn(3*ps))
		r.Read(data)
		_, err := v.Write(ino, off, data)
		require.NoError(w.t, err)
	case k < 12:
		ino := w.files[r.Intn(len(w.files))]
		_, err := v.SetAttr(ino, SetAttrIn{Valid: fsstate.SetSize, Size: uint64(r.Intn(5 * ps))})
		require.NoError(w.t, err)
	case k < 13:
		a, err := v.Create(w.dirs[r.Intn(len(w.dirs))], w.name(), syscall.S_IFDIR|0o755, 0, 0, 0, false)
		require.NoError(w.t, err)
		w.dirs = append(w.dirs, a.Ino)
	case k < 14:
		i := r.Intn(len(w.files))
		if p, name, ok := w.where(w.files[i]); ok {
			require.NoError(w.t, v.Unlink(p, name))
			w.files = append(w.files[:i], w.files[i+1:]...)
		}
	case k < 16:
		ino := w.files[r.Intn(len(w.files))]
		if p, name, ok := w.where(ino); ok {
			err := v.Rename(p, name, w.dirs[r.Intn(len(w.dirs))], w.name(), 0)
			require.NoError(w.t, err)
		}
	case k < 17:
		_, err := v.Link(w.files[r.Intn(len(w.files))], w.dirs[r.Intn(len(w.dirs))], w.name())
		require.NoError(w.t, err)
	case k < 18:
		_, err := v.Symlink(w.dirs[r.Intn(len(w.dirs))], w.name(), "target/"+w.name(), 0, 0)
		require.NoError(w.t, err)
	case k < 19:
		_, err := v.SetAttr(w.files[r.Intn(len(w.files))], SetAttrIn{Valid: fsstate.SetMode, Mode: uint32(r.Intn(0o777))})
		require.NoError(w.t, err)
	default:
		require.NoError(w.t, v.Sync())
	}
}

// TestRewindToEveryNotedState is the property rewinds are trusted for: at
// random moments of a random workload, note the LSN and the whole tree;
// afterwards, rewinding to each noted LSN in random order (back and forth)
// gives exactly that tree, and so does a read-only view at that LSN.
func TestRewindToEveryNotedState(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("REWINDFS_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (replay with REWINDFS_SEED=%d)", seed, seed)
	for _, codec := range []string{"none", "s2", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			v, dir := newTestVolume(t, InitOptions{Compression: codec})
			w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(seed)), dirs: []uint64{fsstate.RootIno}}
			type snap struct {
				l    lsn.LSN
				tree string
			}
			var snaps []snap
			for i := 0; i < 1500; i++ {
				w.step()
				if w.rng.Intn(100) == 0 {
					snaps = append(snaps, snap{v.Head(), dump(t, v)})
				}
			}
			snaps = append(snaps, snap{v.Head(), dump(t, v)})
			require.NotEmpty(t, snaps)

			order := w.rng.Perm(len(snaps))
			for _, i := range order {
				_, _, err := v.Rewind(snaps[i].l)
				require.NoError(t, err)
				require.Equal(t, snaps[i].tree, dump(t, v), "after rewind to LSN %d", snaps[i].l)
				// New writes continue from the target and do not disturb
				// any noted state.
				for k := 0; k < 5; k++ {
					w.files, w.dirs = liveFiles(v)
					w.step()
				}
			}
			for _, i := range w.rng.Perm(len(snaps))[:min(5, len(snaps))] {
				at := lsn.Target{Kind: lsn.TargetLSN, LSN: snaps[i].l}
				view, err := Open(dir, Options{ReadOnly: true, At: &at, Logf: t.Logf})
				require.NoError(t, err)
				require.Equal(t, snaps[i].tree, dump(t, view), "view at LSN %d", snaps[i].l)
				require.NoError(t, view.Close())
			}
		})
	}
}

// liveFiles lists the regular files and directories of the live state, for
// a workload that continues after a rewind.
func liveFiles(v *Volume) (files, dirs []uint64) {
	_ = v.View(func(s *fsstate.State) error {
		for ino, n := range s.Inodes {
			switch {
			case n.Nlink == 0:
			case n.IsRegular():
				files = append(files, ino)
			case n.IsDir():
				dirs = append(dirs, ino)
			}
		}
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i] < files[j] })
	sort.Slice(dirs, func(i, j int) bool { return dirs[i] < dirs[j] })
	return files, dirs
}

// TestRestartRebuildsTheSameState: the state rebuilt from the log on open is
// the state that was live (invariant 3).
func TestRestartRebuildsTheSameState(t *testing.T) {
	v, dir := newTestVolume(t, InitOptions{})
	w := &workload{t: t, v: v, rng: rand.New(rand.NewSource(1)), dirs: []uint64{fsstate.RootIno}}
	for i := 0; i < 800; i++ {
		w.step()
	}
	before := dump(t, v)
	require.NoError(t, v.Close())
	v2, err := Open(dir, Options{Logf: t.Logf})
	require.NoError(t, err)
	defer v2.Close()
	require.Equal(t, before, dump(t, v2))
}

func TestUnlinkedOpenFileStaysReadableUntilReleased(t *testing.T) {
	v, _ := newTestVolume(t, InitOptions{})
	a, err := v.Create(fsstate.RootIno, "tmp", syscall.S_IFREG|0o600, 0, 0, 0, false)
	require.NoError(t, err)
	_, err = v.Write(a.Ino, 0, []byte("still here"))
	require.NoError(t, err)
	require.NoError(t, v.Open(a.Ino))
	require.NoError(t, v.Unlink(fsstate.RootIno, "tmp"))
	buf := make([]byte, 64)
	n, err := v.Read(a.Ino, 0, buf)
	require.NoError(t, err)
	require.Equal(t, "still here", string(buf[:n]))
	_, err = v.Write(a.Ino, 10, []byte("!"))
	require.NoError(t, err)
	require.NoError(t, v.Released(a.Ino))
	_, err = v.Read(a.Ino, 0, buf)
	require.ErrorIs(t, err, syscall.ENOENT)
}

func TestTruncateZeroesTheCutPage(t *testing.T) {
	v, _ := newTestVolume(t, InitOptions{})
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o600, 0, 0, 0, false)
	require.NoError(t, err)
	data := make([]byte, 10000)
	for i := range data {
		data[i] = 0xAB
	}
	_, err = v.Write(a.Ino, 0, data)
	require.NoError(t, err)
	_, err = v.SetAttr(a.Ino, SetAttrIn{Valid: fsstate.SetSize, Size: 5000})
	require.NoError(t, err)
	_, err = v.SetAttr(a.Ino, SetAttrIn{Valid: fsstate.SetSize, Size: 12000})
	require.NoError(t, err)
	buf := make([]byte, 12000)
	n, err := v.Read(a.Ino, 0, buf)
	require.NoError(t, err)
	require.Equal(t, 12000, n)
	for i := 0; i < 12000; i++ {
		want := byte(0)
		if i < 5000 {
			want = 0xAB
		}
		if buf[i] != want {
			t.Fatalf("byte %d = %#x, want %#x", i, buf[i], want)
		}
	}
}

func TestRewindRefusesOpenFilesAndBadTargets(t *testing.T) {
	v, _ := newTestVolume(t, InitOptions{})
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o600, 0, 0, 0, false)
	require.NoError(t, err)
	good := v.Head()
	_, err = v.Write(a.Ino, 0, []byte("x"))
	require.NoError(t, err)
	head := v.Head()

	require.NoError(t, v.Open(a.Ino))
	_, _, err = v.Rewind(good)
	require.ErrorIs(t, err, ErrFilesOpen)
	require.Contains(t, err.Error(), "1 file handle(s) open")
	require.Equal(t, head, v.Head(), "a refused rewind changed the volume")
	require.NoError(t, v.Released(a.Ino))

	for _, tg := range []lsn.Target{
		{Kind: lsn.TargetLSN, LSN: head + 100},
		{Kind: lsn.TargetTime, Time: time.Unix(0, 1)},
		{Kind: lsn.TargetMark, Mark: "nope"},
	} {
		_, err := v.Resolve(tg)
		require.Error(t, err, "%+v", tg)
	}
	_, err = v.Resolve(lsn.Target{Kind: lsn.TargetLSN, LSN: head + 100})
	require.Contains(t, err.Error(), "the window holds LSN 1")
	require.Equal(t, head, v.Head())
}

func TestMarkIsATarget(t *testing.T) {
	v, _ := newTestVolume(t, InitOptions{})
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o600, 0, 0, 0, false)
	require.NoError(t, err)
	_, err = v.Write(a.Ino, 0, []byte("before"))
	require.NoError(t, err)
	l, err := v.Mark("before-migration", false)
	require.NoError(t, err)
	tree := dump(t, v)
	_, err = v.Write(a.Ino, 0, []byte("AFTER!"))
	require.NoError(t, err)
	got, err := v.Resolve(lsn.Target{Kind: lsn.TargetMark, Mark: "before-migration"})
	require.NoError(t, err)
	require.Equal(t, l, got)
	_, _, err = v.Rewind(got)
	require.NoError(t, err)
	require.Equal(t, tree, dump(t, v))
}

func TestInitRefusesNonEmptyDirectoryAndBadSettings(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o600))
	_, err := Init(dir, InitOptions{})
	require.ErrorIs(t, err, ErrNotEmpty)
	_, err = Init(filepath.Join(t.TempDir(), "v"), InitOptions{PageSize: 3000})
	require.ErrorIs(t, err, ErrSettings)
	_, err = Init(filepath.Join(t.TempDir(), "v"), InitOptions{Compression: "lz77"})
	require.ErrorIs(t, err, ErrSettings)

	v := filepath.Join(t.TempDir(), "v")
	_, err = Init(v, InitOptions{})
	require.NoError(t, err)
	_, err = Init(v, InitOptions{})
	require.ErrorIs(t, err, ErrExists)
	b, err := os.ReadFile(filepath.Join(v, SettingsFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(v, SettingsFile), []byte(`{"format_version": 999}`), 0o600))
	_, err = Open(v, Options{})
	require.ErrorIs(t, err, ErrVersion)
	require.NoError(t, os.WriteFile(filepath.Join(v, SettingsFile), b, 0o600))
}

func TestSecondOpenIsRefused(t *testing.T) {
	v, dir := newTestVolume(t, InitOptions{})
	_ = v
	_, err := Open(dir, Options{Purpose: "second"})
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), fmt.Sprintf("process %d", os.Getpid()))
}

// TestStatusSyncPointAndTimeline: status names the newest sync point and
// every rewind, also after the history is rebuilt on open.
func TestStatusSyncPointAndTimeline(t *testing.T) {
	v, dir := newTestVolume(t, InitOptions{})
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o600, 0, 0, 0, false)
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	first := v.Head()
	_, err = v.Write(a.Ino, 0, []byte("x"))
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	sync2 := v.Head()
	require.NoError(t, v.Sync()) // nothing changed: no new sync point
	_, _, err = v.Rewind(first)
	require.NoError(t, err)
	rew := v.Head() // the rewind record (no orphans to purge)

	check := func(s Status) {
		t.Helper()
		require.Equal(t, sync2, s.LastSyncLSN)
		require.Len(t, s.Timeline, 1)
		require.Equal(t, rew, s.Timeline[0].LSN)
		require.Equal(t, first, s.Timeline[0].Target)
	}
	check(v.Status())
	require.NoError(t, v.Close())
	r, err := Open(dir, Options{ReadOnly: true, Logf: t.Logf})
	require.NoError(t, err)
	defer r.Close()
	check(r.Status())
}

// A full disk when an fsync writes out the log's buffered records reaches
// the application as ENOSPC, not EIO, and loses nothing: the data reads
// back meanwhile, and the next fsync makes it durable.
func TestSyncENOSPC(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	_, err := Init(dir, InitOptions{SegmentSize: 1 << 20})
	require.NoError(t, err)
	efs := pagelog.NewErrorFS(pagelog.Disk)
	v, err := Open(dir, Options{Logf: t.Logf, FS: efs})
	require.NoError(t, err)
	defer v.Close()
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o644, 0, 0, 0, false)
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	data := bytes.Repeat([]byte("rewindfs"), 512)
	_, err = v.Write(a.Ino, 0, data)
	require.NoError(t, err)

	// The fault must hit the segment, not the spare segment a background
	// goroutine zeroes after the first one is taken: wait until its zeros
	// are all written (only its fsync is left then).
	spare := filepath.Join(dir, LogDir, "spare.seg.tmp")
	deadline := time.Now().Add(10 * time.Second)
	for st, err := os.Stat(spare); err != nil || st.Size() < 1<<20; st, err = os.Stat(spare) {
		require.True(t, time.Now().Before(deadline), "no spare segment made in 10 s")
		time.Sleep(time.Millisecond)
	}
	efs.Inject(pagelog.Fault{Op: pagelog.OpWrite, Nth: 0, Err: syscall.ENOSPC})
	require.ErrorIs(t, v.Sync(), syscall.ENOSPC)
	got := make([]byte, len(data))
	n, err := v.Read(a.Ino, 0, got)
	require.NoError(t, err)
	require.Equal(t, data, got[:n])

	require.NoError(t, v.Sync())
	require.Equal(t, v.Head(), v.log.Durable())
}

// A finished create, rename, unlink or truncate is in the segment file
// when it returns, so a kill -9 of the daemon cannot take it back: a view
// opened beside the volume, which reads only what the OS has, sees it.
// (SQLite's rollback-journal commit is the journal's unlink, unsynced.)
// Data writes may wait in the log's buffer.
func TestNamespaceChangesLeaveTheBuffer(t *testing.T) {
	v, dir := newTestVolume(t, InitOptions{})
	beside := func() (lsn.LSN, string) {
		t.Helper()
		r, err := Open(dir, Options{ReadOnly: true, Logf: t.Logf})
		require.NoError(t, err)
		defer r.Close()
		return r.Head(), dump(t, r)
	}
	a, err := v.Create(fsstate.RootIno, "db-journal", syscall.S_IFREG|0o644, 0, 0, 0, false)
	require.NoError(t, err)
	_, err = v.Write(a.Ino, 0, []byte("journal header"))
	require.NoError(t, err)
	_, err = v.SetAttr(a.Ino, SetAttrIn{Valid: fsstate.SetMtime, Mtime: 1e9})
	require.NoError(t, err)
	head, _ := beside()
	require.Less(t, head, v.Head(), "a data write and an mtime went out at once: this test would prove nothing")

	steps := []struct {
		what string
		do   func() error
	}{
		{"create", func() error {
			_, err := v.Create(fsstate.RootIno, "b", syscall.S_IFREG|0o644, 0, 0, 0, false)
			return err
		}},
		{"rename", func() error { return v.Rename(fsstate.RootIno, "b", fsstate.RootIno, "c", 0) }},
		{"truncate", func() error {
			_, err := v.SetAttr(a.Ino, SetAttrIn{Valid: fsstate.SetSize, Size: 0})
			return err
		}},
		{"unlink", func() error { return v.Unlink(fsstate.RootIno, "db-journal") }},
	}
	for _, s := range steps {
		_, err := v.Write(a.Ino, 0, []byte("more")) // buffered, then carried out with the change
		require.NoError(t, err)
		require.NoError(t, s.do(), s.what)
		head, tree := beside()
		require.Equal(t, v.Head(), head, "after %s, a view beside sees an older head", s.what)
		require.Equal(t, dump(t, v), tree, "after %s", s.what)
	}
}
