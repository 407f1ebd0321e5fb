package volume

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/rewindfs/rewindfs/backtrack"
	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// The file system operations. Each change is one record; each returns the
// attributes of the inode it made or changed, read under the same lock, and
// errors as syscall.Errno.

// Create makes a regular file, directory, device, FIFO or socket (the type is
// in mode's S_IFMT bits). With open, the new file is also counted as open,
// under the same lock, so that no unlink can purge it in between.
func (v *Volume) Create(parent uint64, name string, mode, uid, gid, rdev uint32, open bool) (fsstate.Attr, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	l, err := v.commit(&fsstate.Op{Type: fsstate.OpCreate, Parent: parent, Name: name, Mode: mode, UID: uid, GID: gid, Rdev: rdev}, nil)
	if err != nil {
		return fsstate.Attr{}, err
	}
	ino := fsstate.InoOf(l)
	if open {
		v.open[ino]++
		v.nopen++
	}
	return v.st.Attr(v.st.Inodes[ino]), nil
}

// Symlink makes a symbolic link.
func (v *Volume) Symlink(parent uint64, name, target string, uid, gid uint32) (fsstate.Attr, error) {
	if len(target) == 0 || len(target) > 4095 {
		return fsstate.Attr{}, syscall.ENAMETOOLONG
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	l, err := v.commit(&fsstate.Op{Type: fsstate.OpSymlink, Parent: parent, Name: name, Target: target, UID: uid, GID: gid}, nil)
	if err != nil {
		return fsstate.Attr{}, err
	}
	return v.st.Attr(v.st.Inodes[fsstate.InoOf(l)]), nil
}

// Link adds a hard link to ino.
func (v *Volume) Link(ino, newParent uint64, newName string) (fsstate.Attr, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := v.commit(&fsstate.Op{Type: fsstate.OpLink, Ino: ino, NewParent: newParent, NewName: newName}, nil); err != nil {
		return fsstate.Attr{}, err
	}
	return v.st.Attr(v.st.Inodes[ino]), nil
}

// Unlink removes a name that is not a directory.
func (v *Volume) Unlink(parent uint64, name string) error {
	return v.remove(parent, name, false)
}

// Rmdir removes an empty directory.
func (v *Volume) Rmdir(parent uint64, name string) error {
	return v.remove(parent, name, true)
}

func (v *Volume) remove(parent uint64, name string, wantDir bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	dir := v.st.Inodes[parent]
	if dir == nil || !dir.IsDir() {
		return syscall.ENOTDIR
	}
	ino, ok := dir.Entries[name]
	if !ok {
		return syscall.ENOENT
	}
	n := v.st.Inodes[ino]
	switch {
	case wantDir && !n.IsDir():
		return syscall.ENOTDIR
	case !wantDir && n.IsDir():
		return syscall.EISDIR
	}
	if _, err := v.commit(&fsstate.Op{Type: fsstate.OpUnlink, Parent: parent, Name: name}, nil); err != nil {
		return err
	}
	return v.purgeIfUnused(ino)
}

// purgeIfUnused drops an inode that no name and no open handle keeps.
func (v *Volume) purgeIfUnused(ino uint64) error {
	n := v.st.Inodes[ino]
	if n == nil || n.Nlink != 0 || v.open[ino] > 0 {
		return nil
	}
	_, err := v.commit(&fsstate.Op{Type: fsstate.OpPurge, Ino: ino}, nil)
	return err
}

// Rename moves a name, replacing what the new name held (see fsstate for
// the POSIX rules), with renameat2's flags.
func (v *Volume) Rename(parent uint64, name string, newParent uint64, newName string, flags uint32) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var victim uint64
	if d := v.st.Inodes[newParent]; d != nil && d.IsDir() && flags&fsstate.RenameExchange == 0 {
		victim = d.Entries[newName]
	}
	if _, err := v.commit(&fsstate.Op{Type: fsstate.OpRename, Parent: parent, Name: name, NewParent: newParent, NewName: newName, Flags: flags}, nil); err != nil {
		return err
	}
	if victim != 0 {
		return v.purgeIfUnused(victim)
	}
	return nil
}

// SetAttrIn says which attributes to change (fsstate.Set* bits in Valid).
type SetAttrIn struct {
	Valid        uint32
	Mode         uint32
	UID, GID     uint32
	Size         uint64
	Atime, Mtime int64
	// KillSUIDGID drops the set-user-ID bit, and the set-group-ID bit of
	// a group-executable file, with this change (FATTR_KILL_SUIDGID: a
	// chown, or a truncate by a caller without CAP_FSETID).
	KillSUIDGID bool
}

// capabilityXattr is the file capabilities attribute, which a write,
// truncate or chown drops (as Linux does for local file systems).
const capabilityXattr = "security.capability"

// killPrivLocked drops what a write, truncate or chown must drop now that
// the kernel leaves it to the file system (FUSE_HANDLE_KILLPRIV_V2): the
// file's capabilities, and with killSUIDGID its set-user-ID bit and, if it
// is group-executable, its set-group-ID bit. The caller holds v.mu.
func (v *Volume) killPrivLocked(n *fsstate.Inode, killSUIDGID bool) error {
	if _, ok := n.Xattrs[capabilityXattr]; ok {
		if _, err := v.commit(&fsstate.Op{Type: fsstate.OpRemoveXattr, Ino: n.Ino, Name: capabilityXattr}, nil); err != nil {
			return err
		}
	}
	if mode, kill := killedMode(n.Mode, killSUIDGID); kill {
		if _, err := v.commit(&fsstate.Op{Type: fsstate.OpSetAttr, Ino: n.Ino, Valid: fsstate.SetMode, Mode: mode}, nil); err != nil {
			return err
		}
	}
	return nil
}

// killedMode returns mode without the bits a kill drops, and whether any
// were set.
func killedMode(mode uint32, kill bool) (uint32, bool) {
	if !kill {
		return mode, false
	}
	out := mode &^ syscall.S_ISUID
	if mode&syscall.S_IXGRP != 0 {
		out &^= syscall.S_ISGID
	}
	return out, out != mode
}

// SetAttr changes attributes. A size cut inside a page carries that page,
// zeroed past the new end, in the record.
func (v *Volume) SetAttr(ino uint64, in SetAttrIn) (fsstate.Attr, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.st.Inodes[ino]
	if n == nil {
		return fsstate.Attr{}, syscall.ENOENT
	}
	if in.Valid&(fsstate.SetSize|fsstate.SetUID|fsstate.SetGID) != 0 && !n.IsDir() {
		if _, ok := n.Xattrs[capabilityXattr]; ok {
			if _, err := v.commit(&fsstate.Op{Type: fsstate.OpRemoveXattr, Ino: n.Ino, Name: capabilityXattr}, nil); err != nil {
				return fsstate.Attr{}, err
			}
		}
		if in.KillSUIDGID {
			mode := n.Mode
			if in.Valid&fsstate.SetMode != 0 {
				mode = n.Mode&syscall.S_IFMT | in.Mode&0o7777
			}
			if m, kill := killedMode(mode, true); kill {
				in.Valid |= fsstate.SetMode
				in.Mode = m
			}
		}
	}
	op := &fsstate.Op{Type: fsstate.OpSetAttr, Ino: ino, Valid: in.Valid, Mode: in.Mode, UID: in.UID, GID: in.GID,
		Size: in.Size, Atime: in.Atime, Mtime: in.Mtime}
	var tail []byte
	ps := uint64(v.Settings.PageSize)
	if in.Valid&fsstate.SetSize != 0 && n.IsRegular() && in.Size < n.Size && in.Size%ps != 0 {
		p := in.Size / ps
		// The cut page has content if the log or the base image holds it.
		if !n.Pages.Get(p).IsHole() || p*ps < n.BaseSize {
			tail = v.scratchPages(1)
			if err := v.readPage(n, p, tail); err != nil {
				return fsstate.Attr{}, err
			}
			clear(tail[in.Size%ps:])
		}
	}
	if _, err := v.commit(op, tail); err != nil {
		return fsstate.Attr{}, err
	}
	return v.st.Attr(n), nil
}

// Allocate makes the file at least size bytes long (fallocate mode 0).
func (v *Volume) Allocate(ino uint64, size uint64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.st.Inodes[ino]
	if n == nil {
		return syscall.ENOENT
	}
	if n.IsRegular() && size <= n.Size {
		return nil
	}
	_, err := v.commit(&fsstate.Op{Type: fsstate.OpAllocate, Ino: ino, Size: size}, nil)
	return err
}

// SetXattr sets an extended attribute (flags as in setxattr(2)).
func (v *Volume) SetXattr(ino uint64, name string, value []byte, flags uint32) error {
	if len(name) == 0 || len(name) > 255 {
		return syscall.ERANGE
	}
	if len(value) > 65536 {
		return syscall.E2BIG
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	_, err := v.commit(&fsstate.Op{Type: fsstate.OpSetXattr, Ino: ino, Name: name, Value: value, Flags: flags}, nil)
	return err
}

// RemoveXattr removes an extended attribute.
func (v *Volume) RemoveXattr(ino uint64, name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, err := v.commit(&fsstate.Op{Type: fsstate.OpRemoveXattr, Ino: ino, Name: name}, nil)
	return err
}

// Sync makes every change so far durable (invariant 1) and, if anything
// changed since the last one, records a sync point first, in the same
// fdatasync. Concurrent callers share one disk sync (group commit in pagelog).
func (v *Volume) Sync() error {
	if v.readOnly {
		return nil
	}
	v.mu.Lock()
	if v.failed != nil {
		v.mu.Unlock()
		return syscall.EIO
	}
	if v.log.Head() != v.lastSync {
		l, err := v.commit(&fsstate.Op{Type: fsstate.OpSync}, nil)
		if err != nil {
			v.mu.Unlock()
			return err
		}
		v.lastSync = l
	}
	head := v.log.Head()
	v.mu.Unlock()
	if err := v.log.Sync(head); err != nil {
		v.logf("sync through LSN %d: %v", head, err)
		return syncErrno(err)
	}
	return nil
}

// syncErrno is what the application sees of a failed log sync: ENOSPC
// when the disk was too full to write the buffered records out (nothing is
// lost; a later fsync retries), EIO otherwise.
func syncErrno(err error) error {
	if errors.Is(err, syscall.ENOSPC) && !errors.Is(err, pagelog.ErrBroken) {
		return syscall.ENOSPC
	}
	return syscall.EIO
}

// WriteOut hands the records appended so far to the OS, without syncing
// them (pagelog's write buffer): from then on they survive the end of the
// daemon, though not of the machine. FUSE's flush, sent at every close,
// calls it.
func (v *Volume) WriteOut() error {
	if v.readOnly {
		return nil
	}
	if err := v.log.WriteOut(); err != nil {
		v.logf("write out buffered records: %v", err)
		return syncErrno(err)
	}
	return nil
}

// Flush makes everything appended so far durable without recording a sync
// point (no application asked for one). The daemon calls it every second,
// which bounds what a crash can take from an application that never
// fsyncs, or that relies on syncfs(2), which Linux does not forward to FUSE.
func (v *Volume) Flush() error {
	if v.readOnly {
		return nil
	}
	v.mu.RLock()
	head := v.log.Head()
	v.mu.RUnlock()
	if head == v.log.Durable() {
		return nil
	}
	return v.log.Sync(head)
}

// Open counts an open handle on ino: an unlinked file stays readable and
// writable while it has one. The check that the inode exists and the count
// happen under one lock, so a concurrent unlink cannot purge it in between.
func (v *Volume) Open(ino uint64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.st.Inodes[ino]
	if n == nil {
		return syscall.ENOENT
	}
	if n.IsDir() {
		return syscall.EISDIR
	}
	v.open[ino]++
	v.nopen++
	return nil
}

// OpenDir counts an open directory handle, so that a directory removed or
// replaced while open stays stat-able until closed. Directory handles do
// not count as open files for a rewind.
func (v *Volume) OpenDir(ino uint64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.st.Inodes[ino]
	if n == nil {
		return syscall.ENOENT
	}
	if !n.IsDir() {
		return syscall.ENOTDIR
	}
	v.open[ino]++
	return nil
}

// Released drops an open file handle and purges the inode if it was the
// last user of an unlinked file.
func (v *Volume) Released(ino uint64) error { return v.release(ino, true) }

// ReleasedDir drops an open directory handle.
func (v *Volume) ReleasedDir(ino uint64) error { return v.release(ino, false) }

func (v *Volume) release(ino uint64, file bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.open[ino] <= 1 {
		delete(v.open, ino)
	} else {
		v.open[ino]--
	}
	if file {
		v.nopen--
	}
	if v.readOnly {
		return nil
	}
	return v.purgeIfUnused(ino)
}

// OpenFiles returns how many file handles are open.
func (v *Volume) OpenFiles() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.nopen
}

// Mark names the current sync point (recording one first if needed).
func (v *Volume) Mark(name string, keep bool) (lsn.LSN, error) {
	if err := v.Sync(); err != nil {
		return 0, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	l, err := v.commit(&fsstate.Op{Type: fsstate.OpMark, Name: name, Keep: keep}, nil)
	if err != nil {
		return 0, err
	}
	if err := v.log.Sync(l); err != nil {
		return 0, syscall.EIO
	}
	return v.hist.Marks()[name], nil
}

// Unmark deletes a mark: its name is no longer a target, and if it was
// kept, compaction is no longer held at it.
func (v *Volume) Unmark(name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.hist.Marks()[name]; !ok {
		return fmt.Errorf("%w: %q", backtrack.ErrUnknownMark, name)
	}
	l, err := v.commit(&fsstate.Op{Type: fsstate.OpMark, Name: name, Unmark: true}, nil)
	if err != nil {
		return err
	}
	if err := v.log.Sync(l); err != nil {
		return syscall.EIO
	}
	return nil
}
