package pagecache

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A file just written and synced is in the cache; Drop gives it back.
func TestDropAndResident(t *testing.T) {
	dir := t.TempDir()
	if !Droppable(dir) {
		t.Skip("TMPDIR is on tmpfs, where a file's cached pages are the file")
	}
	path := filepath.Join(dir, "f")
	ps := os.Getpagesize()
	require.NoError(t, os.WriteFile(path, make([]byte, 16*ps), 0o644))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Sync())
	n, err := Resident(path)
	require.NoError(t, err)
	require.Equal(t, 16, n)

	Drop(f)
	n, err = Resident(path)
	require.NoError(t, err)
	require.Zero(t, n)
}
