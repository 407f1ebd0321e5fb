// Package control is the mounted daemon's control socket: the protocol, the
// server side the daemon runs, and the client the command line (and Go
// tests) use to ask a mounted volume for its status, a rewind, a mark or an
// unmount.
//
// The socket is VOLUME/control.sock, mode 0600. Each connection carries one
// request and one response, each a single JSON object on one line. The
// server checks the peer's credentials: only root and the user the daemon
// runs as may talk to it.
package control

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// SocketFile is the socket's name inside the volume directory.
const SocketFile = "control.sock"

// Request is what a client asks.
type Request struct {
	Op     string `json:"op"` // status, rewind, mark, sync, unmount, diff
	Target string `json:"target,omitempty"`
	From   string `json:"from,omitempty"` // diff: the state compared against Target
	DryRun bool   `json:"dry_run,omitempty"`
	Name   string `json:"name,omitempty"`
	Keep   bool   `json:"keep,omitempty"`
	Delete bool   `json:"delete,omitempty"` // mark: delete the mark Name
}

// Response is the daemon's answer. Error is one line meant for a person.
type Response struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// ErrNoDaemon is returned when no daemon answers on the volume's socket.
var ErrNoDaemon = errors.New("control: no daemon is serving this volume")

// maxSocketPath is the longest path a unix socket address holds on Linux.
const maxSocketPath = 107

// SocketPath returns the control socket of the volume in dir: in the volume
// when its path fits in a socket address, otherwise a short name derived
// from the volume's absolute path in a private run directory, which daemon
// and client compute alike.
func SocketPath(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return socketIn(abs, SocketFile, abs)
}

// ViewSocketPath returns the control socket of the read-only view of the
// volume in dir mounted at mountpoint: each view has its own, named after
// its mount point.
func ViewSocketPath(dir, mountpoint string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		mnt = mountpoint
	}
	sum := sha256.Sum256([]byte(mnt))
	return socketIn(abs, "view-"+hex.EncodeToString(sum[:8])+".sock", abs+"\x00"+mnt)
}

// socketIn returns dir/name, or, when that is too long for a socket
// address, a name derived from key in a private run directory.
func socketIn(dir, name, key string) string {
	p := filepath.Join(dir, name)
	if len(p) <= maxSocketPath {
		return p
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(runDir(), hex.EncodeToString(sum[:12])+".sock")
}

// runDir is where sockets of volumes with long paths live.
func runDir() string {
	if os.Geteuid() == 0 {
		return "/run/rewindfs"
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("rewindfs-%d", os.Geteuid()))
}

// Call sends one request to the daemon serving the volume in dir and
// decodes the result into out (which may be nil).
func Call(dir string, req Request, out any, timeout time.Duration) error {
	return CallSocket(SocketPath(dir), req, out, timeout)
}

// CallSocket is Call for a socket path (a view's, from ViewSocketPath).
func CallSocket(path string, req Request, out any, timeout time.Duration) error {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrNoDaemon, err)
	}
	defer conn.Close()
	if timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(timeout))
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return fmt.Errorf("control: send %s: %w", req.Op, err)
	}
	var resp Response
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("control: %s: no answer from the daemon: %w", req.Op, err)
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("control: %s: bad answer: %w", req.Op, err)
	}
	if !resp.OK {
		return errors.New(resp.Error)
	}
	if out != nil && len(resp.Result) > 0 {
		return json.Unmarshal(resp.Result, out)
	}
	return nil
}

// Handler answers one request.
type Handler func(req Request) (any, error)

// Listen opens the volume's control socket, replacing a stale one (the
// caller holds the volume lock, so no live daemon owns it).
func Listen(dir string) (*net.UnixListener, error) {
	return ListenSocket(SocketPath(dir))
}

// ListenSocket opens a control socket at path (mode 0600), replacing a
// stale one.
func ListenSocket(path string) (*net.UnixListener, error) {
	if filepath.Dir(path) == runDir() {
		if err := os.MkdirAll(runDir(), 0o700); err != nil {
			return nil, fmt.Errorf("control: %w", err)
		}
	}
	_ = os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Server answers requests on a listener. Connections from users other than
// root and the daemon's own are refused.
type Server struct {
	ln *net.UnixListener
	h  Handler
	wg sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	reading map[*net.UnixConn]bool // connections whose request has not arrived yet
}

// A request must arrive within requestTimeout of connecting and be at most
// maxRequest bytes: a client that connects and sends nothing (a stuck
// script, nc -U) must not hold a goroutine, nor hold up an unmount, which
// waits for the requests under way.
const (
	requestTimeout = 30 * time.Second
	maxRequest     = 1 << 20
)

// NewServer starts answering requests on ln.
func NewServer(ln *net.UnixListener, h Handler) *Server {
	s := &Server{ln: ln, h: h, reading: map[*net.UnixConn]bool{}}
	s.wg.Add(1)
	go s.serve()
	return s
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(conn)
		}()
	}
}

// Close stops accepting and waits until every request under way has been
// answered (an unmount request is answered after the unmount it caused).
func (s *Server) Close() error {
	err := s.ln.Close()
	// Connections still waiting for their request get none now.
	s.mu.Lock()
	s.closed = true
	for c := range s.reading {
		_ = c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// readRequest reads the request line of conn, within requestTimeout and
// maxRequest bytes.
func (s *Server) readRequest(conn *net.UnixConn) ([]byte, error) {
	deadline := time.Now().Add(requestTimeout)
	s.mu.Lock()
	if s.closed {
		deadline = time.Now()
	}
	s.reading[conn] = true
	err := conn.SetReadDeadline(deadline)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.reading, conn)
		s.mu.Unlock()
	}()
	if err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(io.LimitReader(conn, maxRequest)).ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	return line, conn.SetReadDeadline(time.Time{})
}

func (s *Server) serveConn(conn *net.UnixConn) {
	defer conn.Close()
	enc := json.NewEncoder(conn)
	if err := checkPeer(conn); err != nil {
		_ = enc.Encode(Response{Error: err.Error()})
		return
	}
	line, err := s.readRequest(conn)
	if err != nil {
		return
	}
	h := s.h
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		_ = enc.Encode(Response{Error: "control: malformed request: " + err.Error()})
		return
	}
	res, err := h(req)
	if err != nil {
		_ = enc.Encode(Response{Error: err.Error()})
		return
	}
	b, err := json.Marshal(res)
	if err != nil {
		_ = enc.Encode(Response{Error: err.Error()})
		return
	}
	_ = enc.Encode(Response{OK: true, Result: b})
}

func checkPeer(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("control: user %d may not control this volume (only root and user %d)", cred.Uid, os.Geteuid())
	}
	return nil
}
