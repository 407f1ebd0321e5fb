package main

// Minimal FUSE protocol handling and a flat in-memory root directory.
// Encoding is done by hand with little-endian helpers; layouts follow
// include/uapi/linux/fuse.h (7.36+ struct sizes).

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"syscall"
)

const (
	opLookup      = 1
	opForget      = 2
	opGetattr     = 3
	opSetattr     = 4
	opOpen        = 14
	opRead        = 15
	opWrite       = 16
	opStatfs      = 17
	opRelease     = 18
	opFsync       = 20
	opFlush       = 25
	opInit        = 26
	opOpendir     = 27
	opReaddir     = 28
	opReleasedir  = 29
	opFsyncdir    = 30
	opCreate      = 35
	opInterrupt   = 36
	opDestroy     = 38
	opBatchForget = 42

	inHeaderSize  = 40
	outHeaderSize = 16
	attrSize      = 88
	entryOutSize  = 40 + attrSize // 128
	attrOutSize   = 16 + attrSize // 104
	openOutSize   = 16

	fopenDirectIO = 1 << 0

	fattrMode = 1 << 0
	fattrSize = 1 << 3

	// INIT flags
	initAsyncRead   = 1 << 0
	initBigWrites   = 1 << 5
	initParallelDir = 1 << 18
	initMaxPages    = 1 << 22
	initExt         = 1 << 30
	// flags2 (bits 32..63 shifted down)
	init2OverIoUring = 1 << (41 - 32)

	maxWrite = 128 * 1024
)

var le = binary.LittleEndian

// size of the first ("per-op header") in-argument for the ops we parse;
// in /dev/fuse mode everything follows the in header contiguously, in
// io_uring mode this first argument is in op_in and the rest in the payload.
func arg0Size(op uint32) int {
	switch op {
	case opGetattr:
		return 16
	case opSetattr:
		return 88
	case opOpen, opOpendir:
		return 8
	case opCreate:
		return 16
	case opRead, opWrite, opReaddir:
		return 40
	case opFsync, opFsyncdir:
		return 16
	case opFlush, opRelease, opReleasedir:
		return 24
	case opForget, opBatchForget, opInterrupt:
		return 8
	}
	return 0
}

type inHeader struct {
	Len    uint32
	Opcode uint32
	Unique uint64
	NodeID uint64
	UID    uint32
	GID    uint32
	PID    uint32
}

// putOutHeader writes the answer's fuse_out_header into b and returns the
// length of its arguments: none with an error.
func putOutHeader(b []byte, errno int32, plen int, unique uint64) int {
	if errno != 0 {
		plen = 0
	}
	le.PutUint32(b[0:], uint32(outHeaderSize+plen))
	le.PutUint32(b[4:], uint32(errno))
	le.PutUint64(b[8:], unique)
	return plen
}

func parseInHeader(b []byte) inHeader {
	return inHeader{
		Len:    le.Uint32(b[0:]),
		Opcode: le.Uint32(b[4:]),
		Unique: le.Uint64(b[8:]),
		NodeID: le.Uint64(b[16:]),
		UID:    le.Uint32(b[24:]),
		GID:    le.Uint32(b[28:]),
		PID:    le.Uint32(b[32:]),
	}
}

type inode struct {
	ino  uint64
	mode uint32
	size uint64
}

// lookup runs find under the lock and returns a copy of what it found.
func (fs *memFS) lookup(find func() *inode) (inode, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if n := find(); n != nil {
		return *n, true
	}
	return inode{}, false
}

type memFS struct {
	mu     sync.Mutex
	byName map[string]*inode
	byIno  map[uint64]*inode
	next   uint64
	root   *inode

	// counters[transport][opcode]; transport 0 = /dev/fuse, 1 = io_uring
	counters [2][64]atomic.Uint64
}

func newFS() *memFS {
	root := &inode{ino: 1, mode: syscall.S_IFDIR | 0o777}
	return &memFS{
		byName: map[string]*inode{},
		byIno:  map[uint64]*inode{1: root},
		next:   2,
		root:   root,
	}
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func putAttr(b []byte, n *inode) {
	for i := range b[:attrSize] {
		b[i] = 0
	}
	le.PutUint64(b[0:], n.ino)
	le.PutUint64(b[8:], n.size)
	le.PutUint64(b[16:], (n.size+511)/512)
	// atime, mtime, ctime left 0 (1970) - fine for the probe
	le.PutUint32(b[60:], n.mode)
	nlink := uint32(1)
	if n.mode&syscall.S_IFDIR != 0 {
		nlink = 2
	}
	le.PutUint32(b[64:], nlink)
	// uid, gid, rdev = 0
	le.PutUint32(b[80:], 4096) // blksize
}

func putEntry(b []byte, n *inode) {
	le.PutUint64(b[0:], n.ino)
	le.PutUint64(b[8:], 0)  // generation
	le.PutUint64(b[16:], 0) // entry_valid
	le.PutUint64(b[24:], 0) // attr_valid
	le.PutUint32(b[32:], 0)
	le.PutUint32(b[36:], 0)
	putAttr(b[40:], n)
}

func putAttrOut(b []byte, n *inode) {
	le.PutUint64(b[0:], 0)
	le.PutUint32(b[8:], 0)
	le.PutUint32(b[12:], 0)
	putAttr(b[16:], n)
}

func putOpenOut(b []byte, fh uint64, flags uint32) {
	le.PutUint64(b[0:], fh)
	le.PutUint32(b[8:], flags)
	le.PutUint32(b[12:], 0)
}

// handle serves one request. arg0 is the per-op header, rest the remaining
// in-arguments. The reply payload (without fuse_out_header) is written to out;
// out may alias rest, so all inputs are read before anything is written.
// Returns errno (negative or 0), payload length, and whether a reply is due.
func (fs *memFS) handle(transport int, h *inHeader, arg0, rest, out []byte) (int32, int, bool) {
	if h.Opcode < 64 {
		fs.counters[transport][h.Opcode].Add(1)
	}
	switch h.Opcode {
	case opForget, opBatchForget, opInterrupt:
		return 0, 0, false
	case opLookup:
		name := cstr(rest)
		if h.NodeID != 1 {
			return -int32(syscall.ENOENT), 0, true
		}
		cp, ok := fs.lookup(func() *inode { return fs.byName[name] })
		if !ok {
			return -int32(syscall.ENOENT), 0, true
		}
		putEntry(out, &cp)
		return 0, entryOutSize, true
	case opGetattr:
		cp, ok := fs.lookup(func() *inode { return fs.byIno[h.NodeID] })
		if !ok {
			return -int32(syscall.ENOENT), 0, true
		}
		putAttrOut(out, &cp)
		return 0, attrOutSize, true
	case opSetattr:
		valid := le.Uint32(arg0[0:])
		size := le.Uint64(arg0[16:])
		mode := le.Uint32(arg0[68:])
		fs.mu.Lock()
		n := fs.byIno[h.NodeID]
		var cp inode
		if n != nil {
			if valid&fattrSize != 0 {
				n.size = size
			}
			if valid&fattrMode != 0 {
				n.mode = (n.mode & syscall.S_IFMT) | (mode &^ syscall.S_IFMT)
			}
			cp = *n
		}
		fs.mu.Unlock()
		if n == nil {
			return -int32(syscall.ENOENT), 0, true
		}
		putAttrOut(out, &cp)
		return 0, attrOutSize, true
	case opCreate:
		mode := le.Uint32(arg0[4:])
		name := cstr(rest)
		if h.NodeID != 1 {
			return -int32(syscall.ENOTDIR), 0, true
		}
		fs.mu.Lock()
		n := fs.byName[name]
		if n == nil {
			n = &inode{ino: fs.next, mode: syscall.S_IFREG | (mode & 0o7777)}
			fs.next++
			fs.byName[name] = n
			fs.byIno[n.ino] = n
		}
		cp := *n
		fs.mu.Unlock()
		putEntry(out, &cp)
		putOpenOut(out[entryOutSize:], cp.ino, fopenDirectIO)
		return 0, entryOutSize + openOutSize, true
	case opOpen:
		putOpenOut(out, h.NodeID, fopenDirectIO)
		return 0, openOutSize, true
	case opOpendir:
		putOpenOut(out, 0, 0)
		return 0, openOutSize, true
	case opReaddir:
		return 0, 0, true
	case opWrite:
		off := le.Uint64(arg0[8:])
		sz := le.Uint32(arg0[16:])
		fs.mu.Lock()
		if n := fs.byIno[h.NodeID]; n != nil && off+uint64(sz) > n.size {
			n.size = off + uint64(sz)
		}
		fs.mu.Unlock()
		le.PutUint32(out[0:], sz)
		le.PutUint32(out[4:], 0)
		return 0, 8, true
	case opRead:
		off := le.Uint64(arg0[8:])
		sz := uint64(le.Uint32(arg0[16:]))
		fs.mu.Lock()
		var fsize uint64
		if n := fs.byIno[h.NodeID]; n != nil {
			fsize = n.size
		}
		fs.mu.Unlock()
		var cnt uint64
		if off < fsize {
			cnt = min(sz, fsize-off, uint64(len(out)))
		}
		clear(out[:cnt])
		return 0, int(cnt), true
	case opFsync, opFsyncdir, opFlush, opRelease, opReleasedir, opDestroy:
		return 0, 0, true
	case opStatfs:
		clear(out[:80])
		le.PutUint64(out[0:], 1<<20)  // blocks
		le.PutUint64(out[8:], 1<<19)  // bfree
		le.PutUint64(out[16:], 1<<19) // bavail
		le.PutUint64(out[24:], 1<<20) // files
		le.PutUint64(out[32:], 1<<19) // ffree
		le.PutUint32(out[40:], 4096)  // bsize
		le.PutUint32(out[44:], 255)   // namelen
		le.PutUint32(out[48:], 4096)  // frsize
		return 0, 80, true
	}
	return -int32(syscall.ENOSYS), 0, true
}
