package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type server struct {
	fd       int
	mnt      string
	mode     string
	fs       *memFS
	initDone chan struct{}
	initOnce sync.Once
	kMinor   uint32
	stopping atomic.Bool
	wg       sync.WaitGroup
}

func cmdServe(args []string) {
	fl := flag.NewFlagSet("serve", flag.ExitOnError)
	mode := fl.String("mode", "dev", "dev|uring")
	mnt := fl.String("mnt", "", "mount point")
	readers := fl.Int("readers", 4, "dev mode: number of /dev/fuse reader goroutines")
	depth := fl.Int("depth", 8, "uring mode: ring entries per queue")
	fl.Parse(args)
	if *mnt == "" || (*mode != "dev" && *mode != "uring") {
		fmt.Fprintln(os.Stderr, "usage: serve -mode dev|uring -mnt DIR")
		os.Exit(2)
	}

	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		fatalf("open /dev/fuse: %v", err)
	}
	s := &server{fd: fd, mnt: *mnt, mode: *mode, fs: newFS(), initDone: make(chan struct{})}

	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)

	data := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fd)
	if err := unix.Mount("probe", *mnt, "fuse.probe", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		fatalf("mount: %v", err)
	}
	logf("mounted %s mode=%s pid=%d", *mnt, *mode, os.Getpid())

	nReaders := *readers
	if *mode == "uring" {
		nReaders = 1 // INIT, FORGET, INTERRUPT and anything pre-ring
	}
	for i := 0; i < nReaders; i++ {
		s.wg.Add(1)
		go s.devLoop()
	}
	ringErr := make(chan error, 1)
	if *mode == "uring" {
		go func() {
			select {
			case <-s.initDone:
			case <-time.After(10 * time.Second):
				ringErr <- errors.New("INIT never arrived")
				return
			}
			ringErr <- s.startUring(*depth)
		}()
	}

	exitCode := 0
	select {
	case sig := <-sigc:
		logf("got %v, unmounting", sig)
	case err := <-ringErr:
		if err != nil {
			logf("URING SETUP FAILED: %v", err)
			exitCode = 3
		} else {
			// ring running; wait for a signal
			sig := <-sigc
			logf("got %v, unmounting", sig)
		}
	}
	s.stopping.Store(true)
	s.unmount()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		logf("workers did not stop within 3s; exiting anyway")
	}
	s.printCounters()
	os.Exit(exitCode)
}

func (s *server) unmount() {
	if err := unix.Unmount(s.mnt, 0); err != nil {
		logf("umount2(%s, 0): %v; retrying with MNT_DETACH", s.mnt, err)
		if err := unix.Unmount(s.mnt, unix.MNT_DETACH); err != nil {
			logf("umount2(%s, MNT_DETACH): %v", s.mnt, err)
		}
	}
}

var opNames = map[int]string{
	1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 4: "SETATTR", 14: "OPEN", 15: "READ",
	16: "WRITE", 17: "STATFS", 18: "RELEASE", 20: "FSYNC", 22: "GETXATTR", 25: "FLUSH",
	26: "INIT", 27: "OPENDIR", 28: "READDIR", 29: "RELEASEDIR", 34: "ACCESS", 35: "CREATE",
	36: "INTERRUPT", 38: "DESTROY", 42: "BATCH_FORGET", 52: "STATX",
}

func (s *server) printCounters() {
	names := []string{"dev", "uring"}
	for t := 0; t < 2; t++ {
		var ops []int
		for op := 0; op < 64; op++ {
			if s.fs.counters[t][op].Load() > 0 {
				ops = append(ops, op)
			}
		}
		sort.Ints(ops)
		line := fmt.Sprintf("COUNTS transport=%s", names[t])
		var total uint64
		for _, op := range ops {
			n := s.fs.counters[t][op].Load()
			total += n
			nm := opNames[op]
			if nm == "" {
				nm = fmt.Sprintf("op%d", op)
			}
			line += fmt.Sprintf(" %s=%d", nm, n)
		}
		line += fmt.Sprintf(" total=%d", total)
		fmt.Fprintln(os.Stderr, line)
	}
}

// devLoop: blocking read(2) of /dev/fuse, writev(2) of the reply.
func (s *server) devLoop() {
	defer s.wg.Done()
	buf := make([]byte, maxWrite+64*1024)
	out := make([]byte, maxWrite+4096)
	for {
		n, err := unix.Read(s.fd, buf)
		if err != nil {
			switch err {
			case unix.EINTR, unix.ENOENT, unix.EAGAIN:
				continue
			case unix.ENODEV:
				return
			}
			if !s.stopping.Load() {
				logf("read /dev/fuse: %v", err)
			}
			return
		}
		if n < inHeaderSize {
			logf("short read %d", n)
			continue
		}
		h := parseInHeader(buf)
		body := buf[inHeaderSize:n]
		if h.Opcode == opInit {
			s.handleInit(&h, body)
			continue
		}
		a0 := arg0Size(h.Opcode)
		if a0 > len(body) {
			a0 = len(body)
		}
		errno, plen, reply := s.fs.handle(0, &h, body[:a0], body[a0:], out[outHeaderSize:])
		if !reply {
			continue
		}
		plen = putOutHeader(out, errno, plen, h.Unique)
		var werr error
		if plen > 0 {
			_, werr = unix.Writev(s.fd, [][]byte{out[:outHeaderSize], out[outHeaderSize : outHeaderSize+plen]})
		} else {
			_, werr = unix.Writev(s.fd, [][]byte{out[:outHeaderSize]})
		}
		if werr != nil && werr != unix.ENOENT && !s.stopping.Load() {
			logf("writev reply op=%d: %v", h.Opcode, werr)
		}
	}
}

func (s *server) handleInit(h *inHeader, body []byte) {
	s.fs.counters[0][opInit].Add(1)
	kMajor := le.Uint32(body[0:])
	kMinor := le.Uint32(body[4:])
	kFlags := uint64(le.Uint32(body[12:]))
	if len(body) >= 20 {
		kFlags |= uint64(le.Uint32(body[16:])) << 32
	}
	logf("INIT from kernel: %d.%d flags=%#x (kernel offers OVER_IO_URING=%v)", kMajor, kMinor, kFlags, kFlags&(1<<41) != 0)
	s.kMinor = kMinor
	out := make([]byte, outHeaderSize+64)
	r := out[outHeaderSize:]
	le.PutUint32(r[0:], 7)
	le.PutUint32(r[4:], kMinor)
	le.PutUint32(r[8:], 128*1024) // max_readahead
	flags := uint32(initAsyncRead | initBigWrites | initParallelDir | initExt)
	var flags2 uint32
	if s.mode == "uring" {
		flags2 |= init2OverIoUring
	}
	le.PutUint32(r[12:], flags)
	le.PutUint16(r[16:], 16)       // max_background
	le.PutUint16(r[18:], 12)       // congestion_threshold
	le.PutUint32(r[20:], maxWrite) // max_write
	le.PutUint32(r[24:], 1)        // time_gran
	le.PutUint16(r[28:], 0)        // max_pages (FUSE_MAX_PAGES not set)
	le.PutUint32(r[32:], flags2)
	le.PutUint32(out[0:], uint32(len(out)))
	le.PutUint32(out[4:], 0)
	le.PutUint64(out[8:], h.Unique)
	if _, err := unix.Write(s.fd, out); err != nil {
		logf("INIT reply: %v", err)
	}
	s.initOnce.Do(func() { close(s.initDone) })
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[serve %s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "fatal: "+format+"\n", a...)
	os.Exit(1)
}
