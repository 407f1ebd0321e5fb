package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/daemon"
	"github.com/rewindfs/rewindfs/volume"
)

// target is what a VOLUME|MOUNTPOINT argument names.
type target struct {
	volume     string // the volume directory (absolute)
	mountpoint string // where it is mounted (read-write, or the view's)
	view       bool   // the argument was a read-only view's mount point
}

// socket returns the control socket of the daemon the target names.
func (t target) socket() string {
	if t.view {
		return control.ViewSocketPath(t.volume, t.mountpoint)
	}
	return control.SocketPath(t.volume)
}

// resolve accepts a volume directory or a mount point of one.
func resolve(arg string) (target, error) {
	abs, err := filepath.Abs(arg)
	if err != nil {
		return target{}, err
	}
	mounts, err := rewindfsMounts()
	if err != nil {
		return target{}, err
	}
	if src, ok := mounts[abs]; ok {
		return target{volume: strings.TrimSuffix(src, daemon.ViewSuffix), mountpoint: abs,
			view: strings.HasSuffix(src, daemon.ViewSuffix)}, nil
	}
	if _, err := os.Stat(filepath.Join(abs, volume.SettingsFile)); err != nil {
		if _, serr := os.Stat(abs); errors.Is(serr, os.ErrNotExist) {
			return target{}, fmt.Errorf("%s does not exist: give a volume directory or the mount point of one", abs)
		}
		return target{}, fmt.Errorf("%s is neither a rewindfs volume nor a rewindfs mount point", abs)
	}
	t := target{volume: abs}
	for mnt, src := range mounts {
		if src == abs { // the read-write mount, not a view
			t.mountpoint = mnt
		}
	}
	return t, nil
}

// rewindfsMounts maps each rewindfs mount point to its source (the volume
// directory, with daemon.ViewSuffix for read-only views).
func rewindfsMounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf := strings.Fields(pre)
		qf := strings.Fields(post)
		if len(pf) < 5 || len(qf) < 2 || qf[0] != "fuse.rewindfs" {
			continue
		}
		out[unescapeMount(pf[4])] = unescapeMount(qf[1])
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// resolveArg checks that the command got exactly its one argument (usage
// names it) and resolves it.
func resolveArg(c *cli.Context, usage string) (target, error) {
	if err := needArgs(c, 1, usage); err != nil {
		return target{}, err
	}
	return resolve(c.Args().Get(0))
}
