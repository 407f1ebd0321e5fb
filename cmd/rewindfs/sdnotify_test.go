package main

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/daemon"
)

// TestNotifySystemd: under a Type=notify service, the daemon sends
// READY=1 once it serves, and nothing when it could not start.
func TestNotifySystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	read := func() string {
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		b := make([]byte, 4096)
		n, err := conn.Read(b)
		if err != nil {
			return ""
		}
		return string(b[:n])
	}

	t.Setenv(notifyEnv, sock)
	called := 0
	cfg := daemon.Config{Volume: "/v", Mountpoint: "/m", Ready: func(error) { called++ }}
	notifySystemd(&cfg)
	cfg.Ready(errors.New("no"))
	require.Equal(t, "", read(), "nothing sent when the mount failed")
	cfg.Ready(nil)
	msg := read()
	require.True(t, strings.HasPrefix(msg, "READY=1\n"), msg)
	require.Contains(t, msg, "STATUS=serving /v at /m")
	require.Equal(t, 2, called, "the Ready that was there is still called")

	t.Setenv(notifyEnv, "")
	cfg = daemon.Config{}
	notifySystemd(&cfg)
	require.Nil(t, cfg.Ready, "without systemd nothing changes")
}
