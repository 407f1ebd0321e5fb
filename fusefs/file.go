package fusefs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rewindfs/rewindfs/fsstate"
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
	fs.newFile(a.Ino, in.Flags, &out.OpenOut)
	return fuse.OK
}

// Open opens a file. O_TRUNC arrives as a separate SETATTR.
func (fs *FS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if err := fs.v.Open(in.NodeId); err != nil {
		return errno(err)
	}
	fs.newFile(in.NodeId, in.Flags, out)
	return fuse.OK
}

// newFile hands out a handle for a file the volume counts as open, with
// the open(2) flags it was opened with.
func (fs *FS) newFile(ino uint64, flags uint32, out *fuse.OpenOut) {
	out.Fh = fs.newHandle(&handle{ino: ino})
	// The kernel may keep this file's pages across opens: nothing but the
	// kernel changes them, and a rewind invalidates them explicitly.
	out.OpenFlags = fuse.FOPEN_KEEP_CACHE
	if fs.dsyncDirect && flags&syscall.O_DSYNC != 0 { // O_SYNC includes O_DSYNC's bit
		out.OpenFlags |= fuse.FOPEN_DIRECT_IO
	}
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
//
// A write that did not come from the page cache (no FUSE_WRITE_CACHE: a
// descriptor opened with O_DIRECT, or one DsyncDirect serves directly)
// carries the writer's O_DSYNC. It is made durable before the answer: for a
// FOPEN_DIRECT_IO descriptor the kernel sends no FSYNC after it, so this
// sync is the one the flag asks for. (For an O_DIRECT one the kernel's
// FSYNC that follows then finds nothing left to sync.)
func (fs *FS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	// With CAP_HANDLE_KILLPRIV_V2 the kernel no longer asks for
	// security.capability before every write (a GETXATTR round trip each);
	// in exchange the write says when to drop the set-ID bits.
	kill := in.WriteFlags&fuse.WRITE_KILL_SUIDGID != 0
	if _, err := fs.v.WriteKill(in.NodeId, int64(in.Offset), data, kill); err != nil {
		return 0, errno(err)
	}
	if in.WriteFlags&fuse.WRITE_CACHE == 0 && in.Flags&syscall.O_DSYNC != 0 {
		if err := fs.v.Sync(); err != nil {
			return 0, errno(err)
		}
	}
	return uint32(len(data)), fuse.OK
}

// Flush, sent at every close, hands the log's buffered records to the OS
// (not to the disk: that is fsync), so that what a closed file holds
// survives the daemon's end, as it did before the log had a buffer.
func (fs *FS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	return errno(fs.v.WriteOut())
}

// Release closes a handle; the last close of an unlinked file drops it.
func (fs *FS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	fs.mu.Lock()
	h := fs.handles[in.Fh]
	delete(fs.handles, in.Fh)
	if h != nil {
		delete(fs.blocks, h.ino)
	}
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
//
// With the writeback cache the kernel keeps a file's attributes while it is
// open and trusts its own size and times, but st_blocks only we know: the
// kernel wrote its dirty pages to us before FSYNC, so once they are in the
// log the cached attributes are dropped and the next stat counts them. This
// only invalidates attributes (offset -1), never pages, so it takes no page
// lock and is safe inside the request.
//
// It is done only when st_blocks moved enough since the last time
// (blocksStale): dropping the attributes costs a GETATTR and a GETXATTR
// round trip on the next write. A database that fsyncs overwrites of its
// own pages changes no block count (fio, random 4 KiB writes with
// fdatasync every 8), and one that appends a page per commit (SQLite's
// WAL) would otherwise pay both round trips on every transaction: 4 round
// trips a commit instead of 2. So between refreshes a growing file's
// st_blocks may lag by up to an eighth, as du on a busy file would anyway;
// it is never left at 0 once the file has data.
func (fs *FS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if err := fs.v.Sync(); err != nil {
		return errno(err)
	}
	if fs.server == nil {
		return fuse.OK
	}
	var blocks uint64
	known := fs.v.View(func(st *fsstate.State) error {
		n := st.Inodes[in.NodeId]
		if n == nil {
			return syscall.ENOENT
		}
		blocks = st.Attr(n).Blocks
		return nil
	}) == nil
	fs.mu.Lock()
	last, seen := fs.blocks[in.NodeId]
	changed := !known || !seen || blocksStale(last, blocks)
	if known && changed {
		fs.blocks[in.NodeId] = blocks // what the kernel will see next
	}
	fs.mu.Unlock()
	if changed {
		fs.server.InodeNotify(in.NodeId, -1, 0)
	}
	return fuse.OK
}

// blocksStale says whether the kernel, which last heard that a file has
// last blocks, should be told that it has now: always when one of them is
// 0 (an empty file, or a file just emptied), else when they differ by an
// eighth or more.
func blocksStale(last, now uint64) bool {
	if last == 0 || now == 0 {
		return last != now
	}
	d := max(last, now) - min(last, now)
	return d*8 >= last
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
