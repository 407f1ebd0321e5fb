package main

// FUSE-over-io_uring with a hand-rolled io_uring (raw syscalls, SQE128).

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	ioringSetupSQE128    = 1 << 10
	ioringEnterGetevents = 1 << 0
	ioringOffSQRing      = 0
	ioringOffCQRing      = 0x8000000
	ioringOffSQEs        = 0x10000000
	ioringOpUringCmd     = 46

	sqeSize = 128 // SQE128
	cqeSize = 16

	fuseIoUringCmdRegister       = 1
	fuseIoUringCmdCommitAndFetch = 2

	// fuse_uring_req_header layout
	ringHdrInOut    = 0   // fuse_in_header / fuse_out_header, 128 bytes
	ringHdrOpIn     = 128 // per-op header, 128 bytes
	ringHdrEntInOut = 256 // fuse_uring_ent_in_out: flags u64, commit_id u64, payload_sz u32, padding u32, reserved u64
	ringHdrSize     = 288
)

type sqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type cqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

type uringParams struct {
	SqEntries, CqEntries, Flags, SqThreadCPU, SqThreadIdle, Features, WqFd uint32
	Resv                                                                   [3]uint32
	SqOff                                                                  sqringOffsets
	CqOff                                                                  cqringOffsets
}

type ring struct {
	fd                     int
	sqRing, cqRing, sqes   []byte
	sqHead, sqTail, sqMask *uint32
	sqArray                unsafe.Pointer
	cqHead, cqTail, cqMask *uint32
	cqes                   unsafe.Pointer
	localTail              uint32
	pending                uint32
	sqEntries              uint32
}

func u32at(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

func newRing(entries uint32) (*ring, error) {
	var p uringParams
	p.Flags = ioringSetupSQE128
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup(SQE128): %w", errno)
	}
	r := &ring{fd: int(fd), sqEntries: p.SqEntries}
	sqSize := int(p.SqOff.Array + p.SqEntries*4)
	cqSize := int(p.CqOff.Cqes + p.CqEntries*cqeSize)
	var err error
	r.sqRing, err = unix.Mmap(r.fd, ioringOffSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap sq ring: %w", err)
	}
	r.cqRing, err = unix.Mmap(r.fd, ioringOffCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap cq ring: %w", err)
	}
	r.sqes, err = unix.Mmap(r.fd, ioringOffSQEs, int(p.SqEntries*sqeSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap sqes: %w", err)
	}
	r.sqHead = u32at(r.sqRing, p.SqOff.Head)
	r.sqTail = u32at(r.sqRing, p.SqOff.Tail)
	r.sqMask = u32at(r.sqRing, p.SqOff.RingMask)
	r.sqArray = unsafe.Pointer(&r.sqRing[p.SqOff.Array])
	r.cqHead = u32at(r.cqRing, p.CqOff.Head)
	r.cqTail = u32at(r.cqRing, p.CqOff.Tail)
	r.cqMask = u32at(r.cqRing, p.CqOff.RingMask)
	r.cqes = unsafe.Pointer(&r.cqRing[p.CqOff.Cqes])
	r.localTail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

// getSQE returns a zeroed 128-byte SQE slot (caller fills it, then calls push).
func (r *ring) getSQE() []byte {
	if r.localTail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		panic("SQ ring full")
	}
	idx := r.localTail & *r.sqMask
	sqe := r.sqes[idx*sqeSize : (idx+1)*sqeSize]
	clear(sqe)
	*(*uint32)(unsafe.Add(r.sqArray, 4*uintptr(idx))) = idx
	return sqe
}

func (r *ring) push() {
	r.localTail++
	atomic.StoreUint32(r.sqTail, r.localTail)
	r.pending++
}

// enter submits pending SQEs and waits for at least minComplete CQEs.
func (r *ring) enter(minComplete uint32) error {
	for {
		flags := uintptr(0)
		if minComplete > 0 {
			flags = ioringEnterGetevents
		}
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.pending), uintptr(minComplete), flags, 0, 0)
		if errno == 0 {
			r.pending -= uint32(n)
			if r.pending == 0 || minComplete == 0 {
				return nil
			}
			continue
		}
		if errno == unix.EINTR || errno == unix.EAGAIN || errno == unix.EBUSY {
			if errno != unix.EINTR {
				time.Sleep(time.Millisecond)
			}
			continue
		}
		return fmt.Errorf("io_uring_enter: %w", errno)
	}
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// drain calls fn for each available CQE.
func (r *ring) drain(fn func(c cqe)) {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	for head != tail {
		p := unsafe.Add(r.cqes, uintptr(head&*r.cqMask)*cqeSize)
		c := cqe{
			userData: *(*uint64)(p),
			res:      *(*int32)(unsafe.Add(p, 8)),
			flags:    *(*uint32)(unsafe.Add(p, 12)),
		}
		head++
		atomic.StoreUint32(r.cqHead, head)
		fn(c)
	}
}

type ringEnt struct {
	hdr     []byte // mmapped, >= 288 bytes (fuse_uring_req_header); iovecs live at hdr[512:544]
	payload []byte // mmapped, >= max payload size
}

func possibleCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err != nil {
		return runtime.NumCPU()
	}
	s := strings.TrimSpace(string(b))
	maxc := 0
	for _, part := range strings.Split(s, ",") {
		lohi := strings.Split(part, "-")
		v, _ := strconv.Atoi(lohi[len(lohi)-1])
		if v > maxc {
			maxc = v
		}
	}
	return maxc + 1
}

const payloadBufSize = 1 << 20 // must be >= kernel's max(8192, max_write, max_pages*PAGE_SIZE)

func (s *server) startUring(depth int) error {
	nq := possibleCPUs()
	logf("uring: %d queues (possible CPUs), depth %d, payload buf %d", nq, depth, payloadBufSize)
	errc := make(chan error, nq)
	for q := 0; q < nq; q++ {
		s.wg.Add(1)
		go s.queueLoop(q, depth, errc)
	}
	select {
	case err := <-errc:
		return err
	case <-time.After(500 * time.Millisecond):
		return nil
	}
}

func (s *server) prepRegister(r *ring, q, i int, e *ringEnt) {
	iov := e.hdr[512:544]
	le.PutUint64(iov[0:], uint64(uintptr(unsafe.Pointer(&e.hdr[0]))))
	le.PutUint64(iov[8:], uint64(ringHdrSize))
	le.PutUint64(iov[16:], uint64(uintptr(unsafe.Pointer(&e.payload[0]))))
	le.PutUint64(iov[24:], uint64(len(e.payload)))
	sqe := r.getSQE()
	sqe[0] = ioringOpUringCmd
	le.PutUint32(sqe[4:], uint32(s.fd))
	le.PutUint32(sqe[8:], fuseIoUringCmdRegister) // cmd_op
	le.PutUint64(sqe[16:], uint64(uintptr(unsafe.Pointer(&iov[0]))))
	le.PutUint32(sqe[24:], 2) // two iovecs: header, payload
	le.PutUint64(sqe[32:], uint64(i))
	// cmd area at 48: struct fuse_uring_cmd_req { flags u64; commit_id u64; qid u16; pad[6] }
	le.PutUint64(sqe[48:], 0)
	le.PutUint64(sqe[56:], 0)
	le.PutUint16(sqe[64:], uint16(q))
	r.push()
}

func (s *server) prepCommit(r *ring, q, i int, commitID uint64) {
	sqe := r.getSQE()
	sqe[0] = ioringOpUringCmd
	le.PutUint32(sqe[4:], uint32(s.fd))
	le.PutUint32(sqe[8:], fuseIoUringCmdCommitAndFetch)
	le.PutUint64(sqe[32:], uint64(i))
	le.PutUint64(sqe[48:], 0)
	le.PutUint64(sqe[56:], commitID)
	le.PutUint16(sqe[64:], uint16(q))
	r.push()
}

func (s *server) queueLoop(q, depth int, errc chan<- error) {
	defer s.wg.Done()
	runtime.LockOSThread() // ring tasks: task_work is delivered to this thread
	var set unix.CPUSet
	set.Set(q)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		errc <- fmt.Errorf("q%d sched_setaffinity: %w", q, err)
		return
	}
	r, err := newRing(uint32(depth * 2))
	if err != nil {
		errc <- fmt.Errorf("q%d: %w", q, err)
		return
	}
	ents := make([]*ringEnt, depth)
	for i := range ents {
		hdr, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
		if err != nil {
			errc <- fmt.Errorf("q%d mmap hdr: %w", q, err)
			return
		}
		pl, err := unix.Mmap(-1, 0, payloadBufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			errc <- fmt.Errorf("q%d mmap payload: %w", q, err)
			return
		}
		ents[i] = &ringEnt{hdr: hdr, payload: pl}
		s.prepRegister(r, q, i, ents[i])
	}
	if err := r.enter(0); err != nil {
		errc <- fmt.Errorf("q%d submit REGISTER: %w", q, err)
		return
	}
	alive := depth
	var fatal error
	for alive > 0 && fatal == nil {
		if err := r.enter(1); err != nil {
			fatal = fmt.Errorf("q%d wait: %w", q, err)
			break
		}
		r.drain(func(c cqe) {
			i := int(c.userData)
			if i < 0 || i >= len(ents) {
				logf("q%d: bogus user_data %d res=%d", q, c.userData, c.res)
				return
			}
			e := ents[i]
			if c.res < 0 {
				en := unix.Errno(-c.res)
				if en == unix.EAGAIN { // not initialized yet: retry register
					time.Sleep(10 * time.Millisecond)
					s.prepRegister(r, q, i, e)
					return
				}
				if !s.stopping.Load() {
					err := fmt.Errorf("q%d ent%d: uring cmd completed with %v (errno %d)", q, i, en, -c.res)
					logf("%v", err)
					select {
					case errc <- err:
					default:
					}
				}
				alive--
				return
			}
			hdr := e.hdr
			h := parseInHeader(hdr[ringHdrInOut:])
			commitID := le.Uint64(hdr[ringHdrEntInOut+8:])
			psz := le.Uint32(hdr[ringHdrEntInOut+16:])
			a0 := arg0Size(h.Opcode)
			rest := e.payload[:min(int(psz), len(e.payload))]
			errno, plen, reply := s.fs.handle(1, &h, hdr[ringHdrOpIn:ringHdrOpIn+a0], rest, e.payload)
			if !reply {
				errno = -int32(unix.ENOSYS)
			}
			plen = putOutHeader(hdr[ringHdrInOut:], errno, plen, h.Unique)
			le.PutUint32(hdr[ringHdrEntInOut+16:], uint32(plen))
			s.prepCommit(r, q, i, commitID)
		})
	}
	if fatal != nil {
		logf("%v", fatal)
		select {
		case errc <- fatal:
		default:
		}
	}
}
