// Package metrics serves a mount's numbers to Prometheus (`rewindfs mount
// --metrics-addr HOST:PORT`, path /metrics), every name prefixed rewindfs_.
//
// Two kinds of numbers:
//
//   - What `rewindfs status` shows (head LSN, log bytes, the window, the
//     compaction lag, open files, kept marks and their cost, the archive's
//     lag) is read from volume.Status when Prometheus scrapes, by a
//     collector, so that a scrape and `status --json` taken at the same
//     moment agree and nothing is counted twice.
//   - What happens between scrapes is counted as it happens: FUSE requests
//     by type and their errors, the latency of fsync requests, rewinds and
//     how long they took.
//
// The Go runtime's and the process's standard metrics (go_*, process_*:
// memory, CPU, file descriptors) are served beside them.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/rewindfs/rewindfs/volume"
)

// Namespace prefixes every metric of ours.
const Namespace = "rewindfs"

// Path is where the metrics are served.
const Path = "/metrics"

// fuseOps are the FUSE requests fusefs answers, named as fusefs.Observe
// names them. Their counters exist from the start (at zero), so that a
// rate over them needs no first request.
var fuseOps = []string{
	"lookup", "forget", "getattr", "setattr", "mknod", "mkdir", "unlink", "rmdir", "rename", "link",
	"symlink", "readlink", "access", "getxattr", "listxattr", "setxattr", "removexattr", "create",
	"tmpfile", "open", "read", "lseek", "getlk", "setlk", "setlkw", "release", "write",
	"copy_file_range", "ioctl", "flush", "fsync", "fallocate", "opendir", "readdir", "readdirplus",
	"releasedir", "fsyncdir", "statfs", "statx",
}

// Buckets of the latency histograms, in seconds. An fsync is one
// fdatasync of the log (a fraction of a millisecond to tens of
// milliseconds on a disk, more when it waits for another); a rewind is
// milliseconds to seconds.
var (
	fsyncBuckets  = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	rewindBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

// Metrics is the registry of one mount. Its methods are safe for
// concurrent use; a nil *Metrics counts nothing, so that callers need not
// check whether metrics are on.
type Metrics struct {
	reg        *prometheus.Registry
	fuseOps    *prometheus.CounterVec
	fuseErrors *prometheus.CounterVec
	fuseCount  map[string]prometheus.Counter // fuseOps' counters, looked up without hashing labels
	fsync      prometheus.Histogram
	rewinds    *prometheus.CounterVec
	rewindTime prometheus.Histogram
	srv        *http.Server
}

// New makes the registry. status is called once per scrape; it is what
// the daemon answers `rewindfs status` with.
func New(status func() volume.Status) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		fuseOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "fuse_operations_total",
			Help: "FUSE requests answered, by operation.",
		}, []string{"op"}),
		fuseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "fuse_errors_total",
			Help: "FUSE requests answered with an error, by operation and errno (ENOENT from lookup is the usual answer for a name that does not exist).",
		}, []string{"op", "errno"}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "fsync_duration_seconds",
			Help:    "Time to answer fsync and fdatasync requests on files and directories of the mount: the log is synced through the request's records.",
			Buckets: fsyncBuckets,
		}),
		rewinds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "rewinds_total",
			Help: "Live rewinds done by this daemon (result ok), and refused or failed (result error).",
		}, []string{"result"}),
		rewindTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "rewind_duration_seconds",
			Help:    "Time a live rewind took in the daemon, kernel cache invalidation included.",
			Buckets: rewindBuckets,
		}),
		fuseCount: map[string]prometheus.Counter{},
	}
	for _, op := range fuseOps {
		m.fuseCount[op] = m.fuseOps.WithLabelValues(op)
	}
	m.rewinds.WithLabelValues("ok")
	m.rewinds.WithLabelValues("error")
	m.reg.MustRegister(m.fuseOps, m.fuseErrors, m.fsync, m.rewinds, m.rewindTime,
		&statusCollector{status: status},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the registry behind the handler (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// FUSE counts one answered FUSE request; errno 0 is success. It has the
// shape of a fusefs.Observer once the status is converted.
func (m *Metrics) FUSE(op string, took time.Duration, errno syscall.Errno) {
	if m == nil {
		return
	}
	c := m.fuseCount[op] // read-only after New
	if c == nil {
		c = m.fuseOps.WithLabelValues(op)
	}
	c.Inc()
	if errno != 0 {
		m.fuseErrors.WithLabelValues(op, errnoName(errno)).Inc()
	}
	if op == "fsync" || op == "fsyncdir" {
		m.fsync.Observe(took.Seconds())
	}
}

// Rewound counts a live rewind that took took; err is why it was refused
// or failed.
func (m *Metrics) Rewound(took time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.rewinds.WithLabelValues("error").Inc()
		return
	}
	m.rewinds.WithLabelValues("ok").Inc()
	m.rewindTime.Observe(took.Seconds())
}

func errnoName(e syscall.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return strconv.Itoa(int(e))
}

// Handler serves the registry in Prometheus's text (or protobuf) format.
func (m *Metrics) Handler(logf func(string, ...any)) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            printlnLogger(logf),
		MaxRequestsInFlight: 4,
		Timeout:             time.Minute,
	})
}

type printlnLogger func(string, ...any)

func (l printlnLogger) Println(v ...any) { l("metrics: %s", fmt.Sprintln(v...)) }

// Serve answers HTTP requests on ln until Close: the metrics at /metrics,
// a line that says so at /, and, when ln is a loopback address, Go's
// profiles at /debug/pprof/ (go tool pprof http://127.0.0.1:PORT/debug/pprof/profile):
// what a request costs is best seen in a profile of the daemon under the
// real workload, and a loopback socket is reachable from this host only.
func (m *Metrics) Serve(ln net.Listener, logf func(string, ...any)) {
	if logf == nil {
		logf = log.Printf
	}
	mux := http.NewServeMux()
	mux.Handle(Path, m.Handler(logf))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "rewindfs: Prometheus metrics are at %s\n", Path)
	})
	if isLoopback(ln.Addr()) {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	srv := m.srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("metrics: serving on %s stopped: %v", ln.Addr(), err)
		}
	}()
}

// Close stops serving, letting a scrape in progress finish for a few
// seconds.
func (m *Metrics) Close() error {
	if m == nil || m.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return m.srv.Shutdown(ctx)
}

// CheckAddr checks the form of a --metrics-addr: HOST:PORT with both
// given. A host is required because an empty one (":9470") would serve
// every interface, and the metrics have no authentication: serving them
// beyond this host is allowed, but only when asked for by name
// (0.0.0.0:9470, or an address or name of this host's).
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %q: want HOST:PORT, for example 127.0.0.1:9470 (%v)", addr, err)
	}
	if host == "" {
		return fmt.Errorf("--metrics-addr %q names no host, which would serve every interface: give 127.0.0.1:%s to serve this host only, or 0.0.0.0:%s to serve every interface on purpose (the metrics have no authentication)", addr, port, port)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("--metrics-addr %q: the port must be a number from 0 to 65535", addr)
	}
	return nil
}

// Listen checks addr and listens on it (TCP). loopback says whether it
// listens on loopback addresses only.
func Listen(addr string) (ln net.Listener, loopback bool, err error) {
	if err := CheckAddr(addr); err != nil {
		return nil, false, err
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	return ln, isLoopback(ln.Addr()), nil
}

// isLoopback says whether a listener's address is reachable from this host
// only.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
