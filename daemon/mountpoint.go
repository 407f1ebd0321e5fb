package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
)

// checkMountpoint refuses a mount point that is the volume directory, lies
// inside it, or holds it. Such a mount hides the volume from the daemon
// serving it: the next file operation it makes there by name (the control
// socket, a new segment) would be a request to itself, which it cannot
// answer while it waits, and the mount hangs for good. Symbolic links are
// resolved first, so that no second name for the same directory gets past.
func checkMountpoint(vol, mnt string) error {
	v, err := realPath(vol)
	if err != nil {
		return err
	}
	m, err := realPath(mnt)
	if err != nil {
		return err
	}
	switch {
	case v == m:
		return fmt.Errorf("mount point %s is the volume directory itself: mount the volume on a directory outside it", mnt)
	case within(m, v):
		return fmt.Errorf("mount point %s is inside the volume %s: mount the volume on a directory outside it", mnt, v)
	case within(v, m):
		return fmt.Errorf("mount point %s holds the volume %s: the mount would hide it; mount the volume on a directory outside it", mnt, v)
	}
	return nil
}

// realPath is the absolute path of p with every symbolic link resolved.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	r, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	return r, nil
}

// within reports whether path p lies strictly below directory dir.
func within(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}
