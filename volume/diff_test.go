package volume

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
)

// describe prints a diff one line per file, sorted, so that tests compare
// the whole of it at once.
func describe(d Diff) string {
	var b strings.Builder
	for _, f := range d.Files {
		fmt.Fprintf(&b, "%s %s", f.Change, f.Path)
		if f.OldPath != "" {
			fmt.Fprintf(&b, " from %s", f.OldPath)
		}
		fmt.Fprintf(&b, " %s %d->%d bytes=%d", f.Type, f.OldSize, f.Size, f.Bytes)
		if len(f.What) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(f.What, ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func at(l lsn.LSN) lsn.Target { return lsn.Target{Kind: lsn.TargetLSN, LSN: l} }

// TestDiffCreatedRemovedRenamedChanged: every kind of change between two
// states is named once, with the bytes that differ counted in pages, in
// both directions; a renamed directory does not make its entries renamed;
// the diff across a rewind compares states, not records.
func TestDiffCreatedRemovedRenamedChanged(t *testing.T) {
	v, _ := newTestVolume(t, InitOptions{PageSize: 4096})
	ps := 4096
	mk := func(parent uint64, name string, mode uint32) uint64 {
		t.Helper()
		a, err := v.Create(parent, name, mode, 0, 0, 0, false)
		require.NoError(t, err)
		return a.Ino
	}
	write := func(ino uint64, off int, n int, c byte) {
		t.Helper()
		_, err := v.Write(ino, int64(off), bytes.Repeat([]byte{c}, n))
		require.NoError(t, err)
	}
	db := mk(fsstate.RootIno, "db", syscall.S_IFREG|0o644)
	write(db, 0, 10*ps, 'a') // 10 pages
	gone := mk(fsstate.RootIno, "gone", syscall.S_IFREG|0o644)
	write(gone, 0, 5000, 'g')
	moved := mk(fsstate.RootIno, "moved", syscall.S_IFREG|0o644)
	write(moved, 0, 100, 'm')
	dir := mk(fsstate.RootIno, "dir", syscall.S_IFDIR|0o755)
	inDir := mk(dir, "inner", syscall.S_IFREG|0o644)
	write(inDir, 0, 10, 'i')
	cut := mk(fsstate.RootIno, "cut", syscall.S_IFREG|0o644)
	write(cut, 0, 3*ps, 'c')
	attrs := mk(fsstate.RootIno, "attrs", syscall.S_IFREG|0o644)
	same := mk(fsstate.RootIno, "same", syscall.S_IFREG|0o644)
	write(same, 0, 7, 's')
	require.NoError(t, v.Sync())
	from := v.Head()

	write(db, 2*ps+10, 100, 'b') // one page
	write(db, 5*ps, 2*ps, 'b')   // two more
	write(db, 10*ps, 1000, 'b')  // grows by 1000 bytes into a new page
	require.NoError(t, v.Unlink(fsstate.RootIno, "gone"))
	require.NoError(t, v.Rename(fsstate.RootIno, "moved", dir, "moved2", 0))
	require.NoError(t, v.Rename(fsstate.RootIno, "dir", fsstate.RootIno, "dir2", 0))
	_, err := v.SetAttr(cut, SetAttrIn{Valid: fsstate.SetSize, Size: uint64(ps + 100)})
	require.NoError(t, err)
	_, err = v.SetAttr(attrs, SetAttrIn{Valid: fsstate.SetMode, Mode: 0o600})
	require.NoError(t, err)
	require.NoError(t, v.SetXattr(attrs, "user.k", []byte("v"), 0))
	fresh := mk(fsstate.RootIno, "fresh", syscall.S_IFREG|0o644)
	write(fresh, 0, 3*ps+1, 'f')
	mk(fsstate.RootIno, "newdir", syscall.S_IFDIR|0o755)
	_, err = v.Link(same, fsstate.RootIno, "same-link")
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	to := v.Head()

	d, err := v.Diff(at(from), at(to))
	require.NoError(t, err)
	require.Equal(t, from, d.From)
	require.Equal(t, to, d.To)
	require.False(t, d.FromTime.After(d.ToTime))
	want := fmt.Sprintf(""+
		"changed /attrs file 0->0 bytes=0 [mode,xattrs]\n"+
		"changed /cut file %d->%d bytes=%d [data,size]\n"+
		"changed /db file %d->%d bytes=%d [data,size]\n"+
		"renamed /dir2 from /dir dir 0->0 bytes=0\n"+
		"renamed /dir2/moved2 from /moved file 100->100 bytes=0\n"+
		"created /fresh file 0->%d bytes=%d\n"+
		"removed /gone file 5000->0 bytes=5000\n"+
		"created /newdir dir 0->0 bytes=0\n"+
		"changed /same file 7->7 bytes=0 [links]\n",
		3*ps, ps+100, 2*ps, // cut: page 1 is replaced by the zeroed tail, page 2 dropped
		10*ps, 10*ps+1000, 3*ps+1000, // db: pages 2, 5, 6 and the new one (cut at the end)
		3*ps+1, 3*ps+1)
	require.Equal(t, want, describe(d))
	require.Equal(t, 2, d.Created)
	require.Equal(t, 1, d.Removed)
	require.Equal(t, 2, d.Renamed)
	require.Equal(t, 4, d.Changed)
	var sum int64
	for _, f := range d.Files {
		sum += f.Bytes
	}
	require.Equal(t, sum, d.Bytes)

	// Backwards: what a rewind from to to from would undo.
	back, err := v.DiffLSN(to, from)
	require.NoError(t, err)
	require.Equal(t, 2, back.Removed)
	require.Equal(t, 1, back.Created)
	require.Equal(t, 2, back.Renamed)
	require.Equal(t, d.Bytes, back.Bytes)
	require.Contains(t, describe(back), "renamed /moved from /dir2/moved2 file")
	require.Contains(t, describe(back), "created /gone file 0->5000 bytes=5000")

	// A state against itself, and across a rewind that returns to it.
	none, err := v.DiffLSN(to, to)
	require.NoError(t, err)
	require.Empty(t, none.Files)
	_, _, err = v.Rewind(from)
	require.NoError(t, err)
	again, err := v.DiffLSN(from, v.Head())
	require.NoError(t, err)
	require.Empty(t, again.Files, "state(rewind to %d) differs from state(%d):\n%s", from, from, describe(again))
	fwd, err := v.DiffLSN(v.Head(), to)
	require.NoError(t, err)
	require.Equal(t, describe(d), describe(fwd))
}

// TestDiffRewrittenPageCounts: a page rewritten with the same bytes is a
// change (refs are compared, data never read); a file extended without
// writing counts the zeros it gained.
func TestDiffRewrittenPageCounts(t *testing.T) {
	v, _ := newTestVolume(t, InitOptions{PageSize: 4096})
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o644, 0, 0, 0, false)
	require.NoError(t, err)
	_, err = v.Write(a.Ino, 0, bytes.Repeat([]byte{1}, 8192))
	require.NoError(t, err)
	from := v.Head()
	_, err = v.Write(a.Ino, 4096, bytes.Repeat([]byte{1}, 4096))
	require.NoError(t, err)
	_, err = v.SetAttr(a.Ino, SetAttrIn{Valid: fsstate.SetSize, Size: 20000})
	require.NoError(t, err)
	d, err := v.DiffLSN(from, v.Head())
	require.NoError(t, err)
	require.Equal(t, "changed /f file 8192->20000 bytes=15904 [data,size]\n", describe(d))
}

// TestDiffTargetsAndErrors: targets resolve like a rewind's, and one outside
// the window is refused naming the flag.
func TestDiffTargetsAndErrors(t *testing.T) {
	v, _ := newTestVolume(t, InitOptions{})
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o644, 0, 0, 0, false)
	require.NoError(t, err)
	_, err = v.Mark("empty-file", false)
	require.NoError(t, err)
	_, err = v.Write(a.Ino, 0, []byte("hello"))
	require.NoError(t, err)
	d, err := v.Diff(lsn.Target{Kind: lsn.TargetMark, Mark: "empty-file"}, at(v.Head()))
	require.NoError(t, err)
	require.Equal(t, "changed /f file 0->5 bytes=5 [data,size]\n", describe(d))
	_, err = v.Diff(at(1), at(v.Head()+10))
	require.ErrorContains(t, err, "--to:")
	require.ErrorContains(t, err, "the window holds")
	_, err = v.Diff(lsn.Target{Kind: lsn.TargetMark, Mark: "nope"}, at(1))
	require.ErrorContains(t, err, "--from:")
}

// TestBetweenFollowsTheTimeline: the records between two states are those
// on the way to the second, not the ones a rewind abandoned; a state on an
// abandoned timeline is refused.
func TestBetweenFollowsTheTimeline(t *testing.T) {
	v, _ := newTestVolume(t, InitOptions{})
	a, err := v.Create(fsstate.RootIno, "f", syscall.S_IFREG|0o644, 0, 0, 0, false)
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	good := v.Head()
	_, err = v.Write(a.Ino, 0, []byte("abandoned"))
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	abandoned := v.Head()
	_, _, err = v.Rewind(good)
	require.NoError(t, err)
	_, err = v.Write(a.Ino, 0, []byte("kept"))
	require.NoError(t, err)
	require.NoError(t, v.Sync())
	head := v.Head()

	recs, err := v.Between(good, head)
	require.NoError(t, err)
	var ops []string
	for _, r := range recs {
		require.Greater(t, r.LSN, abandoned, "a record of the abandoned timeline: %+v", r)
		ops = append(ops, r.Op+" "+r.Path)
	}
	require.Equal(t, []string{"write /f", "sync "}, ops)

	_, err = v.Between(abandoned, head)
	require.ErrorIs(t, err, ErrNotAncestor)
	none, err := v.Between(head, head)
	require.NoError(t, err)
	require.Empty(t, none)
}
