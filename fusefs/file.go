package fusefs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// fallocate(2) modes.
const (
	fallocKeepSize  = 0x01
	fallocPunchHole = 0x02
)

// Create makes a regular file and opens it.
func (fs *FS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	a, err := fs.v.Create(in.NodeId, name, syscall.S_IFREG|in.Mode&0o7777, in.Uid, in.Gid, 0, true)
	if err != nil {
		return errno(err)
	}
	fs.entry(&out.EntryOut, a)
	fs.newFile(a.Ino, &out.OpenOut)
	return fuse.OK
}

// Open opens a file. O_TRUNC arrives as a separate SETATTR.
func (fs *FS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if err := fs.v.Open(in.NodeId); err != nil {
		return errno(err)
	}
	fs.newFile(in.NodeId, out)
	return fuse.OK
}

// newFile hands out a handle for a file the volume counts as open.
func (fs *FS) newFile(ino uint64, out *fuse.OpenOut) {
	out.Fh = fs.newHandle(&handle{ino: ino})
	// The kernel may keep this file's pages across opens: nothing but the
	// kernel changes them, and a rewind invalidates them explicitly.
	out.OpenFlags = fuse.FOPEN_KEEP_CACHE
}

// Read reads from the log through the page index.
func (fs *FS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if int(in.Size) < len(buf) {
		buf = buf[:in.Size]
	}
	n, err := fs.v.Read(in.NodeId, int64(in.Offset), buf)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(buf[:n]), fuse.OK
}

// Write appends one write record.
func (fs *FS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	if _, err := fs.v.Write(in.NodeId, int64(in.Offset), data); err != nil {
		return 0, errno(err)
	}
	return uint32(len(data)), fuse.OK
}

// Flush has nothing to do: every write is in the log when it returns.
func (fs *FS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status { return fuse.OK }

// Release closes a handle; the last close of an unlinked file drops it.
func (fs *FS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	fs.mu.Lock()
	h := fs.handles[in.Fh]
	delete(fs.handles, in.Fh)
	fs.mu.Unlock()
	if h == nil {
		return
	}
	if err := fs.v.Released(h.ino); err != nil {
		fs.logf("release inode %d: %v", h.ino, err)
	}
}

// Fsync makes everything written so far durable (the whole log, which is
// more than one file needs, and costs the same single fdatasync).
func (fs *FS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return errno(fs.v.Sync())
}

// Fallocate supports mode 0 (extend the size) and FALLOC_FL_KEEP_SIZE (a
// no-op: the log has no blocks to reserve). Hole punching is refused with
// EOPNOTSUPP, which PostgreSQL and SQLite handle.
func (fs *FS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	switch in.Mode {
	case 0:
		return errno(fs.v.Allocate(in.NodeId, in.Offset+in.Length))
	case fallocKeepSize:
		return fuse.OK
	}
	return fuse.Status(syscall.EOPNOTSUPP)
}
