package volume

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseLongDuration(t *testing.T) {
	good := map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "1d12h": 36 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute, "0": 0, " 2d ": 48 * time.Hour,
	}
	for in, want := range good {
		if got, err := ParseLongDuration(in); err != nil || got != want {
			t.Errorf("ParseLongDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1x", "1d-2h", "3dd", "-5m"} {
		if got, err := ParseLongDuration(in); err == nil {
			t.Errorf("ParseLongDuration(%q) = %s, want an error", in, got)
		}
	}
}

func TestInitArchiveRetention(t *testing.T) {
	dir := t.TempDir() + "/vol"
	s, err := Init(dir, InitOptions{Archive: "s3://b/p", ArchiveWindow: 30 * 24 * time.Hour, ArchiveBaseEveryBytes: 256 << 20, ArchiveBaseEvery: 6 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReadSettings(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, d := r.ArchiveBaseInterval()
	if r.ArchiveWindowDuration() != 30*24*time.Hour || n != 256<<20 || d != 6*time.Hour || s.ArchiveWindow != r.ArchiveWindow {
		t.Errorf("settings read back: window %s, base every %d bytes or %s", r.ArchiveWindowDuration(), n, d)
	}
	var none Settings
	if n, d := none.ArchiveBaseInterval(); none.ArchiveWindowDuration() != 0 || n != DefaultArchiveBaseEveryBytes || d != DefaultArchiveBaseEvery {
		t.Errorf("defaults: window %s, base every %d bytes or %s", none.ArchiveWindowDuration(), n, d)
	}
	for _, o := range []InitOptions{{ArchiveWindow: time.Millisecond}, {ArchiveBaseEveryBytes: 100}, {ArchiveBaseEvery: -time.Hour}} {
		if _, err := Init(t.TempDir()+"/bad", o); err == nil {
			t.Errorf("Init(%+v) accepted a bad archive retention", o)
		}
	}
}

// config --archive-window / --archive-base-every: UpdateArchive changes the
// archive's retention of an existing volume, checks it as init does, and
// leaves what it was not given as it was.
func TestUpdateArchiveRetention(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	_, err := Init(dir, InitOptions{Archive: "s3://b/p", ArchiveBaseEvery: 6 * time.Hour})
	require.NoError(t, err)
	w, n := 30*24*time.Hour, int64(2<<30)
	s, err := UpdateArchive(dir, ArchiveChange{ArchiveWindow: &w, ArchiveBaseEveryBytes: &n})
	require.NoError(t, err)
	require.Equal(t, w, s.ArchiveWindowDuration())
	gotN, gotD := s.ArchiveBaseInterval()
	require.Equal(t, n, gotN)
	require.Equal(t, 6*time.Hour, gotD, "not given, kept")

	before, err := os.ReadFile(filepath.Join(dir, SettingsFile))
	require.NoError(t, err)
	bad := time.Millisecond
	_, err = UpdateArchive(dir, ArchiveChange{ArchiveWindow: &bad})
	require.ErrorIs(t, err, ErrSettings)
	after, err := os.ReadFile(filepath.Join(dir, SettingsFile))
	require.NoError(t, err)
	require.Equal(t, before, after, "a refused change writes nothing")

	zero := time.Duration(0)
	s, err = UpdateArchive(dir, ArchiveChange{ArchiveWindow: &zero})
	require.NoError(t, err)
	require.Zero(t, s.ArchiveWindowDuration(), "0 keeps everything again")
}
