package main

import (
	"fmt"
	"log"
	"net"
	"os"

	"github.com/rewindfs/rewindfs/daemon"
)

// notifyEnv names the socket systemd gives a Type=notify service
// (sd_notify(3)); a name that starts with @ is in the abstract namespace,
// which Go's net package understands as it is.
const notifyEnv = "NOTIFY_SOCKET"

// notifySystemd makes the daemon tell systemd when it serves, if systemd
// started it as a Type=notify service (contrib/rewindfs@.service): units
// ordered after it then start only once the mount serves. Without
// $NOTIFY_SOCKET it changes nothing.
func notifySystemd(cfg *daemon.Config) {
	sock := os.Getenv(notifyEnv)
	if sock == "" {
		return
	}
	os.Unsetenv(notifyEnv) // not for the processes the daemon starts
	prev := cfg.Ready
	vol, mnt := cfg.Volume, cfg.Mountpoint
	cfg.Ready = func(err error) {
		if prev != nil {
			prev(err)
		}
		if err != nil {
			return
		}
		if err := sdNotify(sock, fmt.Sprintf("READY=1\nSTATUS=serving %s at %s\nMAINPID=%d", vol, mnt, os.Getpid())); err != nil {
			log.Printf("tell systemd the mount serves ($%s=%s): %v", notifyEnv, sock, err)
		}
	}
}

// sdNotify sends one state message to systemd's notification socket.
func sdNotify(sock, state string) error {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}
