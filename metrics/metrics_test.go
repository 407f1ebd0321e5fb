package metrics

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/volume"
)

func TestCheckAddr(t *testing.T) {
	for _, c := range []struct {
		addr string
		want string // "" for accepted, else part of the error
	}{
		{"127.0.0.1:9470", ""},
		{"127.0.0.1:0", ""},
		{"localhost:9470", ""},
		{"[::1]:9470", ""},
		{"0.0.0.0:9470", ""}, // every interface, asked for by name
		{"10.1.2.3:9470", ""},
		{":9470", "names no host"},
		{"9470", "want HOST:PORT"},
		{"127.0.0.1", "want HOST:PORT"},
		{"127.0.0.1:http", "port must be a number"},
		{"127.0.0.1:70000", "port must be a number"},
	} {
		err := CheckAddr(c.addr)
		if c.want == "" {
			require.NoError(t, err, c.addr)
		} else {
			require.ErrorContains(t, err, c.want, c.addr)
		}
	}
}

// scrape gets /metrics from addr and parses it.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + Path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// value returns the value of the metric in fams named name whose labels
// include labels (name=value pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	require.NotNil(t, f, "no metric %s", name)
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no %s with labels %v", name, labels)
	return 0
}

// TestServe: what a scrape shows is what status said at that moment, and
// what was observed since.
func TestServe(t *testing.T) {
	st := volume.Status{
		Volume: "/var/lib/rewindfs/pg", Mountpoint: "/srv/pg", Compression: "s2",
		HeadLSN: 1234, DurableLSN: 1230, LastSyncLSN: 1229, EarliestLSN: 1000, BaseLSN: 999,
		EarliestTime: time.Unix(1_800_000_000, 500_000_000),
		LogBytes:     5 << 20, AppendedBytes: 7 << 20, Segments: 3, Records: 235, MaxLogBytes: 8 << 20,
		WindowSeconds: 86400, WindowActualSeconds: 3600, WindowAlert: true,
		CompactionLag: 12, CompactionLagSeconds: 1.5, CompactionHeldBy: `kept mark "golden"`,
		OpenFiles: 2, Files: 40,
		Timeline: []volume.Branch{{LSN: 1100, Target: 1050}},
		Marks:    []volume.Mark{{Name: "golden", LSN: 1001, Keep: true, CostBytes: 4096}, {Name: "x", LSN: 1200}},
		Warnings: []string{"the log's byte cap ..."},
		Archive:  &volume.ArchiveStatus{ArchivedThroughLSN: 1200, LagLSNs: 34, LagBytes: 1000, LagSeconds: 2.5},
	}
	calls := 0
	m := New(func() volume.Status { calls++; return st })
	ln, loopback, err := Listen("127.0.0.1:0")
	require.NoError(t, err)
	require.True(t, loopback)
	m.Serve(ln, t.Logf)
	defer func() { require.NoError(t, m.Close()) }()
	addr := ln.Addr().String()

	m.FUSE("lookup", time.Microsecond, syscall.ENOENT)
	m.FUSE("lookup", time.Microsecond, 0)
	m.FUSE("write", time.Microsecond, 0)
	m.FUSE("fsync", 2*time.Millisecond, 0)
	m.FUSE("fsyncdir", 3*time.Millisecond, 0)
	m.FUSE("fsync", time.Millisecond, syscall.EIO)
	m.Rewound(80*time.Millisecond, nil)
	m.Rewound(time.Millisecond, syscall.EBUSY)

	f := scrape(t, addr)
	require.Equal(t, 1, calls, "one status per scrape")
	for name, want := range map[string]float64{
		"rewindfs_head_lsn":                     1234,
		"rewindfs_durable_lsn":                  1230,
		"rewindfs_last_sync_lsn":                1229,
		"rewindfs_earliest_lsn":                 1000,
		"rewindfs_earliest_timestamp_seconds":   1_800_000_000.5,
		"rewindfs_base_lsn":                     999,
		"rewindfs_records_appended_total":       1234,
		"rewindfs_log_appended_bytes_total":     7 << 20,
		"rewindfs_log_bytes":                    5 << 20,
		"rewindfs_log_segments":                 3,
		"rewindfs_log_records":                  235,
		"rewindfs_max_log_bytes":                8 << 20,
		"rewindfs_window_seconds":               86400,
		"rewindfs_window_actual_seconds":        3600,
		"rewindfs_window_alert":                 1,
		"rewindfs_compaction_lag_records":       12,
		"rewindfs_compaction_lag_seconds":       1.5,
		"rewindfs_compaction_held":              1,
		"rewindfs_open_files":                   2,
		"rewindfs_files":                        40,
		"rewindfs_timeline_rewinds":             1,
		"rewindfs_marks":                        2,
		"rewindfs_warnings":                     1,
		"rewindfs_archive_archived_through_lsn": 1200,
		"rewindfs_archive_lag_records":          34,
		"rewindfs_archive_lag_seconds":          2.5,
		"rewindfs_fsync_duration_seconds":       3, // the histogram's count
		"rewindfs_rewind_duration_seconds":      1,
	} {
		require.Equal(t, want, value(t, f, name), name)
	}
	require.Equal(t, 4096.0, value(t, f, "rewindfs_kept_mark_cost_bytes", "mark", "golden"))
	require.Len(t, f["rewindfs_kept_mark_cost_bytes"].Metric, 1, "only kept marks have a cost")
	require.Equal(t, 2.0, value(t, f, "rewindfs_fuse_operations_total", "op", "lookup"))
	require.Equal(t, 2.0, value(t, f, "rewindfs_fuse_operations_total", "op", "fsync"))
	require.Equal(t, 0.0, value(t, f, "rewindfs_fuse_operations_total", "op", "rename"), "every op is there from the start")
	require.Equal(t, 1.0, value(t, f, "rewindfs_fuse_errors_total", "op", "lookup", "errno", "ENOENT"))
	require.Equal(t, 1.0, value(t, f, "rewindfs_fuse_errors_total", "op", "fsync", "errno", "EIO"))
	require.Equal(t, 1.0, value(t, f, "rewindfs_rewinds_total", "result", "ok"))
	require.Equal(t, 1.0, value(t, f, "rewindfs_rewinds_total", "result", "error"))
	require.Equal(t, 1.0, value(t, f, "rewindfs_volume_info", "volume", "/var/lib/rewindfs/pg", "mountpoint", "/srv/pg"))
	require.NotNil(t, f["process_resident_memory_bytes"])
	require.NotNil(t, f["go_goroutines"])

	// On a loopback address the daemon's profiles are there too.
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "goroutine profile")

	// The next scrape reads status again.
	st.HeadLSN, st.LogBytes, st.Archive = 2000, 6<<20, nil
	f = scrape(t, addr)
	require.Equal(t, 2000.0, value(t, f, "rewindfs_head_lsn"))
	require.Equal(t, float64(6<<20), value(t, f, "rewindfs_log_bytes"))
	require.Nil(t, f["rewindfs_archive_lag_seconds"], "no archive, no archive metrics")

	resp, err = http.Get("http://" + addr + "/")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.True(t, strings.Contains(string(b), Path))
	resp, err = http.Get("http://" + addr + "/other")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestNilMetrics: a daemon without --metrics-addr calls the same methods
// on a nil *Metrics.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.FUSE("write", time.Millisecond, 0)
	m.Rewound(time.Millisecond, nil)
	require.NoError(t, m.Close())
}

func TestListenRefusesWhatCheckAddrRefuses(t *testing.T) {
	_, _, err := Listen(":0")
	require.ErrorContains(t, err, "names no host")
	ln, _, err := Listen("127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, _, err = Listen(ln.Addr().String())
	require.ErrorContains(t, err, "address already in use")
}
