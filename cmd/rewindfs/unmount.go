package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/daemon"
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
	src, ok := mounts[mnt]
	if !ok {
		return fmt.Errorf("%s is not a rewindfs mount point", mnt)
	}
	if len(src) > len(daemon.ViewSuffix) && src[len(src)-len(daemon.ViewSuffix):] == daemon.ViewSuffix {
		// A view has no control socket; its daemon exits once unmounted.
		if err := syscall.Unmount(mnt, 0); err != nil {
			return fmt.Errorf("unmount view %s: %w (close the files open in it and try again)", mnt, err)
		}
		return nil
	}
	err = control.Call(src, control.Request{Op: "unmount"}, nil, closeWait)
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
	deadline := time.Now().Add(closeWait)
	for volume.Locked(src) {
		if time.Now().After(deadline) {
			return fmt.Errorf("unmounted %s, but the daemon has not closed %s after %s; see %s", mnt, src, closeWait, filepath.Join(src, volume.DaemonLog))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
