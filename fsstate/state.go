// Package fsstate holds a volume's file system state: the inode table, the
// directories, and for every regular file the location in the log of the
// newest version of each of its pages. It is pure: it does no I/O. The state
// changes only by applying records, one at a time, in LSN order, so that
// state(L) is the same every time it is rebuilt (invariant 3).
//
// Inode numbers are derived from the LSN of the record that created the
// inode (InoOf), so a number is never reused: not after an unlink, and not on
// another timeline after a rewind. That lets the FUSE layer hand inode numbers
// to the kernel as node IDs without a translation table.
package fsstate

import (
	"sort"
	"syscall"

	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// RootIno is the root directory's inode number, as FUSE requires.
const RootIno uint64 = 1

// MaxNameLen is the longest name a directory entry may have, in bytes.
const MaxNameLen = 255

// InoOf returns the inode number of the inode created by the record at l.
func InoOf(l lsn.LSN) uint64 { return uint64(l) + 1 }

// Inode is one file, directory, symlink or special file.
type Inode struct {
	Ino   uint64
	Mode  uint32 // file type and permission bits, as in stat(2)
	UID   uint32
	GID   uint32
	Rdev  uint32
	Nlink uint32
	Size  uint64
	Atime int64 // unix nanoseconds
	Mtime int64
	Ctime int64

	Target  string            // symlinks
	Entries map[string]uint64 // directories: name → inode
	Parent  uint64            // directories: the parent directory
	Xattrs  map[string][]byte
	Pages   PageTable // regular files: pages written since the base image

	// BaseSize is how many bytes of the file's page file in the base image
	// are still its content where Pages has no entry: the file's size at
	// the base LSN, lowered by every truncation since. Past it, a page
	// Pages does not name is a hole. Zero for files made after the base.
	BaseSize uint64
}

// IsDir and friends test the file type.
func (n *Inode) IsDir() bool     { return n.Mode&syscall.S_IFMT == syscall.S_IFDIR }
func (n *Inode) IsRegular() bool { return n.Mode&syscall.S_IFMT == syscall.S_IFREG }
func (n *Inode) IsSymlink() bool { return n.Mode&syscall.S_IFMT == syscall.S_IFLNK }

// State is the whole file system at one LSN.
type State struct {
	PageSize int
	Head     lsn.LSN // the last record applied
	HeadTime int64
	Inodes   map[uint64]*Inode
}

// Root describes state(0): the empty root directory made by `init`.
type Root struct {
	Mode uint32 // permission bits
	UID  uint32
	GID  uint32
	Time int64 // unix nanoseconds
}

// New returns state(0): an empty root directory.
func New(pageSize int, root Root) *State {
	s := &State{PageSize: pageSize, Inodes: make(map[uint64]*Inode), HeadTime: root.Time}
	s.Inodes[RootIno] = &Inode{
		Ino: RootIno, Mode: syscall.S_IFDIR | root.Mode&0o7777, UID: root.UID, GID: root.GID,
		Nlink: 2, Atime: root.Time, Mtime: root.Time, Ctime: root.Time,
		Entries: map[string]uint64{}, Parent: RootIno,
	}
	return s
}

// Rec is a record as the state sees it: its header fields, its decoded
// metadata and where its data part is.
type Rec struct {
	LSN  lsn.LSN
	Time int64
	Op   *Op
	Data pagelog.Location
}

// Check reports, as an errno, whether applying op now would fail, without
// changing anything. The volume calls it before a record is appended, so that
// the log only ever holds records that apply.
func (s *State) Check(op *Op) error {
	return s.apply(&Rec{Op: op}, true)
}

// Apply applies one record. On a valid log it cannot fail; an error means the
// record contradicts the state (a corrupt or foreign log), and nothing changed.
func (s *State) Apply(r *Rec) error {
	if err := s.apply(r, false); err != nil {
		return err
	}
	s.Head = r.LSN
	s.HeadTime = r.Time
	return nil
}

func (s *State) apply(r *Rec, dry bool) error {
	op := r.Op
	t := r.Time
	switch op.Type {
	case OpCreate, OpSymlink:
		dir, err := s.dirForCreate(op.Parent, op.Name)
		if err != nil || dry {
			return err
		}
		n := &Inode{Ino: InoOf(r.LSN), UID: op.UID, GID: op.GID, Nlink: 1, Atime: t, Mtime: t, Ctime: t}
		if op.Type == OpSymlink {
			n.Mode = syscall.S_IFLNK | 0o777
			n.Target = op.Target
			n.Size = uint64(len(op.Target))
		} else {
			n.Mode = op.Mode
			n.Rdev = op.Rdev
		}
		if dir.Mode&syscall.S_ISGID != 0 {
			n.GID = dir.GID
			if n.IsDir() {
				n.Mode |= syscall.S_ISGID
			}
		}
		if n.IsDir() {
			n.Nlink = 2
			n.Entries = map[string]uint64{}
			n.Parent = dir.Ino
			dir.Nlink++
		}
		s.Inodes[n.Ino] = n
		dir.Entries[op.Name] = n.Ino
		dir.Mtime, dir.Ctime = t, t
	case OpLink:
		n, err := s.inode(op.Ino)
		if err != nil {
			return err
		}
		if n.IsDir() {
			return syscall.EPERM
		}
		if n.Nlink == 0 {
			return syscall.ENOENT
		}
		dir, err := s.dirForCreate(op.NewParent, op.NewName)
		if err != nil || dry {
			return err
		}
		n.Nlink++
		n.Ctime = t
		dir.Entries[op.NewName] = n.Ino
		dir.Mtime, dir.Ctime = t, t
	case OpUnlink:
		dir, n, err := s.entry(op.Parent, op.Name)
		if err != nil {
			return err
		}
		if n.IsDir() && len(n.Entries) != 0 {
			return syscall.ENOTEMPTY
		}
		if dry {
			return nil
		}
		s.removeEntry(dir, op.Name, n, t)
	case OpRename:
		return s.rename(op, t, dry)
	case OpSetAttr:
		return s.setAttr(r, dry)
	case OpWrite:
		n, err := s.regular(op.Ino)
		if err != nil || dry {
			return err
		}
		ps := uint32(s.PageSize)
		for i := uint32(0); i < op.NPages; i++ {
			n.Pages.Set(op.FirstPage+uint64(i), PageRef{Loc: r.Data, Inner: i * ps})
		}
		if end := op.Off + uint64(op.Len); end > n.Size {
			n.Size = end
		}
		n.Mtime, n.Ctime = t, t
	case OpAllocate:
		n, err := s.regular(op.Ino)
		if err != nil || dry {
			return err
		}
		if op.Size > n.Size {
			n.Size = op.Size
			n.Mtime = t
		}
		n.Ctime = t
	case OpSetXattr:
		n, err := s.inode(op.Ino)
		if err != nil {
			return err
		}
		_, exists := n.Xattrs[op.Name]
		if op.Flags&xattrCreate != 0 && exists {
			return syscall.EEXIST
		}
		if op.Flags&xattrReplace != 0 && !exists {
			return syscall.ENODATA
		}
		if dry {
			return nil
		}
		if n.Xattrs == nil {
			n.Xattrs = map[string][]byte{}
		}
		n.Xattrs[op.Name] = op.Value
		n.Ctime = t
	case OpRemoveXattr:
		n, err := s.inode(op.Ino)
		if err != nil {
			return err
		}
		if _, ok := n.Xattrs[op.Name]; !ok {
			return syscall.ENODATA
		}
		if dry {
			return nil
		}
		delete(n.Xattrs, op.Name)
		n.Ctime = t
	case OpPurge:
		n, err := s.inode(op.Ino)
		if err != nil {
			return err
		}
		if n.Nlink != 0 {
			return syscall.EBUSY
		}
		if !dry {
			delete(s.Inodes, op.Ino)
		}
	case OpSync, OpMark:
		// Markers: the state is unchanged.
	case OpRewind:
		// state(rewind) = state(target) is built by package backtrack; a
		// rewind record never reaches Apply.
		return syscall.EINVAL
	default:
		return syscall.EINVAL
	}
	return nil
}

// xattr flags, as in setxattr(2).
const (
	xattrCreate  = 1
	xattrReplace = 2
)

func (s *State) inode(ino uint64) (*Inode, error) {
	n := s.Inodes[ino]
	if n == nil {
		return nil, syscall.ENOENT
	}
	return n, nil
}

func (s *State) regular(ino uint64) (*Inode, error) {
	n, err := s.inode(ino)
	if err != nil {
		return nil, err
	}
	if n.IsDir() {
		return nil, syscall.EISDIR
	}
	if !n.IsRegular() {
		return nil, syscall.EINVAL
	}
	return n, nil
}

// dir returns a live directory (one that has not been removed).
func (s *State) dir(ino uint64) (*Inode, error) {
	n, err := s.inode(ino)
	if err != nil {
		return nil, err
	}
	if !n.IsDir() {
		return nil, syscall.ENOTDIR
	}
	if n.Nlink == 0 {
		return nil, syscall.ENOENT
	}
	return n, nil
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." {
		return syscall.EINVAL
	}
	if len(name) > MaxNameLen {
		return syscall.ENAMETOOLONG
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}

func (s *State) dirForCreate(parent uint64, name string) (*Inode, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	dir, err := s.dir(parent)
	if err != nil {
		return nil, err
	}
	if _, ok := dir.Entries[name]; ok {
		return nil, syscall.EEXIST
	}
	return dir, nil
}

func (s *State) entry(parent uint64, name string) (*Inode, *Inode, error) {
	dir, err := s.dir(parent)
	if err != nil {
		return nil, nil, err
	}
	ino, ok := dir.Entries[name]
	if !ok {
		return nil, nil, syscall.ENOENT
	}
	return dir, s.Inodes[ino], nil
}

// removeEntry drops name from dir. An inode whose last link goes stays in
// the table with Nlink 0 (an open file can still be read and written) until
// an OpPurge record drops it; a removed directory likewise.
func (s *State) removeEntry(dir *Inode, name string, n *Inode, t int64) {
	delete(dir.Entries, name)
	dir.Mtime, dir.Ctime = t, t
	n.Ctime = t
	if n.IsDir() {
		dir.Nlink--
		n.Nlink = 0
		return
	}
	n.Nlink--
}

func (s *State) rename(op *Op, t int64, dry bool) error {
	if err := checkName(op.NewName); err != nil {
		return err
	}
	odir, n, err := s.entry(op.Parent, op.Name)
	if err != nil {
		return err
	}
	ndir, err := s.dir(op.NewParent)
	if err != nil {
		return err
	}
	if n.IsDir() && s.isAncestor(n.Ino, ndir.Ino) {
		return syscall.EINVAL
	}
	victimIno, exists := ndir.Entries[op.NewName]
	var victim *Inode
	if exists {
		victim = s.Inodes[victimIno]
	}
	switch {
	case op.Flags&RenameExchange != 0:
		if !exists {
			return syscall.ENOENT
		}
		if victim.IsDir() && s.isAncestor(victim.Ino, odir.Ino) {
			return syscall.EINVAL
		}
		if dry {
			return nil
		}
		odir.Entries[op.Name] = victim.Ino
		ndir.Entries[op.NewName] = n.Ino
		s.reparent(n, odir, ndir)
		s.reparent(victim, ndir, odir)
		n.Ctime, victim.Ctime = t, t
		odir.Mtime, odir.Ctime, ndir.Mtime, ndir.Ctime = t, t, t, t
		return nil
	case exists && op.Flags&RenameNoReplace != 0:
		return syscall.EEXIST
	case exists && victim.Ino == n.Ino:
		// Both names are links to one inode: rename does nothing (POSIX).
		return nil
	case exists && n.IsDir() && !victim.IsDir():
		return syscall.ENOTDIR
	case exists && !n.IsDir() && victim.IsDir():
		return syscall.EISDIR
	case exists && victim.IsDir() && len(victim.Entries) != 0:
		return syscall.ENOTEMPTY
	}
	if dry {
		return nil
	}
	if exists {
		s.removeEntry(ndir, op.NewName, victim, t)
	}
	delete(odir.Entries, op.Name)
	ndir.Entries[op.NewName] = n.Ino
	s.reparent(n, odir, ndir)
	n.Ctime = t
	odir.Mtime, odir.Ctime, ndir.Mtime, ndir.Ctime = t, t, t, t
	return nil
}

// reparent moves directory n from odir to ndir, keeping link counts right.
func (s *State) reparent(n, odir, ndir *Inode) {
	if !n.IsDir() || odir == ndir {
		return
	}
	n.Parent = ndir.Ino
	odir.Nlink--
	ndir.Nlink++
}

// isAncestor reports whether a is d or one of d's ancestors.
func (s *State) isAncestor(a, d uint64) bool {
	for {
		if d == a {
			return true
		}
		if d == RootIno {
			return false
		}
		n := s.Inodes[d]
		if n == nil {
			return false
		}
		d = n.Parent
	}
}

func (s *State) setAttr(r *Rec, dry bool) error {
	op := r.Op
	n, err := s.inode(op.Ino)
	if err != nil {
		return err
	}
	if op.Valid&SetSize != 0 {
		if n.IsDir() {
			return syscall.EISDIR
		}
		if !n.IsRegular() {
			return syscall.EINVAL
		}
	}
	if dry {
		return nil
	}
	t := r.Time
	if op.Valid&SetMode != 0 {
		n.Mode = n.Mode&syscall.S_IFMT | op.Mode&0o7777
	}
	if op.Valid&SetUID != 0 {
		n.UID = op.UID
	}
	if op.Valid&SetGID != 0 {
		n.GID = op.GID
	}
	if op.Valid&SetSize != 0 {
		s.truncate(n, op.Size, r.Data)
		n.Mtime = t
	}
	switch {
	case op.Valid&SetAtimeNow != 0:
		n.Atime = t
	case op.Valid&SetAtime != 0:
		n.Atime = op.Atime
	}
	switch {
	case op.Valid&SetMtimeNow != 0:
		n.Mtime = t
	case op.Valid&SetMtime != 0:
		n.Mtime = op.Mtime
	}
	n.Ctime = t
	return nil
}

// truncate sets n's size. Pages wholly past the new end are dropped; a page
// the new end cuts through is replaced by the record's data part, which holds
// that page with its tail zeroed (see OpSetAttr).
func (s *State) truncate(n *Inode, size uint64, tail pagelog.Location) {
	ps := uint64(s.PageSize)
	n.BaseSize = min(n.BaseSize, size)
	if size < n.Size {
		n.Pages.TruncatePages((size + ps - 1) / ps)
		if size%ps != 0 {
			if tail.Len != 0 {
				n.Pages.Set(size/ps, PageRef{Loc: tail})
			} else {
				n.Pages.Clear(size / ps)
			}
		}
	}
	n.Size = size
}

// SortedEntries returns a directory's entries sorted by name, the order
// readdir hands them out in.
func (n *Inode) SortedEntries() []string {
	names := make([]string, 0, len(n.Entries))
	for name := range n.Entries {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Orphans returns the inodes that no directory names any more (Nlink 0),
// waiting for an OpPurge.
func (s *State) Orphans() []uint64 {
	var out []uint64
	for ino, n := range s.Inodes {
		if n.Nlink == 0 {
			out = append(out, ino)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// PathOf returns a path for ino from the root ("/a/b"), or "" if the inode
// is not reachable. For hard links it names one of the links.
func (s *State) PathOf(ino uint64) string {
	if ino == RootIno {
		return "/"
	}
	n := s.Inodes[ino]
	if n == nil {
		return ""
	}
	if n.IsDir() {
		p := s.Inodes[n.Parent]
		if p == nil {
			return ""
		}
		for name, c := range p.Entries {
			if c == ino {
				return joinPath(s.PathOf(p.Ino), name)
			}
		}
		return ""
	}
	// A file does not know its parents; search. Used only by `log`, which
	// resolves paths as it replays and so rarely gets here.
	for _, d := range s.Inodes {
		if !d.IsDir() {
			continue
		}
		for name, c := range d.Entries {
			if c == ino {
				return joinPath(s.PathOf(d.Ino), name)
			}
		}
	}
	return ""
}

func joinPath(dir, name string) string {
	if dir == "" {
		return ""
	}
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// Attr is a copy of an inode's attributes, safe to use after the state's
// lock is released.
type Attr struct {
	Ino    uint64
	Size   uint64
	Blocks uint64 // 512-byte blocks the file's written pages take
	Mode   uint32
	UID    uint32
	GID    uint32
	Rdev   uint32
	Nlink  uint32
	Atime  int64
	Mtime  int64
	Ctime  int64
}

// Attr returns n's attributes.
func (s *State) Attr(n *Inode) Attr {
	a := Attr{Ino: n.Ino, Size: n.Size, Mode: n.Mode, UID: n.UID, GID: n.GID, Rdev: n.Rdev,
		Nlink: n.Nlink, Atime: n.Atime, Mtime: n.Mtime, Ctime: n.Ctime}
	if n.IsRegular() {
		// Pages that come from the base image are counted as if the file
		// had no holes below BaseSize: the base image does not say.
		ps := uint64(s.PageSize)
		a.Blocks = (uint64(n.Pages.Count())*ps + (n.BaseSize+ps-1)/ps*ps) / 512
	}
	return a
}
