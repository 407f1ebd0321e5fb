package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/volume"
)

// closeWait is how long unmount waits for the daemon to close the volume.
const closeWait = 2 * time.Minute

func unmount(arg string) error {
	mnt, err := filepath.Abs(arg)
	if err != nil {
		return err
	}
	mounts, err := rewindfsMounts()
	if err != nil {
		return err
	}
	if _, ok := mounts[mnt]; !ok {
		return fmt.Errorf("%s is not a rewindfs mount point", mnt)
	}
	t, err := resolve(mnt)
	if err != nil {
		return err
	}
	// Ask for the daemon's pid first, so that we can wait for it to exit.
	var s volume.Status
	_ = control.CallSocket(t.socket(), control.Request{Op: "status"}, &s, 10*time.Second)
	err = control.CallSocket(t.socket(), control.Request{Op: "unmount"}, nil, closeWait)
	if errors.Is(err, control.ErrNoDaemon) {
		// The daemon is gone (killed, crashed): the kernel mount is dead and
		// only needs detaching. The volume recovers on the next mount.
		if uerr := syscall.Unmount(mnt, syscall.MNT_DETACH); uerr != nil {
			return fmt.Errorf("detach dead mount %s: %w", mnt, uerr)
		}
		return nil
	}
	if err != nil {
		return err
	}
	// The daemon answers once the kernel has unmounted; wait until it has
	// closed the volume and exited.
	deadline := time.Now().Add(closeWait)
	for s.PID > 0 && running(s.PID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("unmounted %s, but daemon %d has not exited after %s; see %s", mnt, s.PID, closeWait, filepath.Join(t.volume, volume.DaemonLog))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// running reports whether pid is a live process. A daemon that has exited
// but is not yet reaped (a zombie, until init gets to it) is not running.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}
