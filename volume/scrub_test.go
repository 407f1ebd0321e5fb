package volume

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/pagelog"
)

// sealedSegments returns the paths of the volume's sealed segment files,
// oldest first (all but the last, which is being appended to).
func sealedSegments(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, LogDir, "*.seg"))
	require.NoError(t, err)
	sort.Strings(segs)
	require.NotEmpty(t, segs)
	return segs[:len(segs)-1]
}

// sealedVolume makes a volume of 64 KiB segments holding one file of the
// given number of 8 KiB pages, synced, and returns it with the paths of
// its sealed segments. Cleanup closes it.
func sealedVolume(t *testing.T, pages int) (*Volume, string, *fakeClock, []string) {
	t.Helper()
	v, dir, clock := clockVolume(t, InitOptions{Window: time.Hour, SegmentSize: 1 << 16}, true)
	t.Cleanup(func() { v.Close() })
	a, err := v.Create(fsstate.RootIno, "db", 0o100600, 0, 0, 0, false)
	require.NoError(t, err)
	page := make([]byte, 8192)
	for i := range pages {
		page[0] = byte(i)
		_, err := v.Write(a.Ino, int64(i)*int64(len(page)), page)
		require.NoError(t, err)
	}
	require.NoError(t, v.Sync())
	return v, dir, clock, sealedSegments(t, dir)
}

// A sealed segment found whole is not read again for RecheckAfter; after
// that, or when the record of checks is lost, it is, and damage that
// appeared meanwhile is found.
func TestScrubRemembersCheckedSegments(t *testing.T) {
	v, dir, clock, sealed := sealedVolume(t, 80)
	require.GreaterOrEqual(t, len(sealed), 5)

	read, trusted, err := v.Scrub(nil)
	require.NoError(t, err)
	require.Equal(t, len(sealed), read)
	require.Zero(t, trusted)
	got, err := readChecked(filepath.Join(dir, CheckedFile))
	require.NoError(t, err)
	require.Len(t, got.Segments, len(sealed))
	for _, p := range sealed {
		st, err := os.Stat(p)
		require.NoError(t, err)
		c, ok := got.Segments[filepath.Base(p)]
		require.True(t, ok, "%s is in %s", p, CheckedFile)
		require.Equal(t, st.Size(), c.Size)
		require.True(t, c.Checked.Equal(clock.Now()))
	}

	// Rot in the middle of a sealed segment, its size unchanged.
	bad := sealed[len(sealed)/2]
	b, err := os.ReadFile(bad)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x10
	require.NoError(t, os.WriteFile(bad, b, 0o600))

	clock.Add(RecheckAfter - time.Minute)
	read, trusted, err = v.Scrub(nil)
	require.NoError(t, err, "checked less than RecheckAfter ago: trusted, not read")
	require.Zero(t, read)
	require.Equal(t, len(sealed), trusted)

	clock.Add(time.Minute)
	_, _, err = v.Scrub(nil)
	require.ErrorIs(t, err, pagelog.ErrCorrupt, "checked RecheckAfter ago: read again")
	require.Contains(t, err.Error(), filepath.Base(bad))
	got, err = readChecked(filepath.Join(dir, CheckedFile))
	require.NoError(t, err)
	require.NotContains(t, got.Segments, filepath.Base(bad), "a damaged segment is never recorded as checked")
	require.True(t, got.Segments[filepath.Base(sealed[0])].Checked.Equal(clock.Now()), "the segments before it were read again")

	// A record of checks that cannot be read trusts nothing.
	got.Segments[filepath.Base(bad)] = checkedSeg{Size: int64(len(b)), Checked: clock.Now()}
	require.NoError(t, writeChecked(filepath.Join(dir, CheckedFile), got))
	_, _, err = v.Scrub(nil)
	require.NoError(t, err, "the record says it is whole")
	require.NoError(t, os.WriteFile(filepath.Join(dir, CheckedFile), []byte(`{"segments": {`), 0o600))
	_, _, err = v.Scrub(nil)
	require.ErrorIs(t, err, pagelog.ErrCorrupt)

	// Nor does a record whose size is not the segment's.
	got.Segments[filepath.Base(bad)] = checkedSeg{Size: int64(len(b)) - 8, Checked: clock.Now()}
	require.NoError(t, writeChecked(filepath.Join(dir, CheckedFile), got))
	_, _, err = v.Scrub(nil)
	require.ErrorIs(t, err, pagelog.ErrCorrupt)

	// Nor one checked in the future (the clock was set back).
	got.Segments[filepath.Base(bad)] = checkedSeg{Size: int64(len(b)), Checked: clock.Now().Add(time.Hour)}
	require.NoError(t, writeChecked(filepath.Join(dir, CheckedFile), got))
	_, _, err = v.Scrub(nil)
	require.ErrorIs(t, err, pagelog.ErrCorrupt)
}

// A check stopped halfway (an unmount) keeps the record of the segments it
// had not reached; a complete one drops those that are gone.
func TestScrubStoppedKeepsTheRecord(t *testing.T) {
	v, dir, clock, sealed := sealedVolume(t, 60)
	require.GreaterOrEqual(t, len(sealed), 4)
	_, _, err := v.Scrub(nil)
	require.NoError(t, err)

	// The first segment's check has expired, the others' have not. The
	// check reads the first, then is stopped (the clock closes stop when
	// Scrub asks it the time of that read).
	path := filepath.Join(dir, CheckedFile)
	rec, err := readChecked(path)
	require.NoError(t, err)
	first := filepath.Base(sealed[0])
	c := rec.Segments[first]
	c.Checked = clock.Now().Add(-RecheckAfter)
	rec.Segments[first] = c
	require.NoError(t, writeChecked(path, rec))
	stop := make(chan struct{})
	calls := 0
	v.now = func() time.Time {
		if calls++; calls == 2 {
			close(stop)
		}
		return clock.Now()
	}
	read, _, err := v.Scrub(stop)
	require.NoError(t, err)
	require.Equal(t, 1, read)
	got, err := readChecked(path)
	require.NoError(t, err)
	require.Len(t, got.Segments, len(sealed), "the segments not reached are still recorded")
	require.True(t, got.Segments[first].Checked.Equal(clock.Now()))

	// A segment the record names that the log no longer has is dropped
	// by the next complete check.
	v.now = clock.Now
	got.Segments["00000000000000ff.seg"] = checkedSeg{Size: 1, Checked: clock.Now()}
	require.NoError(t, writeChecked(path, got))
	_, trusted, err := v.Scrub(nil)
	require.NoError(t, err)
	require.Equal(t, len(sealed), trusted)
	got, err = readChecked(path)
	require.NoError(t, err)
	require.Len(t, got.Segments, len(sealed))
	require.NotContains(t, got.Segments, "00000000000000ff.seg")
}

// Status says checking while Scrub runs (from CheckPending on), and not
// before or after: scripts
// (bench.sh) wait for it before timing reads, which the check shares the
// disk with.
func TestStatusSaysWhileTheCheckRuns(t *testing.T) {
	v, _, clock, _ := sealedVolume(t, 20)
	require.False(t, v.Status().Checking)
	v.CheckPending() // as the daemon does before it serves
	require.True(t, v.Status().Checking)
	var during []bool
	asking := false
	v.now = func() time.Time {
		// Scrub asks the time when it starts and after each segment;
		// Status may ask it too.
		if !asking {
			asking = true
			during = append(during, v.Status().Checking)
			asking = false
		}
		return clock.Now()
	}
	read, _, err := v.Scrub(nil)
	v.now = clock.Now
	require.NoError(t, err)
	require.NotZero(t, read)
	require.NotEmpty(t, during)
	for i, c := range during {
		require.True(t, c, "status during the check (time asked %d) says it is not checking", i)
	}
	require.False(t, v.Status().Checking, "status after the check says it is checking")
}
