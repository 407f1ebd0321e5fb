package pagelog

import (
	"github.com/stretchr/testify/require"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFSBasics runs the same calls against every FS, so that MemFS and
// ErrorFS behave like the disk where pagelog relies on it.
func TestFSBasics(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) (FS, string){
		"disk":    func(t *testing.T) (FS, string) { return Disk, t.TempDir() },
		"mem":     func(t *testing.T) (FS, string) { return NewMemFS(), "/d" },
		"errorfs": func(t *testing.T) (FS, string) { return NewErrorFS(NewMemFS()), "/d" },
	} {
		t.Run(name, func(t *testing.T) {
			fs, dir := mk(t)
			sub := filepath.Join(dir, "a", "b")
			require.NoError(t, fs.MkdirAll(sub, 0o755))
			p := filepath.Join(sub, "f")
			_, err := fs.OpenFile(p, os.O_RDONLY, 0)
			require.ErrorIs(t, err, os.ErrNotExist)
			f, err := fs.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			require.NoError(t, err)
			_, err = fs.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			require.ErrorIs(t, err, os.ErrExist)
			_, err = f.WriteAt([]byte("hello"), 3)
			require.NoError(t, err)
			size, err := f.Size()
			require.NoError(t, err)
			require.EqualValues(t, 8, size)
			buf := make([]byte, 10)
			n, err := f.ReadAt(buf, 0)
			require.Equal(t, 8, n)
			require.True(t, err != nil, "reading past the end must say so")
			require.Equal(t, []byte("\x00\x00\x00hello"), buf[:n])
			require.NoError(t, f.Datasync())
			require.NoError(t, f.Truncate(4))
			require.NoError(t, f.Sync())
			size, _ = f.Size()
			require.EqualValues(t, 4, size)
			require.NoError(t, fs.Rename(p, filepath.Join(sub, "g")))
			require.NoError(t, fs.SyncDir(sub))
			names, err := fs.ReadDir(sub)
			require.NoError(t, err)
			require.Equal(t, []string{"g"}, names)
			require.NoError(t, fs.Remove(filepath.Join(sub, "g")))
			names, _ = fs.ReadDir(sub)
			require.Empty(t, names)
			require.NoError(t, f.Close())

			ro, err := fs.OpenFile(filepath.Join(sub, "h"), os.O_RDWR|os.O_CREATE, 0o644)
			require.NoError(t, err)
			require.NoError(t, ro.Close())
			ro, err = fs.OpenFile(filepath.Join(sub, "h"), os.O_RDONLY, 0)
			require.NoError(t, err)
			_, err = ro.WriteAt([]byte("x"), 0)
			require.True(t, err != nil, "write to a read-only file")
			require.NoError(t, ro.Close())
		})
	}
}

func memWrite(t *testing.T, fs *MemFS, name, content string, sync bool) File {
	t.Helper()
	f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte(content), 0)
	require.NoError(t, err)
	if sync {
		require.NoError(t, f.Sync())
	}
	return f
}

func TestMemFSCrash(t *testing.T) {
	fs := NewMemFS()
	require.NoError(t, fs.MkdirAll("/d", 0o755))
	memWrite(t, fs, "/d/synced", "kept", true)
	memWrite(t, fs, "/d/unsynced", "lost", false)
	require.NoError(t, fs.SyncDir("/d"))
	f := memWrite(t, fs, "/d/synced", "KEPT?", false) // overwrite, not synced
	memWrite(t, fs, "/d/new", "no dir sync", true)    // synced, dir not
	require.NoError(t, fs.Rename("/d/unsynced", "/d/renamed"))

	fs.Crash()
	names, _ := fs.ReadDir("/d")
	require.Equal(t, []string{"synced", "unsynced"}, names)
	b, _ := fs.ReadFile("/d/synced")
	require.Equal(t, "kept", string(b))
	b, _ = fs.ReadFile("/d/unsynced")
	require.Equal(t, "", string(b))
	_, err := f.WriteAt([]byte("x"), 0)
	require.ErrorIs(t, err, os.ErrClosed)
}

func TestMemFSCrashRandom(t *testing.T) {
	seed := testSeed(t)
	run := func() (string, []string) {
		fs := NewMemFS()
		require.NoError(t, fs.MkdirAll("/d", 0o755))
		f := memWrite(t, fs, "/d/f", "0123", true)
		require.NoError(t, fs.SyncDir("/d"))
		for i := range 10 {
			_, err := f.WriteAt([]byte("abcdefgh"), int64(4+8*i))
			require.NoError(t, err)
		}
		memWrite(t, fs, "/d/g", "g", true)
		fs.CrashRandom(rand.New(rand.NewPCG(seed, 1)))
		b, _ := fs.ReadFile("/d/f")
		names, _ := fs.ReadDir("/d")
		return string(b), names
	}
	got, names := run()
	// What survives is the synced part and a prefix of the writes after it.
	want := "0123"
	for len(want) < len(got) {
		want += "abcdefgh"
	}
	require.Equal(t, want[:len(got)], got)
	require.True(t, len(got) >= 4, "synced bytes lost")
	// The same seed gives the same crash.
	got2, names2 := run()
	require.Equal(t, got, got2)
	require.Equal(t, names, names2)
}

func TestErrorFSFaults(t *testing.T) {
	efs := NewErrorFS(NewMemFS())
	require.NoError(t, efs.MkdirAll("/d", 0o755))
	efs.Inject(Fault{Op: OpWrite, Nth: 1, Err: syscall.EIO, Short: true})
	f, err := efs.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("good"), 0)
	require.NoError(t, err)
	n, err := f.WriteAt([]byte("torn"), 4)
	require.ErrorIs(t, err, syscall.EIO)
	require.Equal(t, 2, n)
	_, err = f.WriteAt([]byte("fine"), 8)
	require.NoError(t, err)
	require.Equal(t, 3, efs.Count(OpWrite))

	efs.Inject(Fault{Op: OpAny, Nth: 0, Err: errCrash, Crash: true})
	require.ErrorIs(t, f.Sync(), errCrash)
	require.ErrorIs(t, efs.Rename("/d/f", "/d/g"), errCrash)
	_, err = f.WriteAt([]byte("x"), 0)
	require.ErrorIs(t, err, errCrash)
	require.True(t, efs.Fired())
}

// WriteFileDurably: after a crash at any of its changing calls the file
// is the old one or the new one, whole; once it returns, the new one
// survives a crash.
func TestWriteFileDurably(t *testing.T) {
	for k := 0; k <= 6; k++ {
		mem := NewMemFS()
		require.NoError(t, mem.MkdirAll("/d", 0o755))
		require.NoError(t, WriteFileDurably(mem, "/d/f", []byte("old"), 0o600))
		require.NoError(t, mem.SyncDir("/d"))
		efs := NewErrorFS(mem)
		efs.Inject(Fault{Op: OpAny, Nth: k, Err: syscall.EIO, Crash: true})
		err := WriteFileDurably(efs, "/d/f", []byte("new, longer"), 0o600)
		mem.Crash()
		got, rerr := mem.ReadFile("/d/f")
		require.NoError(t, rerr, "crash at call %d", k)
		if err != nil {
			require.Contains(t, []string{"old", "new, longer"}, string(got), "crash at call %d", k)
		} else {
			require.Equal(t, "new, longer", string(got), "returned nil, then a crash")
		}
	}
}
