package daemon

import (
	"log"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rewindfs/rewindfs/fusefs"
	"github.com/rewindfs/rewindfs/metrics"
	"github.com/rewindfs/rewindfs/volume"
)

// metricsListener holds the --metrics-addr socket from before the mount
// until the daemon serves on it.
type metricsListener struct {
	ln       net.Listener
	loopback bool
}

// listenMetrics opens the metrics socket first of all, so that an address
// that cannot be had (taken, malformed, no host) fails the mount before
// anything is mounted. It returns nil without an address.
func listenMetrics(addr string) (*metricsListener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, loopback, err := metrics.Listen(addr)
	if err != nil {
		return nil, err
	}
	return &metricsListener{ln: ln, loopback: loopback}, nil
}

func (m *metricsListener) close() {
	if m != nil {
		m.ln.Close()
	}
}

// rawFS is what the FUSE server serves: the file system, observed for the
// metrics when they are on.
func (d *daemon) rawFS(cfg Config) fuse.RawFileSystem {
	if cfg.MetricsAddr == "" {
		return d.fs
	}
	d.mx = metrics.New(d.status)
	return fusefs.Observe(d.fs, func(op string, took time.Duration, st fuse.Status) {
		d.mx.FUSE(op, took, syscall.Errno(st))
	})
}

// serveMetrics starts answering scrapes once the mount serves.
func (d *daemon) serveMetrics(m *metricsListener) {
	if m == nil || d.mx == nil {
		m.close()
		return
	}
	addr := m.ln.Addr().String()
	d.mxAddr.Store(addr)
	d.mx.Serve(m.ln, log.Printf)
	log.Printf("serving Prometheus metrics at http://%s%s", addr, metrics.Path)
	if !m.loopback {
		log.Printf("the metrics at %s are reachable from other hosts and have no authentication", addr)
	}
}

// metricsAddr is where the metrics are served, "" if they are not (yet).
func (d *daemon) metricsAddr() string {
	addr, _ := d.mxAddr.Load().(string)
	return addr
}

// stopMetrics stops answering scrapes; it runs before the volume closes,
// since a scrape reads the volume's status.
func (d *daemon) stopMetrics() {
	if err := d.mx.Close(); err != nil {
		log.Printf("metrics: stop serving: %v", err)
	}
}

// status is what `rewindfs status` on the mount answers, and what a scrape
// reads.
func (d *daemon) status() volume.Status {
	s := d.v.Status()
	s.Mounted, s.Mountpoint, s.PID = true, d.mnt, os.Getpid()
	d.archiveStatus(&s)
	s.MetricsAddr = d.metricsAddr()
	return s
}
