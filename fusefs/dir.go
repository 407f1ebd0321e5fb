package fusefs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rewindfs/rewindfs/fsstate"
)

// Lookup finds name in a directory.
func (fs *FS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	var a fsstate.Attr
	err := fs.v.View(func(s *fsstate.State) error {
		dir := s.Inodes[h.NodeId]
		if dir == nil {
			return syscall.ENOENT
		}
		if !dir.IsDir() {
			return syscall.ENOTDIR
		}
		if len(name) > fsstate.MaxNameLen {
			return syscall.ENAMETOOLONG
		}
		ino, ok := dir.Entries[name]
		if !ok {
			return syscall.ENOENT
		}
		a = s.Attr(s.Inodes[ino])
		return nil
	})
	if err != nil {
		return errno(err)
	}
	fs.entry(out, a)
	return fuse.OK
}

// Mknod makes a regular file, device, FIFO or socket.
func (fs *FS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	a, err := fs.v.Create(in.NodeId, name, in.Mode, in.Uid, in.Gid, in.Rdev, false)
	if err != nil {
		return errno(err)
	}
	fs.entry(out, a)
	return fuse.OK
}

// Mkdir makes a directory.
func (fs *FS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	a, err := fs.v.Create(in.NodeId, name, syscall.S_IFDIR|in.Mode&0o7777, in.Uid, in.Gid, 0, false)
	if err != nil {
		return errno(err)
	}
	fs.entry(out, a)
	return fuse.OK
}

// Symlink makes a symbolic link.
func (fs *FS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	a, err := fs.v.Symlink(h.NodeId, name, target, h.Uid, h.Gid)
	if err != nil {
		return errno(err)
	}
	fs.entry(out, a)
	return fuse.OK
}

// Readlink returns a symlink's target.
func (fs *FS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	var target string
	err := fs.v.View(func(s *fsstate.State) error {
		n := s.Inodes[h.NodeId]
		if n == nil {
			return syscall.ENOENT
		}
		if !n.IsSymlink() {
			return syscall.EINVAL
		}
		target = n.Target
		return nil
	})
	return []byte(target), errno(err)
}

// Link adds a hard link.
func (fs *FS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	a, err := fs.v.Link(in.Oldnodeid, in.NodeId, name)
	if err != nil {
		return errno(err)
	}
	fs.entry(out, a)
	return fuse.OK
}

// Unlink removes a name that is not a directory.
func (fs *FS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return errno(fs.v.Unlink(h.NodeId, name))
}

// Rmdir removes an empty directory.
func (fs *FS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return errno(fs.v.Rmdir(h.NodeId, name))
}

// Rename moves a name, with renameat2's RENAME_NOREPLACE and RENAME_EXCHANGE.
func (fs *FS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, name, newName string) fuse.Status {
	if in.Flags&^(fsstate.RenameNoReplace|fsstate.RenameExchange) != 0 {
		return fuse.Status(syscall.EINVAL)
	}
	return errno(fs.v.Rename(in.NodeId, name, in.Newdir, newName, in.Flags))
}

// OpenDir takes a sorted copy of the directory's entries; readdir hands
// them out by index, so offsets stay valid while the directory changes.
func (fs *FS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if err := fs.v.OpenDir(in.NodeId); err != nil {
		return errno(err)
	}
	var ents []dirEntry
	err := fs.v.View(func(s *fsstate.State) error {
		dir := s.Inodes[in.NodeId]
		if dir == nil {
			return syscall.ENOENT
		}
		if !dir.IsDir() {
			return syscall.ENOTDIR
		}
		ents = make([]dirEntry, 0, len(dir.Entries)+2)
		if dir.Nlink == 0 {
			// Removed while we opened it: it lists as empty.
			return nil
		}
		ents = append(ents, dirEntry{".", dir.Ino, dir.Mode}, dirEntry{"..", dir.Parent, syscall.S_IFDIR})
		for _, name := range dir.SortedEntries() {
			c := s.Inodes[dir.Entries[name]]
			ents = append(ents, dirEntry{name, c.Ino, c.Mode})
		}
		return nil
	})
	if err != nil {
		if rerr := fs.v.ReleasedDir(in.NodeId); rerr != nil {
			fs.logf("release directory %d: %v", in.NodeId, rerr)
		}
		return errno(err)
	}
	out.Fh = fs.newHandle(&handle{ino: in.NodeId, entries: ents})
	return fuse.OK
}

// ReadDir lists entries from the offset on.
func (fs *FS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	h := fs.handle(in.Fh)
	if h == nil {
		return fuse.EBADF
	}
	for i := int(in.Offset); i < len(h.entries); i++ {
		e := h.entries[i]
		if !out.AddDirEntry(fuse.DirEntry{Name: e.name, Ino: e.ino, Mode: e.mode, Off: uint64(i + 1)}) {
			break
		}
	}
	return fuse.OK
}

// ReadDirPlus lists entries with their attributes, so `ls -l` needs no
// lookups. Entries removed since opendir are skipped.
func (fs *FS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	h := fs.handle(in.Fh)
	if h == nil {
		return fuse.EBADF
	}
	for i := int(in.Offset); i < len(h.entries); i++ {
		e := h.entries[i]
		var a fsstate.Attr
		found := false
		if e.name != "." && e.name != ".." {
			_ = fs.v.View(func(s *fsstate.State) error {
				if n := s.Inodes[e.ino]; n != nil && n.Nlink > 0 {
					a, found = s.Attr(n), true
				}
				return nil
			})
		}
		eo := out.AddDirLookupEntry(fuse.DirEntry{Name: e.name, Ino: e.ino, Mode: e.mode, Off: uint64(i + 1)})
		if eo == nil {
			break
		}
		if found {
			fs.entry(eo, a)
		}
	}
	return fuse.OK
}

// ReleaseDir forgets a directory handle.
func (fs *FS) ReleaseDir(in *fuse.ReleaseIn) {
	fs.mu.Lock()
	h := fs.handles[in.Fh]
	delete(fs.handles, in.Fh)
	fs.mu.Unlock()
	if h == nil {
		return
	}
	if err := fs.v.ReleasedDir(h.ino); err != nil {
		fs.logf("release directory %d: %v", h.ino, err)
	}
}

// FsyncDir makes the namespace changes so far durable. PostgreSQL fsyncs
// directories and PANICs on ENOSYS, so this must exist and must mean it.
func (fs *FS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return errno(fs.v.Sync())
}

func (fs *FS) newHandle(h *handle) uint64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextFh++
	fs.handles[fs.nextFh] = h
	return fs.nextFh
}

func (fs *FS) handle(fh uint64) *handle {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.handles[fh]
}
