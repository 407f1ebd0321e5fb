// Package fusefs serves a volume over FUSE. It is a thin adapter: it turns
// kernel requests into calls on package volume, which holds all the logic.
//
// It uses go-fuse's raw protocol API rather than its node tree. A volume's
// state is itself an inode table whose numbers are never reused (they come
// from LSNs), so those numbers are handed to the kernel as node IDs as they
// are. A rewind swaps the whole table at once; with the raw API there is no
// second tree to reconcile, only kernel caches to invalidate (invalidate.go).
//
// What the kernel does for us, and why:
//   - Permissions: the mount uses default_permissions, so the kernel checks
//     modes, owners and the sticky bit before a request reaches us.
//   - Locks: POSIX record locks and flock are not forwarded (no lock
//     capability), so the kernel keeps them locally, keyed by owner as POSIX
//     wants. That is correct on one host, which is where a mount lives.
//   - Caching: the writeback cache and FOPEN_KEEP_CACHE let the kernel keep
//     pages across opens; every change reaches us (and so the log) as a
//     WRITE, and fsync flushes the kernel's dirty pages before FSYNC.
//   - Never passthrough: no backing file descriptor is ever handed to the
//     kernel, so every write goes through the log.
//   - With Options.DsyncDirect, a file opened with O_DSYNC or O_SYNC
//     bypasses the page cache (FOPEN_DIRECT_IO) and each of its writes is
//     one WRITE that returns durable, instead of a cached write, a WRITE
//     and an FSYNC (file.go).
//
// All error reporting uses syscall.Errno, converted by errno().
package fusefs

import (
	"errors"
	"log"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/volume"
)

// Timeouts for the kernel's attribute and entry caches. Every change passes
// through the kernel and a rewind invalidates explicitly, so they can be long.
const (
	entryTimeout = time.Hour
	attrTimeout  = time.Hour
)

// FS is the FUSE file system of one open volume.
type FS struct {
	fuse.RawFileSystem
	v      *volume.Volume
	server *fuse.Server
	logf   func(string, ...any)
	// dsyncDirect is Options.DsyncDirect.
	dsyncDirect bool

	mu      sync.Mutex
	lookups map[uint64]uint64 // node ID → references the kernel holds
	handles map[uint64]*handle
	nextFh  uint64
	blocks  map[uint64]uint64 // st_blocks when Fsync last dropped the kernel's attributes
}

// handle is an open file or directory.
type handle struct {
	ino     uint64
	entries []dirEntry // a directory's entries, taken at opendir
}

type dirEntry struct {
	name string
	ino  uint64
	mode uint32
}

// Options are a mount's choices.
type Options struct {
	Name       string // the mount's source, as mount(8) shows it
	ReadOnly   bool
	AllowOther bool
	Debug      bool // log every request
	// DsyncDirect serves files opened with O_DSYNC or O_SYNC without the
	// page cache: each write(2) is then a single WRITE request that is
	// durable when it returns, as the flag asks, where a cached write
	// costs a WRITE and an FSYNC round trip when the kernel syncs it. A
	// database that syncs its log by opening it O_DSYNC (PostgreSQL's
	// wal_sync_method=open_datasync, InnoDB's innodb_flush_method=O_DSYNC)
	// pays one round trip a commit instead of two.
	//
	// The cost, and why it is not the default: with the writeback cache
	// the kernel keeps a regular file's mtime and ctime itself and ignores
	// ours, but it moves them only on cached writes. Writes to such a file
	// leave the times stat shows unchanged until the kernel drops the
	// inode (the log has the right times: a remount shows them). Reads
	// through such a descriptor are not cached either.
	DsyncDirect bool
}

// New returns the file system for v.
func New(v *volume.Volume, o Options, logf func(string, ...any)) *FS {
	if logf == nil {
		logf = log.Printf
	}
	return &FS{
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		v:             v, logf: logf,
		dsyncDirect: o.DsyncDirect && !o.ReadOnly, // MountOptions: read-only wins
		lookups:     map[uint64]uint64{fsstate.RootIno: 1},
		handles:     map[uint64]*handle{},
		blocks:      map[uint64]uint64{},
	}
}

// MountOptions returns the go-fuse options rewindfs mounts with.
func MountOptions(opts Options) *fuse.MountOptions {
	o := &fuse.MountOptions{
		FsName:     opts.Name,
		Name:       "rewindfs",
		AllowOther: opts.AllowOther,
		Options:    []string{"default_permissions"},
		// Large writes: fewer, larger records and fewer round trips.
		MaxWrite:     1 << 20,
		MaxReadAhead: maxReadAhead, // and SetReadAhead once mounted
		DirectMount:  true,
		Debug:        opts.Debug,
		// The writeback cache batches small writes into page-sized ones;
		// it is off for read-only views, which have nothing to write back.
		// HANDLE_KILLPRIV_V2: we drop set-ID bits and capabilities on
		// write, truncate and chown ourselves (volume.WriteKill), so the
		// kernel stops sending a GETXATTR of security.capability before
		// every write: a third fewer round trips for random writes.
		ExtraCapabilities: fuse.CAP_WRITEBACK_CACHE | fuse.CAP_HANDLE_KILLPRIV_V2,
		// Never let the kernel read or write a backing file directly.
		DisabledCapabilities: fuse.CAP_PASSTHROUGH,
		// Reads answer with bytes (fuse.ReadResultData), never a file
		// descriptor, so go-fuse's splice path can only fail: it would
		// still take a pipe, resize it, write the reply header into it
		// and drain it again before writing the reply normally, three
		// wasted system calls on every READ.
		DisableSplice: true,
	}
	if opts.ReadOnly {
		o.Options = append(o.Options, "ro")
		o.ExtraCapabilities = 0
	} else if opts.DsyncDirect {
		// Without it the kernel refuses a shared mapping of a file
		// opened O_DSYNC (ENODEV: e2e's TestDsyncDirectMmap); with it,
		// it also writes out dirty
		// cached pages of a direct WRITE's range before sending it.
		// (Dropping them from the cache, which it does either way,
		// writes them out too: TestDsyncDirectCoherent.)
		o.ExtraCapabilities |= fuse.CAP_DIRECT_IO_ALLOW_MMAP
	}
	return o
}

func (fs *FS) String() string { return "rewindfs" }

// Init keeps the server so that a rewind can invalidate kernel caches.
func (fs *FS) Init(s *fuse.Server) { fs.server = s }

// errno converts an error from package volume to a FUSE status.
func errno(err error) fuse.Status {
	if err == nil {
		return fuse.OK
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return fuse.Status(e)
	}
	return fuse.EIO
}

// fillAttr copies attributes into the kernel's form.
func fillAttr(out *fuse.Attr, a fsstate.Attr, pageSize int) {
	out.Ino = a.Ino
	out.Size = a.Size
	out.Blocks = a.Blocks
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Uid = a.UID
	out.Gid = a.GID
	out.Rdev = a.Rdev
	out.Blksize = uint32(pageSize)
	out.Atime, out.Atimensec = splitNs(a.Atime)
	out.Mtime, out.Mtimensec = splitNs(a.Mtime)
	out.Ctime, out.Ctimensec = splitNs(a.Ctime)
}

func splitNs(ns int64) (uint64, uint32) {
	sec := ns / 1e9
	rem := ns % 1e9
	if rem < 0 {
		sec--
		rem += 1e9
	}
	return uint64(sec), uint32(rem)
}

// entry fills an EntryOut and counts the reference the kernel now holds.
func (fs *FS) entry(out *fuse.EntryOut, a fsstate.Attr) {
	out.NodeId = a.Ino
	out.Generation = 1
	out.SetEntryTimeout(entryTimeout)
	out.SetAttrTimeout(attrTimeout)
	fillAttr(&out.Attr, a, fs.v.PageSize())
	fs.mu.Lock()
	fs.lookups[a.Ino]++
	fs.mu.Unlock()
}

// Forget drops references the kernel held.
func (fs *FS) Forget(nodeid, nlookup uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if n := fs.lookups[nodeid]; n <= nlookup {
		delete(fs.lookups, nodeid)
	} else {
		fs.lookups[nodeid] = n - nlookup
	}
}

// StatFs reports the space of the disk under the volume.
func (fs *FS) StatFs(cancel <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	var st syscall.Statfs_t
	if err := syscall.Statfs(fs.v.Dir, &st); err != nil {
		return errno(err)
	}
	ps := uint64(fs.v.PageSize())
	bs := uint64(st.Bsize)
	out.Bsize = uint32(ps)
	out.Frsize = uint32(ps)
	out.Blocks = st.Blocks * bs / ps
	out.Bfree = st.Bfree * bs / ps
	out.Bavail = st.Bavail * bs / ps
	var files uint64
	_ = fs.v.View(func(s *fsstate.State) error { files = uint64(len(s.Inodes)); return nil })
	out.Files = files + st.Ffree
	out.Ffree = st.Ffree
	out.NameLen = fsstate.MaxNameLen
	return fuse.OK
}
