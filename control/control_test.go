package control

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCallRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	ln, err := Listen(dir)
	require.NoError(t, err)
	st, err := os.Stat(SocketPath(dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "control socket must be owner-only")
	srv := NewServer(ln, func(r Request) (any, error) {
		if r.Op == "fail" {
			return nil, os.ErrPermission
		}
		return map[string]string{"echo": r.Target}, nil
	})
	defer srv.Close()
	var out map[string]string
	require.NoError(t, Call(dir, Request{Op: "x", Target: "42"}, &out, time.Second))
	require.Equal(t, "42", out["echo"])
	err = Call(dir, Request{Op: "fail"}, nil, time.Second)
	require.EqualError(t, err, os.ErrPermission.Error())
}

func TestNoDaemon(t *testing.T) {
	err := Call(t.TempDir(), Request{Op: "status"}, nil, time.Second)
	require.ErrorIs(t, err, ErrNoDaemon)
}

// A volume path too long for a socket address gets a short socket path
// that daemon and client agree on.
func TestLongVolumePath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("v", 100))
	require.NoError(t, os.MkdirAll(dir, 0o700))
	p := SocketPath(dir)
	require.LessOrEqual(t, len(p), maxSocketPath)
	require.Equal(t, p, SocketPath(dir+"/"))
	ln, err := Listen(dir)
	require.NoError(t, err)
	srv := NewServer(ln, func(r Request) (any, error) { return "ok", nil })
	defer srv.Close()
	var s string
	require.NoError(t, Call(dir, Request{Op: "status"}, &s, time.Second))
	require.Equal(t, "ok", s)
}

// A client that connects and sends nothing does not hold up Close (an
// unmount waits for the requests under way), and a request without an end
// is cut off at maxRequest bytes instead of growing without bound.
func TestSilentAndEndlessClients(t *testing.T) {
	dir := t.TempDir()
	ln, err := Listen(dir)
	require.NoError(t, err)
	srv := NewServer(ln, func(r Request) (any, error) { return "ok", nil })

	silent, err := net.Dial("unix", SocketPath(dir))
	require.NoError(t, err)
	defer silent.Close()

	endless, err := net.Dial("unix", SocketPath(dir))
	require.NoError(t, err)
	defer endless.Close()
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = 'x'
	}
	sent := 0
	for sent <= maxRequest {
		_ = endless.SetWriteDeadline(time.Now().Add(5 * time.Second))
		n, err := endless.Write(junk)
		sent += n
		if err != nil {
			break // the server stopped reading and closed: what we want
		}
	}
	_ = endless.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = endless.Read(make([]byte, 1))
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server hangs up on a request over %d bytes: %v", maxRequest, err)

	// Another client is still answered meanwhile.
	var out string
	require.NoError(t, Call(dir, Request{Op: "x"}, &out, 5*time.Second))
	require.Equal(t, "ok", out)

	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a client that never sends its request")
	}
}
