// Package daemon runs a mount: it opens the volume, serves it over FUSE,
// answers the control socket, and on unmount or SIGTERM syncs and closes.
package daemon

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/fusefs"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/metrics"
	"github.com/rewindfs/rewindfs/volume"
)

// Config says what to mount where.
type Config struct {
	Volume     string
	Mountpoint string
	ReadOnly   bool
	At         string // a target; empty means the head
	AllowOther bool
	Debug      bool
	// DsyncDirect is fusefs.Options.DsyncDirect: O_DSYNC and O_SYNC
	// files written without the page cache, one round trip a write.
	DsyncDirect bool
	// MetricsAddr, if set, is the HOST:PORT to serve Prometheus metrics
	// on (metrics.go).
	MetricsAddr string
	// Progress, if set, is called a few times a second while the volume
	// is opened (the log scanned) with the bytes read so far and an
	// estimate of the total (recovery.go).
	Progress func(read, total int64)
	// Ready is called once: with nil when the file system is mounted and
	// serving, or with the reason it could not be.
	Ready func(error)
}

// ViewSuffix marks the mount source of a read-only view: "VOLUME@view".
const ViewSuffix = "@view"

// Run mounts and serves until the file system is unmounted.
func Run(cfg Config) error {
	ready := cfg.Ready
	if ready == nil {
		ready = func(error) {}
	}
	mln, err := listenMetrics(cfg.MetricsAddr)
	if err != nil {
		ready(err)
		return err
	}
	d, err := start(cfg)
	if err != nil {
		mln.close()
		ready(err)
		return err
	}
	d.serveMetrics(mln)
	ready(nil)
	log.Printf("serving %s at %s (head LSN %d, read-only %v, dsync-direct %v)", d.v.Dir, d.mnt, d.v.Head(), cfg.ReadOnly, cfg.DsyncDirect)
	return d.wait()
}

type daemon struct {
	v      *volume.Volume
	fs     *fusefs.FS
	server *fuse.Server
	mnt    string
	ctl    *control.Server
	sock   string
	// rewindMu keeps rewinds (and unmount) one at a time.
	rewindMu sync.Mutex
	arch     *archiver // nil without an archive (archive.go); guarded by archMu
	archMu   sync.Mutex
	// mx serves the metrics, nil without --metrics-addr (metrics.go);
	// mxAddr is the address it listens on (a string, set once it serves).
	mx     *metrics.Metrics
	mxAddr atomic.Value
}

func start(cfg Config) (*daemon, error) {
	mnt, err := filepath.Abs(cfg.Mountpoint)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(mnt)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("mount point %s does not exist (create it with mkdir)", mnt)
		}
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("mount point %s is not a directory", mnt)
	}
	if err := checkMountpoint(cfg.Volume, mnt); err != nil {
		return nil, err
	}
	var at *lsn.Target
	if cfg.At != "" {
		t, err := lsn.ParseTarget(cfg.At, time.Now())
		if err != nil {
			return nil, err
		}
		at = &t
	}
	began := time.Now()
	openFS, opened := watchOpen(cfg, crashFS())
	v, err := volume.Open(cfg.Volume, volume.Options{
		ReadOnly: cfg.ReadOnly, At: at, Purpose: "mounted at " + mnt, Logf: log.Printf, FS: openFS,
	})
	opened()
	if err != nil {
		return nil, err
	}
	r := v.Recovery
	log.Printf("opened %s in %s: %d records in %d segment(s), head LSN %d, %d bytes cut from a torn tail",
		v.Dir, time.Since(began).Round(time.Millisecond), r.Records, r.Segments, r.Head, r.CutBytes)
	d := &daemon{v: v, mnt: mnt}
	if err := d.prepareArchive(); err != nil {
		v.Close()
		return nil, err
	}
	mo := fusefs.Options{Name: v.Dir, ReadOnly: cfg.ReadOnly, AllowOther: cfg.AllowOther, Debug: cfg.Debug, DsyncDirect: cfg.DsyncDirect}
	if cfg.ReadOnly {
		mo.Name += ViewSuffix
	}
	d.fs = fusefs.New(v, mo, log.Printf)
	server, err := fuse.NewServer(d.rawFS(cfg), mnt, fusefs.MountOptions(mo))
	if err != nil {
		v.Close()
		return nil, fmt.Errorf("mount %s at %s: %w", v.Dir, mnt, err)
	}
	d.server = server
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		_ = server.Unmount()
		v.Close()
		return nil, fmt.Errorf("mount %s at %s: %w", v.Dir, mnt, err)
	}
	if err := fusefs.SetReadAhead(mnt); err != nil {
		log.Printf("%v (sequential reads come in smaller requests)", err)
	}
	d.sock = control.SocketPath(v.Dir)
	if cfg.ReadOnly {
		d.sock = control.ViewSocketPath(v.Dir, mnt)
	}
	ln, err := control.ListenSocket(d.sock)
	if err != nil {
		_ = server.Unmount()
		v.Close()
		return nil, err
	}
	if !cfg.ReadOnly {
		v.CheckPending() // wait starts the check
	}
	d.ctl = control.NewServer(ln, d.handle)
	return d, nil
}

// wait serves until unmounted (by `rewindfs unmount`, umount, or a signal),
// then syncs and closes the volume.
func (d *daemon) wait() error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			log.Printf("%s: unmounting %s", s, d.mnt)
			if err := d.unmount(); err != nil {
				log.Printf("unmount: %v", err)
			}
		}
	}()
	stopFlush := make(chan struct{})
	flushed := make(chan struct{})
	go d.flushEvery(time.Second, stopFlush, flushed)
	compacted := make(chan struct{})
	if d.v.ReadOnly() {
		close(compacted)
	} else {
		go d.compactEvery(time.Second, stopFlush, compacted)
	}
	sealed := make(chan struct{})
	if d.v.ReadOnly() {
		close(sealed)
	} else {
		go d.sealEvery(time.Second, stopFlush, sealed)
	}
	// Only the read-write mount checks the sealed segments: a read-only
	// view reads the same files, and bisect mounts one view per
	// candidate, each of which would read the whole window again.
	scrubbed := make(chan struct{})
	if d.v.ReadOnly() {
		close(scrubbed)
	} else {
		go d.scrub(stopFlush, scrubbed)
	}
	d.runArchive()
	d.server.Wait()
	d.stopMetrics()
	close(stopFlush)
	<-flushed
	<-compacted
	<-sealed
	<-scrubbed
	d.stopArchive()
	signal.Stop(sigs)
	if d.ctl != nil {
		d.ctl.Close()
		_ = os.Remove(d.sock)
	}
	err := d.v.Close()
	if err != nil {
		log.Printf("close %s: %v", d.v.Dir, err)
	} else {
		log.Printf("unmounted %s, volume synced and closed", d.mnt)
	}
	return err
}

// scrub checks every record of the sealed segments not found whole in the
// last week, in the background (volume.Scrub): the mount read their
// indexes, not their records. Damage is logged and shown by status until
// the volume is unmounted.
func (d *daemon) scrub(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	start := time.Now()
	read, trusted, err := d.v.Scrub(stop)
	if err != nil {
		log.Printf("DAMAGED LOG: %v: reads of what that record wrote return what is on the disk; run rewindfs verify %s", err, d.v.Dir)
		return
	}
	select {
	case <-stop:
	default:
		log.Printf("checked every record of %d sealed segments in %s: no damage (%d more were found whole in the last %d days)",
			read, time.Since(start).Round(time.Millisecond), trusted, int(volume.RecheckAfter.Hours()/24))
	}
}

// every calls fn every period until stop is closed, then closes done: the
// daemon's background loops (flush, compaction, archive sealing).
func every(period time.Duration, stop <-chan struct{}, done chan<- struct{}, fn func()) {
	defer close(done)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// flushEvery syncs the log every period while there is something unsynced.
func (d *daemon) flushEvery(period time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	every(period, stop, done, func() {
		if err := d.v.Flush(); err != nil {
			log.Printf("background flush: %v", err)
		}
	})
}

// unmount makes everything durable, then unmounts. The kernel refuses while
// the mount is busy (open files, a working directory inside it).
func (d *daemon) unmount() error {
	d.rewindMu.Lock()
	defer d.rewindMu.Unlock()
	if err := d.v.Sync(); err != nil {
		return fmt.Errorf("sync before unmount: %w", err)
	}
	if err := d.server.Unmount(); err != nil {
		if n := d.v.OpenFiles(); n > 0 {
			return fmt.Errorf("%s is busy: %d file handle(s) open; close them (fuser -m %s) and try again", d.mnt, n, d.mnt)
		}
		return fmt.Errorf("unmount %s: %w (is a process using it as its working directory? fuser -m %s)", d.mnt, err, d.mnt)
	}
	return nil
}
