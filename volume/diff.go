package volume

import (
	"bytes"
	"fmt"
	"sort"
	"syscall"
	"time"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
)

// Diff says which files differ between state(From) and state(To): what a
// rewind from one to the other would change, file by file. It is computed
// from metadata alone (both states are rebuilt the way a rewind rebuilds
// them); no page is read.
//
// Inode numbers are never reused (fsstate.InoOf), so an inode is the same
// file in both states: one only in To was created, one only in From was
// removed, and one in both whose name or directory changed was renamed. A
// file's content is compared by the log location of each of its pages, so a
// page rewritten with the same bytes counts as changed.
type Diff struct {
	From     lsn.LSN      `json:"from_lsn"`
	FromTime time.Time    `json:"from_time"`
	To       lsn.LSN      `json:"to_lsn"`
	ToTime   time.Time    `json:"to_time"`
	Created  int          `json:"created"`
	Removed  int          `json:"removed"`
	Renamed  int          `json:"renamed"`
	Changed  int          `json:"changed"`
	Bytes    int64        `json:"bytes_changed"`
	Files    []FileChange `json:"files"`
}

// The kinds of FileChange.
const (
	ChangeCreated = "created"
	ChangeRemoved = "removed"
	ChangeRenamed = "renamed" // possibly changed as well: see What
	ChangeChanged = "changed"
)

// FileChange is one file, directory or symlink that differs.
type FileChange struct {
	Change  string `json:"change"`             // created, removed, renamed or changed
	Path    string `json:"path"`               // in To; in From for a removed file
	OldPath string `json:"old_path,omitempty"` // renamed: the path in From
	Ino     uint64 `json:"ino"`
	Type    string `json:"type"` // file, dir, symlink, fifo, socket, char, block
	OldSize uint64 `json:"old_size"`
	Size    uint64 `json:"size"`
	// Bytes is how many bytes of the file differ, in whole pages (cut at
	// the file's end): pages written in between, plus what a size change
	// added or cut. A created file counts its size, a removed one its old
	// size.
	Bytes int64 `json:"bytes_changed"`
	// What changed besides the name: data, size, mode, owner, xattrs,
	// links (a hard link added or removed), target.
	What []string `json:"what,omitempty"`
}

// Diff resolves both targets on the current timeline and compares the
// states they name.
func (v *Volume) Diff(from, to lsn.Target) (Diff, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	fl, err := v.hist.Resolve(from, v.st.Head, v.now())
	if err != nil {
		return Diff{}, fmt.Errorf("--from: %w", err)
	}
	tl, err := v.hist.Resolve(to, v.st.Head, v.now())
	if err != nil {
		return Diff{}, fmt.Errorf("--to: %w", err)
	}
	return v.diff(fl, tl)
}

// DiffLSN compares state(from) with state(to).
func (v *Volume) DiffLSN(from, to lsn.LSN) (Diff, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.diff(from, to)
}

// diff builds both states; the caller holds v.mu for reading.
func (v *Volume) diff(from, to lsn.LSN) (Diff, error) {
	a, err := v.hist.Build(from)
	if err != nil {
		return Diff{}, fmt.Errorf("rebuild state(%d): %w", from, err)
	}
	b, err := v.hist.Build(to)
	if err != nil {
		return Diff{}, fmt.Errorf("rebuild state(%d): %w", to, err)
	}
	d := diffStates(a, b)
	d.From, d.To = from, to
	d.FromTime, d.ToTime = v.timeOf(from), v.timeOf(to)
	return d, nil
}

// timeOf is the time of the record at l (the base's: the volume's creation
// for 0, or the last record folded into the base image).
func (v *Volume) timeOf(l lsn.LSN) time.Time {
	if e, ok := v.hist.Entry(l); ok {
		return time.Unix(0, e.Time).UTC()
	}
	return time.Unix(0, v.hist.BaseTime()).UTC()
}

// link is one name of an inode: the directory holding it and the name.
type link struct {
	parent uint64
	name   string
	path   string
}

// names walks the tree from the root and returns every reachable inode's
// names, each inode's sorted by path. Inodes no directory names (unlinked
// while open) are not in it: they are gone for anyone who looks.
func names(s *fsstate.State) map[uint64][]link {
	out := map[uint64][]link{}
	var walk func(dir *fsstate.Inode, path string)
	seen := map[uint64]bool{fsstate.RootIno: true}
	walk = func(dir *fsstate.Inode, path string) {
		for _, name := range dir.SortedEntries() {
			ino := dir.Entries[name]
			p := path + "/" + name
			out[ino] = append(out[ino], link{parent: dir.Ino, name: name, path: p})
			if n := s.Inodes[ino]; n != nil && n.IsDir() && !seen[ino] {
				seen[ino] = true
				walk(n, p)
			}
		}
	}
	if root := s.Inodes[fsstate.RootIno]; root != nil {
		walk(root, "")
	}
	for _, ls := range out {
		sort.Slice(ls, func(i, j int) bool { return ls[i].path < ls[j].path })
	}
	return out
}

// diffStates compares two states inode by inode.
func diffStates(a, b *fsstate.State) Diff {
	na, nb := names(a), names(b)
	var d Diff
	add := func(c FileChange) {
		switch c.Change {
		case ChangeCreated:
			d.Created++
		case ChangeRemoved:
			d.Removed++
		case ChangeRenamed:
			d.Renamed++
		case ChangeChanged:
			d.Changed++
		}
		d.Bytes += c.Bytes
		d.Files = append(d.Files, c)
	}
	// The root directory has no name; it can only change in place.
	for ino, lb := range nb {
		n := b.Inodes[ino]
		la, ok := na[ino]
		if !ok {
			c := FileChange{Change: ChangeCreated, Path: lb[0].path, Ino: ino, Type: typeName(n.Mode), Size: n.Size}
			if n.IsRegular() {
				c.Bytes = int64(n.Size)
			}
			add(c)
			continue
		}
		o := a.Inodes[ino]
		c := FileChange{Path: lb[0].path, Ino: ino, Type: typeName(n.Mode), OldSize: o.Size, Size: n.Size}
		c.What, c.Bytes = compareInodes(o, n, a.PageSize)
		if la[0].parent != lb[0].parent || la[0].name != lb[0].name {
			c.Change, c.OldPath = ChangeRenamed, la[0].path
		} else if !sameLinks(la, lb) {
			c.What = append(c.What, "links")
		}
		if c.Change == "" && len(c.What) > 0 {
			c.Change = ChangeChanged
		}
		if c.Change != "" {
			add(c)
		}
	}
	for ino, la := range na {
		if _, ok := nb[ino]; ok {
			continue
		}
		o := a.Inodes[ino]
		c := FileChange{Change: ChangeRemoved, Path: la[0].path, Ino: ino, Type: typeName(o.Mode), OldSize: o.Size}
		if o.IsRegular() {
			c.Bytes = int64(o.Size)
		}
		add(c)
	}
	if ra, rb := a.Inodes[fsstate.RootIno], b.Inodes[fsstate.RootIno]; ra != nil && rb != nil {
		if what, _ := compareInodes(ra, rb, a.PageSize); len(what) > 0 {
			add(FileChange{Change: ChangeChanged, Path: "/", Ino: fsstate.RootIno, Type: "dir", What: what})
		}
	}
	sort.Slice(d.Files, func(i, j int) bool {
		if d.Files[i].Path != d.Files[j].Path {
			return d.Files[i].Path < d.Files[j].Path
		}
		return d.Files[i].Ino < d.Files[j].Ino
	})
	if d.Files == nil {
		d.Files = []FileChange{}
	}
	return d
}

func sameLinks(a, b []link) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].parent != b[i].parent || a[i].name != b[i].name {
			return false
		}
	}
	return true
}

// compareInodes says what differs between two versions of one inode other
// than its names, and how many bytes of its content differ. Times are not
// compared: every change touches them, and a directory's change shows as
// the changes of its entries.
func compareInodes(o, n *fsstate.Inode, pageSize int) ([]string, int64) {
	var what []string
	var changed int64
	if n.IsRegular() && o.IsRegular() {
		var pages bool
		changed, pages = changedBytes(o, n, pageSize)
		if pages {
			what = append(what, "data")
		}
		if o.Size != n.Size {
			what = append(what, "size")
		}
	}
	if o.Mode != n.Mode {
		what = append(what, "mode")
	}
	if o.UID != n.UID || o.GID != n.GID {
		what = append(what, "owner")
	}
	if !sameXattrs(o.Xattrs, n.Xattrs) {
		what = append(what, "xattrs")
	}
	if o.Target != n.Target {
		what = append(what, "target")
	}
	return what, changed
}

// changedBytes counts the bytes of the pages whose versions differ, cut at
// the larger of the two sizes, plus what a size change added or cut off
// where neither side has a page written. It also says whether any page
// differs.
func changedBytes(o, n *fsstate.Inode, pageSize int) (int64, bool) {
	ps := uint64(pageSize)
	lo, hi := min(o.Size, n.Size), max(o.Size, n.Size)
	var total uint64
	pages := false
	for p := uint64(0); p*ps < hi; p++ {
		start, end := p*ps, min((p+1)*ps, hi)
		switch {
		case o.Pages.Get(p) != n.Pages.Get(p):
			total += end - start
			pages = true
		case end > lo:
			total += end - max(start, lo)
		}
	}
	return int64(total), pages
}

func sameXattrs(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !bytes.Equal(va, vb) {
			return false
		}
	}
	return true
}

func typeName(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "file"
	case syscall.S_IFDIR:
		return "dir"
	case syscall.S_IFLNK:
		return "symlink"
	case syscall.S_IFIFO:
		return "fifo"
	case syscall.S_IFSOCK:
		return "socket"
	case syscall.S_IFCHR:
		return "char"
	case syscall.S_IFBLK:
		return "block"
	}
	return "unknown"
}
