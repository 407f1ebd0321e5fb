package e2e

import (
	"bytes"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"
)

// scraped is one scrape of /metrics.
type scraped map[string]*dto.MetricFamily

func scrapeMetrics(t testing.TB, addr string) scraped {
	t.Helper()
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	return fams
}

// get returns the value of a metric (a histogram's count) whose labels
// include the name=value pairs given; ok is false if there is none.
func (s scraped) get(name string, labels ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func (s scraped) must(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.get(name, labels...)
	if !ok {
		t.Fatalf("/metrics has no %s %v", name, labels)
	}
	return v
}

// quietScrape scrapes while nothing changes the volume: status, scrape,
// status again, until the head did not move in between (the kernel may
// still be writing back pages when a program exits). It returns the
// scrape and the status after it.
func quietScrape(t testing.TB, mnt, addr string) (scraped, volStatus) {
	t.Helper()
	for i := 0; ; i++ {
		before := status(t, mnt)
		m := scrapeMetrics(t, addr)
		after := status(t, mnt)
		if before.int("head_lsn") == after.int("head_lsn") && before.int("log_bytes") == after.int("log_bytes") {
			return m, after
		}
		if i == 20 {
			t.Fatalf("the volume kept changing while nothing used it: %s then %s", before.raw, after.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sqliteTxns is n single-row transactions in WAL mode with
// synchronous=FULL: every commit fsyncs the WAL.
func sqliteTxns(from, n int) string {
	var b strings.Builder
	b.WriteString("PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nCREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT);\n")
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "INSERT INTO t VALUES(%d, hex(randomblob(200)));\n", i)
	}
	return b.String()
}

// TestMetrics mounts with --metrics-addr 127.0.0.1:0, runs SQLite
// transactions, and scrapes /metrics twice: head LSN, log bytes, bytes
// appended and the last sync point are what status --json says at the same
// moment; the fsync histogram counted at least one fsync per sync point
// the log gained (every sync point is an fsync that completed); a live
// rewind is counted. Malformed and taken addresses are refused before
// anything is mounted, and the port closes with the unmount.
func TestMetrics(t *testing.T) {
	requireTool(t, "sqlite3")
	vol := newVolume(t)
	mnt := mountVolume(t, vol, "--metrics-addr", "127.0.0.1:0")
	st := status(t, mnt)
	addr := st.str("metrics_addr")
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("status --json has metrics_addr %q, want 127.0.0.1 with the port taken: %s", addr, st.raw)
	}
	db := filepath.Join(mnt, "app.db")

	sqlite(t, db, sqliteTxns(1, 40))
	m1, s1 := quietScrape(t, mnt, addr)
	sqlite(t, db, sqliteTxns(1000, 60))
	m2, s2 := quietScrape(t, mnt, addr)

	for i, p := range []struct {
		m scraped
		s volStatus
	}{{m1, s1}, {m2, s2}} {
		for metric, field := range map[string]string{
			"rewindfs_head_lsn":                 "head_lsn",
			"rewindfs_records_appended_total":   "head_lsn",
			"rewindfs_log_bytes":                "log_bytes",
			"rewindfs_log_appended_bytes_total": "appended_bytes",
			"rewindfs_last_sync_lsn":            "last_sync_lsn",
			"rewindfs_durable_lsn":              "durable_lsn",
			"rewindfs_earliest_lsn":             "earliest_lsn",
			"rewindfs_log_segments":             "segments",
			"rewindfs_open_files":               "open_files",
		} {
			want, _ := p.s.uint(field)
			if got := p.m.must(t, metric); got != float64(want) {
				t.Errorf("scrape %d: %s = %v, but status --json says %s = %d", i+1, metric, got, field, want)
			}
		}
		if got := p.m.must(t, "rewindfs_window_seconds"); got != 86400 {
			t.Errorf("scrape %d: rewindfs_window_seconds = %v, want 86400 (the default 24h)", i+1, got)
		}
		if got := p.m.must(t, "rewindfs_window_alert"); got != 0 {
			t.Errorf("scrape %d: rewindfs_window_alert = %v without a byte cap", i+1, got)
		}
	}
	h1, h2 := m1.must(t, "rewindfs_head_lsn"), m2.must(t, "rewindfs_head_lsn")
	b1, b2 := m1.must(t, "rewindfs_log_bytes"), m2.must(t, "rewindfs_log_bytes")
	if h2 <= h1 || b2 <= b1 {
		t.Errorf("60 transactions moved neither the head (%v -> %v) nor the log bytes (%v -> %v)", h1, h2, b1, b2)
	}

	// Every sync point the log gained is an fsync (or fdatasync) of a file
	// or directory on the mount that completed: the histogram has at least
	// as many more, and the per-operation counters add up to it.
	since := s1.int("head_lsn") + 1
	syncs := 0
	for _, l := range syncPointsUntil(t, mnt, uint64(s2.int("head_lsn"))) {
		if int(l) >= since {
			syncs++
		}
	}
	f1, f2 := m1.must(t, "rewindfs_fsync_duration_seconds"), m2.must(t, "rewindfs_fsync_duration_seconds")
	if syncs < 60 {
		t.Errorf("60 transactions with synchronous=FULL made only %d sync points", syncs)
	}
	if f2-f1 < float64(syncs) {
		t.Errorf("the fsync histogram counted %v fsyncs, fewer than the %d sync points the log gained", f2-f1, syncs)
	}
	ops := func(m scraped) float64 {
		return m.must(t, "rewindfs_fuse_operations_total", "op", "fsync") + m.must(t, "rewindfs_fuse_operations_total", "op", "fsyncdir")
	}
	if ops(m2)-ops(m1) != f2-f1 {
		t.Errorf("fsync and fsyncdir requests grew by %v, the histogram by %v", ops(m2)-ops(m1), f2-f1)
	}
	if w := m2.must(t, "rewindfs_fuse_operations_total", "op", "write") - m1.must(t, "rewindfs_fuse_operations_total", "op", "write"); w <= 0 {
		t.Errorf("no FUSE writes counted for 60 transactions")
	}
	if _, ok := m2.get("rewindfs_fuse_errors_total", "op", "lookup", "errno", "ENOENT"); !ok {
		t.Errorf("SQLite looks for its -wal and -journal files before they exist, but no lookup ENOENT was counted")
	}
	if m2.must(t, "process_resident_memory_bytes") <= 0 {
		t.Errorf("no process_resident_memory_bytes")
	}

	// A live rewind back to the first scrape's head.
	mustRwfs(t, "rewind", mnt, "--to", strconv.Itoa(s1.int("head_lsn")))
	m3, s3 := quietScrape(t, mnt, addr)
	if got := m3.must(t, "rewindfs_rewinds_total", "result", "ok"); got != 1 {
		t.Errorf("rewindfs_rewinds_total{result=ok} = %v after one rewind", got)
	}
	if got := m3.must(t, "rewindfs_rewind_duration_seconds"); got != 1 {
		t.Errorf("the rewind histogram counted %v rewinds, want 1", got)
	}
	if got, want := m3.must(t, "rewindfs_head_lsn"), float64(s3.int("head_lsn")); got != want || want != h2+1 {
		t.Errorf("after the rewind: head %v in /metrics, %v in status, want %v (the rewind record)", got, want, h2+1)
	}
	if got := m3.must(t, "rewindfs_timeline_rewinds"); got != 1 {
		t.Errorf("rewindfs_timeline_rewinds = %v after one rewind", got)
	}

	// Refused before anything is mounted: no host, a taken port.
	mnt2 := newDir(t, "mnt")
	for _, bad := range []string{":0", addr, "127.0.0.1"} {
		r := mountCmd(t, vol, mnt2, "--read-only", "--at", strconv.Itoa(s1.int("head_lsn")), "--metrics-addr", bad)
		oneLineError(t, r)
		if isMounted(mnt2) {
			t.Errorf("mount --metrics-addr %s failed but mounted %s", bad, mnt2)
			lazyUnmount(t, mnt2)
		}
	}

	unmount(t, mnt)
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after the unmount", addr)
	}
}

// TestSequentialReadsComeInLargeRequests: the kernel caps a FUSE mount's
// readahead at 128 KiB whatever FUSE_INIT asks, so the daemon raises its
// bdi's read_ahead_kb once mounted. A cold sequential read of 16 MiB then
// reaches the daemon as READs of up to 1 MiB: fewer than 40 of them, where
// 128 KiB requests would be 128.
func TestSequentialReadsComeInLargeRequests(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol, "--metrics-addr", "127.0.0.1:0")
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		t.Fatal(err)
	}
	ra := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	if b, err := os.ReadFile(ra); err != nil || strings.TrimSpace(string(b)) != "1024" {
		t.Fatalf("%s: %q, %v; want 1024", ra, b, err)
	}

	data := make([]byte, 16<<20)
	rand.New(rand.NewSource(1)).Read(data)
	f := filepath.Join(mnt, "seq")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Drop the kernel's copy of the file's pages: a remount forgets them.
	mustRwfs(t, "unmount", mnt)
	mountAt(t, vol, mnt, "--metrics-addr", "127.0.0.1:0")
	addr := status(t, mnt).str("metrics_addr")
	before, _ := scrapeMetrics(t, addr).get("rewindfs_fuse_operations_total", "op", "read")
	got, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the file read back differs from what was written")
	}
	after, _ := scrapeMetrics(t, addr).get("rewindfs_fuse_operations_total", "op", "read")
	if n := after - before; n < 16 || n >= 40 {
		t.Fatalf("a cold read of 16 MiB took %.0f READ requests; want 16 to 39 (1 MiB requests)", n)
	}
}
