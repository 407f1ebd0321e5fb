package control

import (
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
