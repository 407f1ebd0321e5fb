package fusetrace

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Errors Start returns when the kernel cannot trace FUSE requests.
var (
	// ErrNoTracefs is returned when tracefs is not mounted.
	ErrNoTracefs = errors.New("fusetrace: tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)")
	// ErrNoEvents is returned by a kernel without FUSE request tracepoints.
	ErrNoEvents = errors.New("fusetrace: this kernel has no FUSE request tracepoints (events/fuse/fuse_request_send in tracefs)")
)

// InstancePrefix starts the name of a session's tracefs instance; the
// process's pid follows, so that an instance left by a killed process
// can be told from a live one and removed.
const InstancePrefix = "rewindfs-latency-"

// bufferKB is each CPU's trace buffer. The reader drains it ten times a
// second; 8 MiB holds about 100,000 requests' events.
const bufferKB = 8192

// Session is a measurement in progress: events are read as they come, so a
// measurement can last as long as wanted.
type Session struct {
	Dir      string // the tracefs instance
	pipe     *os.File
	started  time.Time
	stopping atomic.Bool
	done     chan error

	mu sync.Mutex
	c  *Collector
}

// Connection returns the kernel's number for the FUSE connection of the
// file system mounted at mnt: the device number of its root, in the
// kernel's encoding (major << 20 | minor), as the tracepoints print it and
// as /sys/fs/fuse/connections names it.
func Connection(mnt string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		return 0, fmt.Errorf("fusetrace: %w", err)
	}
	return uint64(unix.Major(st.Dev))<<20 | uint64(unix.Minor(st.Dev)), nil
}

// Start begins measuring the requests of FUSE connection conn.
func Start(conn uint64) (*Session, error) {
	root := ""
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if st, err := os.Stat(filepath.Join(d, "instances")); err == nil && st.IsDir() {
			root = d
			break
		}
	}
	if root == "" {
		return nil, ErrNoTracefs
	}
	if _, err := os.Stat(filepath.Join(root, "events", "fuse", "fuse_request_send")); err != nil {
		return nil, ErrNoEvents
	}
	removeStale(filepath.Join(root, "instances"))
	dir := filepath.Join(root, "instances", InstancePrefix+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("fusetrace: %w: measuring uses the kernel's tracing, which needs root", err)
		}
		return nil, fmt.Errorf("fusetrace: make trace instance: %w", err)
	}
	s := &Session{Dir: dir, c: NewCollector(conn), done: make(chan error, 1)}
	if err := s.setup(conn); err != nil {
		s.remove()
		return nil, err
	}
	s.started = time.Now()
	go s.read()
	return s, nil
}

// setup configures the instance and opens its pipe; tracing starts last.
func (s *Session) setup(conn uint64) error {
	set := func(file, val string) error {
		if err := os.WriteFile(filepath.Join(s.Dir, file), []byte(val), 0); err != nil {
			return fmt.Errorf("fusetrace: set %s to %q: %w", file, val, err)
		}
		return nil
	}
	// Send and answer are often stamped on different CPUs: the default
	// clock ("local") is not comparable across CPUs, "mono" is.
	for _, w := range [][2]string{
		{"tracing_on", "0"},
		{"trace_clock", "mono"},
		{"buffer_size_kb", strconv.Itoa(bufferKB)},
		{"events/fuse/filter", fmt.Sprintf("connection == %d", conn)},
		{"events/fuse/fuse_request_send/enable", "1"},
		{"events/fuse/fuse_request_end/enable", "1"},
	} {
		if err := set(w[0], w[1]); err != nil {
			return err
		}
	}
	pipe, err := os.OpenFile(filepath.Join(s.Dir, "trace_pipe"), os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("fusetrace: %w", err)
	}
	s.pipe = pipe
	return set("tracing_on", "1")
}

// read feeds the collector until Stop has turned tracing off and the
// buffer is empty. The read deadline lets it notice both without relying
// on the pipe's poll, which waits for the buffer to fill to a watermark.
func (s *Session) read() {
	buf := make([]byte, 256<<10)
	var part []byte // a line not yet ended
	for {
		stopping := s.stopping.Load()
		_ = s.pipe.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := s.pipe.Read(buf)
		if n > 0 {
			part = append(part, buf[:n]...)
			s.mu.Lock()
			for {
				i := bytes.IndexByte(part, '\n')
				if i < 0 {
					break
				}
				s.c.Line(string(part[:i]))
				part = part[i+1:]
			}
			s.mu.Unlock()
			part = append([]byte(nil), part...)
		}
		if errors.Is(err, unix.EAGAIN) {
			// The pipe could not join Go's poller, so there are no
			// deadlines: poll by hand.
			time.Sleep(50 * time.Millisecond)
		} else if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			s.done <- fmt.Errorf("fusetrace: read %s: %w", s.pipe.Name(), err)
			return
		}
		// Tracing was already off before this read found nothing: drained.
		if n == 0 && stopping {
			s.done <- nil
			return
		}
	}
}

// Stop ends the measurement, removes the instance and returns the report
// and how long the measurement lasted. Call it once.
func (s *Session) Stop() (Report, time.Duration, error) {
	took := time.Since(s.started)
	err := os.WriteFile(filepath.Join(s.Dir, "tracing_on"), []byte("0"), 0)
	s.stopping.Store(true)
	if rerr := <-s.done; err == nil {
		err = rerr
	}
	s.remove()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Report(), took, err
}

// remove closes the pipe and removes the instance, its buffers with it.
func (s *Session) remove() {
	if s.pipe != nil {
		s.pipe.Close()
	}
	_ = os.Remove(s.Dir)
}

// removeStale removes instances left by sessions whose process is gone
// (killed before Stop): each holds trace buffers until removed.
func removeStale(instances string) {
	ents, err := os.ReadDir(instances)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), InstancePrefix))
		if !strings.HasPrefix(e.Name(), InstancePrefix) || err != nil || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			_ = os.Remove(filepath.Join(instances, e.Name()))
		}
	}
}
