package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/daemon"
	"github.com/rewindfs/rewindfs/metrics"
	"github.com/rewindfs/rewindfs/volume"
)

// readyFDEnv names the file descriptor on which a daemon started by `mount`
// tells its parent that it is serving ("ok") or why it is not.
const readyFDEnv = "REWINDFS_READY_FD"

// mountWait is how long `mount` waits for the daemon to serve. Recovery of a
// long log is the slow part.
const mountWait = 10 * time.Minute

func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "serve a volume at a mount point",
		ArgsUsage: "VOLUME MOUNTPOINT",
		Description: "Recovers the volume's log (cutting a torn tail, refusing a corrupt one), mounts it and\n" +
			"returns once the file system is serving; the daemon runs on in the background and logs to\n" +
			"VOLUME/daemon.log. With --foreground it stays in the foreground (for systemd).\n\n" +
			"  --at TARGET --read-only   a time-travel view of state(TARGET) that changes nothing; it can\n" +
			"                            be mounted while the volume is also mounted read-write\n" +
			"  --at TARGET               rewinds the volume to TARGET first, then mounts it read-write\n\n" +
			"A database that runs as another user (PostgreSQL as postgres) needs --allow-other.\n\n" +
			"--metrics-addr HOST:PORT serves Prometheus metrics (rewindfs_*: the numbers status shows,\n" +
			"FUSE requests and errors, fsync latency, rewinds) at http://HOST:PORT/metrics. The host is\n" +
			"required: 127.0.0.1 serves this host only; 0.0.0.0 or another address serves other hosts\n" +
			"too, without authentication. Port 0 takes a free port; status --json names it\n" +
			"(metrics_addr).\n\n" +
			"--dsync-direct writes files opened with O_DSYNC or O_SYNC without the kernel's page\n" +
			"cache: each write is one request that returns durable, instead of two round trips. For\n" +
			"PostgreSQL with wal_sync_method=open_datasync and InnoDB with innodb_flush_method=O_DSYNC\n" +
			"(README: Measured). The catch: stat shows such a file's mtime and ctime as they were before\n" +
			"those writes, until the kernel forgets the inode (a remount shows the right times).\n\n" +
			"When opening the volume takes longer than two seconds (a long log to scan), mount shows\n" +
			"how far it is on stderr, unless --quiet.\n\n" +
			"mount -t fuse.rewindfs and /etc/fstab work through /sbin/mount.fuse.rewindfs, a link to\n" +
			"this program (scripts/install.sh makes it; see README).\n\n" +
			"Examples:\n" +
			"  rewindfs mount /var/lib/rewindfs/pg /srv/pg --allow-other\n" +
			"  rewindfs mount /var/lib/rewindfs/pg /mnt/past --read-only --at 10m\n" +
			"  rewindfs mount /var/lib/rewindfs/pg /srv/pg --allow-other --metrics-addr 127.0.0.1:9470",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "foreground", Aliases: []string{"f"}, Usage: "stay in the foreground"},
			&cli.BoolFlag{Name: "read-only", Usage: "serve read-only (a view when used with --at)"},
			&cli.StringFlag{Name: "at", Usage: "serve state(`TARGET`): an LSN, RFC 3339 time, duration ago or mark"},
			&cli.BoolFlag{Name: "allow-other", Usage: "let users other than the mounting one use the mount (off by default)"},
			&cli.BoolFlag{Name: "debug", Usage: "log every FUSE request (very verbose)"},
			&cli.BoolFlag{Name: "dsync-direct", Usage: "one round trip per write to an O_DSYNC/O_SYNC file (stat's mtime of such files lags; see above)"},
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics at http://`HOST:PORT`/metrics (127.0.0.1:9470: this host only)"},
			quietFlag,
		},
		Action: runMount,
	}
}

func runMount(c *cli.Context) (err error) {
	defer func() { reportNotReady(err) }()
	if err := needArgs(c, 2, "VOLUME MOUNTPOINT"); err != nil {
		return err
	}
	vol, mnt := c.Args().Get(0), c.Args().Get(1)
	// Check what can be checked here, so that mistakes get a quick answer.
	if c.Bool("read-only") && c.Bool("dsync-direct") {
		return fmt.Errorf("--dsync-direct changes how writes are made durable, and a read-only mount takes none: drop one of them")
	}
	if _, err := volume.ReadSettings(vol); err != nil {
		return err
	}
	if st, err := os.Stat(mnt); err != nil || !st.IsDir() {
		abs, _ := filepath.Abs(mnt)
		return fmt.Errorf("mount point %s does not exist or is not a directory (create it with mkdir -p %s)", abs, abs)
	}
	if !c.Bool("read-only") && volume.Locked(vol) {
		where := ""
		if t, err := resolve(vol); err == nil && t.mountpoint != "" {
			where = " at " + t.mountpoint
		}
		return fmt.Errorf("volume %s is already mounted%s: unmount it first, or mount a read-only view with --read-only --at TARGET", vol, where)
	}
	if a := c.String("metrics-addr"); a != "" {
		if err := metrics.CheckAddr(a); err != nil {
			return err
		}
	}
	cfg := daemon.Config{
		Volume: vol, Mountpoint: mnt, ReadOnly: c.Bool("read-only"), At: c.String("at"),
		AllowOther: c.Bool("allow-other"), Debug: c.Bool("debug"), MetricsAddr: c.String("metrics-addr"),
		DsyncDirect: c.Bool("dsync-direct"),
	}
	if c.Bool("foreground") {
		return runForeground(cfg, c.Bool("quiet"))
	}
	return spawnDaemon(vol, c.Bool("quiet"))
}

// runForeground serves until unmounted. Started by spawnDaemon, it reports
// readiness on the inherited descriptor, and before that how far the
// recovery of the log is ("progress READ TOTAL" lines); run by hand, it
// shows that itself.
func runForeground(cfg daemon.Config, quiet bool) error {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix(fmt.Sprintf("rewindfs[%d] ", os.Getpid()))
	if fdStr := os.Getenv(readyFDEnv); fdStr != "" {
		os.Unsetenv(readyFDEnv)
		fd, err := strconv.Atoi(fdStr)
		if err == nil {
			pipe := os.NewFile(uintptr(fd), "ready")
			cfg.Progress = func(read, total int64) { fmt.Fprintf(pipe, "progress %d %d\n", read, total) }
			cfg.Ready = func(err error) {
				if err != nil {
					fmt.Fprintf(pipe, "%s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
				} else {
					fmt.Fprintln(pipe, "ok")
				}
				pipe.Close()
			}
		}
	}
	if cfg.Ready == nil && !quiet {
		p := newProgress(false, "recovering the log", 0, true)
		cfg.Progress = func(read, total int64) { p.set(read, total) }
		cfg.Ready = func(error) { p.done() }
	}
	notifySystemd(&cfg)
	err := daemon.Run(cfg)
	if err != nil {
		log.Printf("exit: %v", err)
	}
	return err
}

// spawnDaemon starts this program again with --foreground in a new session,
// its output appended to the volume's daemon.log, and waits until it says it
// is serving or why it is not, showing how far its recovery is meanwhile.
func spawnDaemon(vol string, quiet bool) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(vol, volume.DaemonLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open daemon log: %w", err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	args := append([]string{os.Args[1], "--foreground"}, os.Args[2:]...)
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = "rewindfs" // not mount.fuse.rewindfs, which would be the mount helper again
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	w.Close()
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	p := newProgress(quiet, "recovering the log", 0, true)
	defer p.done()
	go func() {
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			line = strings.TrimSpace(line)
			var read, total int64
			if n, _ := fmt.Sscanf(line, "progress %d %d", &read, &total); n == 2 && err == nil {
				p.set(read, total)
				continue
			}
			ch <- answer{line, err}
			return
		}
	}()
	select {
	case a := <-ch:
		if a.line == "ok" {
			_ = cmd.Process.Release()
			return nil
		}
		_ = cmd.Wait()
		if a.line != "" {
			return errors.New(a.line)
		}
		return fmt.Errorf("the daemon exited before it was serving: %s", lastLine(filepath.Join(vol, volume.DaemonLog)))
	case <-time.After(mountWait):
		_ = cmd.Process.Kill()
		return fmt.Errorf("the daemon did not start serving within %s; see %s", mountWait, filepath.Join(vol, volume.DaemonLog))
	}
}

func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no daemon log)"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 4096 {
		_, _ = f.Seek(-4096, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func unmountCommand() *cli.Command {
	return &cli.Command{
		Name:      "unmount",
		Aliases:   []string{"umount"},
		Usage:     "sync and unmount a mounted volume",
		ArgsUsage: "MOUNTPOINT",
		Description: "Makes every change durable, unmounts, and waits for the daemon to close the volume.\n" +
			"Refuses while files on the mount are open. A mount whose daemon died is detached.\n" +
			"umount(8) works too: the daemon then syncs and closes the volume as it exits.\n\n" +
			"Example:\n" +
			"  rewindfs unmount /srv/pg",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "MOUNTPOINT"); err != nil {
				return err
			}
			return unmount(c.Args().Get(0))
		},
	}
}
