package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// mountHelperName is the name mount(8) runs for `mount -t fuse.rewindfs`
// and for an /etc/fstab line of type fuse.rewindfs: /sbin/mount.fuse.rewindfs,
// a symbolic link to this program (scripts/install.sh makes it).
const mountHelperName = "mount.fuse.rewindfs"

// Exit statuses of a mount helper, as mount(8) documents them.
const (
	mountExitUsage   = 1
	mountExitFailure = 32
)

// mountHelperUsage is what a bad invocation prints.
const mountHelperUsage = "usage: mount.fuse.rewindfs VOLUME MOUNTPOINT [-sfnv] [-o OPTIONS]\n" +
	"  OPTIONS (comma-separated): ro, rw, allow_other, at=TARGET, metrics_addr=HOST:PORT,\n" +
	"  dsync_direct, debug;\n" +
	"  mount(8) and systemd options (defaults, auto, noauto, nofail, _netdev, user, x-*, comment=*,\n" +
	"  suid, nosuid, dev, nodev, exec, noexec, atime, noatime, relatime) are accepted and ignored.\n" +
	"  -s (sloppy) ignores unknown options too; -f (fake) checks and mounts nothing.\n" +
	"fstab: /var/lib/rewindfs/pg  /srv/pg  fuse.rewindfs  allow_other,nofail  0  0"

// isMountHelper says whether this program was started as mount(8)'s helper.
func isMountHelper(argv0 string) bool { return filepath.Base(argv0) == mountHelperName }

// ignoredMountOptions are options of mount(8), of systemd's fstab
// generator or of the kernel that mean nothing to rewindfs (a FUSE mount
// is nosuid and nodev anyway; rewindfs never updates access times).
var ignoredMountOptions = map[string]bool{
	"defaults": true, "auto": true, "noauto": true, "nofail": true, "_netdev": true,
	"user": true, "users": true, "nouser": true, "owner": true, "group": true,
	"suid": true, "nosuid": true, "dev": true, "nodev": true, "exec": true, "noexec": true,
	"async": true, "atime": true, "noatime": true, "relatime": true, "strictatime": true,
	"nodiratime": true, "diratime": true, "lazytime": true, "nolazytime": true,
	"rw": true, "silent": true, "loud": true,
}

// mountHelperArgs turns mount(8)'s helper command line (after the program
// name) into `rewindfs mount` arguments. fake is -f: check, mount nothing.
func mountHelperArgs(args []string) (mountArgs []string, fake, verbose bool, err error) {
	var pos, opts []string
	sloppy := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o":
			if i+1 == len(args) {
				return nil, false, false, fmt.Errorf("-o needs OPTIONS")
			}
			i++
			opts = append(opts, strings.Split(args[i], ",")...)
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, strings.Split(a[2:], ",")...)
		case a == "-t":
			i++ // the type: fuse.rewindfs, since mount(8) chose us by it
		case a == "-N":
			return nil, false, false, fmt.Errorf("-N (another mount namespace) is not supported")
		case len(a) > 1 && a[0] == '-':
			for _, f := range a[1:] {
				switch f {
				case 's':
					sloppy = true
				case 'f':
					fake = true
				case 'v':
					verbose = true
				case 'n': // no /etc/mtab: there is none to write
				default:
					return nil, false, false, fmt.Errorf("unknown flag -%c", f)
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, false, false, fmt.Errorf("want VOLUME and MOUNTPOINT, got %d argument(s)", len(pos))
	}
	mountArgs = []string{"mount", pos[0], pos[1]}
	for _, o := range opts {
		key, val, hasVal := strings.Cut(o, "=")
		switch {
		case o == "":
		case key == "ro" && !hasVal:
			mountArgs = append(mountArgs, "--read-only")
		case key == "allow_other" && !hasVal:
			mountArgs = append(mountArgs, "--allow-other")
		case key == "debug" && !hasVal:
			mountArgs = append(mountArgs, "--debug")
		case key == "dsync_direct" && !hasVal:
			mountArgs = append(mountArgs, "--dsync-direct")
		case key == "at" && val != "":
			mountArgs = append(mountArgs, "--at", val)
		case key == "metrics_addr" && val != "":
			mountArgs = append(mountArgs, "--metrics-addr", val)
		case ignoredMountOptions[key] && !hasVal,
			strings.HasPrefix(key, "x-"), key == "comment":
		case sloppy:
		default:
			return nil, false, false, fmt.Errorf("unknown option %q", o)
		}
	}
	// mount(8) waits for the helper; the helper returns once the file
	// system serves, as `rewindfs mount` does. --quiet: mount(8) may run
	// at boot with no one to see a progress bar.
	mountArgs = append(mountArgs, "--quiet")
	return mountArgs, fake, verbose, nil
}

// runMountHelper is main for mount.fuse.rewindfs: it runs `rewindfs mount`
// with the options translated, and exits as mount(8) expects.
func runMountHelper() {
	args, fake, verbose, err := mountHelperArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "mount.fuse.rewindfs: %v\n%s\n", err, mountHelperUsage)
		os.Exit(mountExitUsage)
	}
	if verbose || fake {
		fmt.Fprintf(os.Stderr, "mount.fuse.rewindfs: rewindfs %s\n", shellJoin(args...))
	}
	if fake {
		return
	}
	// The daemon is started again from os.Args (spawnDaemon), as if the
	// command line had been `rewindfs mount ...`.
	os.Args = append([]string{"rewindfs"}, args...)
	app := newApp()
	if err := app.Run(reorderFlags(app, os.Args)); err != nil {
		msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
		fmt.Fprintf(os.Stderr, "mount.fuse.rewindfs: %s\n", msg)
		os.Exit(mountExitFailure)
	}
}
