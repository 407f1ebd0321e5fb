package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewindfs/rewindfs/volume"
)

// statusCollector turns one volume.Status per scrape into metrics.
type statusCollector struct {
	status func() volume.Status
}

// statusMetric is one number of volume.Status.
type statusMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(s *volume.Status) float64
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

func gauge(name, help string, value func(s *volume.Status) float64) statusMetric {
	return statusMetric{desc(name, help), prometheus.GaugeValue, value}
}

func counter(name, help string, value func(s *volume.Status) float64) statusMetric {
	return statusMetric{desc(name, help), prometheus.CounterValue, value}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// statusMetrics are the numbers `rewindfs status --json` shows, under the
// JSON field each comes from.
var statusMetrics = []statusMetric{
	gauge("head_lsn", "LSN of the newest record (status head_lsn).",
		func(s *volume.Status) float64 { return float64(s.HeadLSN) }),
	gauge("durable_lsn", "Newest LSN known to be on stable storage (status durable_lsn).",
		func(s *volume.Status) float64 { return float64(s.DurableLSN) }),
	gauge("last_sync_lsn", "LSN of the newest sync point: an fsync the application asked for (status last_sync_lsn).",
		func(s *volume.Status) float64 { return float64(s.LastSyncLSN) }),
	gauge("earliest_lsn", "Oldest LSN that can still be restored (status earliest_lsn).",
		func(s *volume.Status) float64 { return float64(s.EarliestLSN) }),
	gauge("earliest_timestamp_seconds", "Time of the oldest restorable record, in Unix seconds (status earliest_time).",
		func(s *volume.Status) float64 { return float64(s.EarliestTime.UnixNano()) / 1e9 }),
	gauge("base_lsn", "LSN of the base image compaction has folded history into (status base_lsn).",
		func(s *volume.Status) float64 { return float64(s.BaseLSN) }),
	counter("records_appended_total", "Records appended to the log over the volume's life: every LSN is one record, so this is the head LSN (status head_lsn).",
		func(s *volume.Status) float64 { return float64(s.HeadLSN) }),
	counter("log_appended_bytes_total", "Bytes of records appended to the log since the daemon opened the volume (status appended_bytes).",
		func(s *volume.Status) float64 { return float64(s.AppendedBytes) }),
	gauge("log_bytes", "Bytes of log on disk, in all segments (status log_bytes).",
		func(s *volume.Status) float64 { return float64(s.LogBytes) }),
	gauge("log_segments", "Segment files of the log (status segments).",
		func(s *volume.Status) float64 { return float64(s.Segments) }),
	gauge("log_records", "Records in the log after the base image, the window and what compaction has yet to fold (status records).",
		func(s *volume.Status) float64 { return float64(s.Records) }),
	gauge("max_log_bytes", "The log's byte cap; 0 without one (status max_log_bytes).",
		func(s *volume.Status) float64 { return float64(s.MaxLogBytes) }),
	gauge("window_seconds", "The configured window: how much history to keep (status window_seconds).",
		func(s *volume.Status) float64 { return s.WindowSeconds }),
	gauge("window_actual_seconds", "The history actually restorable: from the earliest restorable record to now (status window_actual_seconds).",
		func(s *volume.Status) float64 { return s.WindowActualSeconds }),
	gauge("window_alert", "1 while the byte cap keeps less history than the configured window, else 0 (status window_alert and its warning).",
		func(s *volume.Status) float64 { return b2f(s.WindowAlert) }),
	gauge("compaction_lag_records", "Records older than the window not yet folded into the base image (status compaction_lag).",
		func(s *volume.Status) float64 { return float64(s.CompactionLag) }),
	gauge("compaction_lag_seconds", "Time span of the records older than the window not yet folded (status compaction_lag_seconds).",
		func(s *volume.Status) float64 { return s.CompactionLagSeconds }),
	gauge("compaction_held", "1 while a kept mark or a mounted view holds compaction back, else 0 (status compaction_held_by).",
		func(s *volume.Status) float64 { return b2f(s.CompactionHeldBy != "") }),
	gauge("open_files", "File handles open on the mount; a live rewind waits for 0 (status open_files).",
		func(s *volume.Status) float64 { return float64(s.OpenFiles) }),
	gauge("files", "Inodes in the live file system (status files).",
		func(s *volume.Status) float64 { return float64(s.Files) }),
	gauge("timeline_rewinds", "Rewind records still in the window (status timeline).",
		func(s *volume.Status) float64 { return float64(len(s.Timeline)) }),
	gauge("marks", "Named marks (status marks).",
		func(s *volume.Status) float64 { return float64(len(s.Marks)) }),
	gauge("warnings", "Warnings status shows (status warnings).",
		func(s *volume.Status) float64 { return float64(len(s.Warnings)) }),
}

var (
	markCostDesc = desc("kept_mark_cost_bytes", "Log bytes a kept mark holds that compaction would otherwise delete (status marks[].cost_bytes).", "mark")
	infoDesc     = desc("volume_info", "The volume this daemon serves; always 1.", "volume", "mountpoint", "compression", "read_only")

	archiveMetrics = []statusMetric{
		gauge("archive_archived_through_lsn", "Newest LSN a manifest in the archive confirms (status archive.archived_through_lsn).",
			func(s *volume.Status) float64 { return float64(s.Archive.ArchivedThroughLSN) }),
		gauge("archive_lag_records", "Records in the log not yet in the archive (status archive.lag_lsns).",
			func(s *volume.Status) float64 { return float64(s.Archive.LagLSNs) }),
		gauge("archive_lag_bytes", "Bytes of log not yet in the archive (status archive.lag_bytes).",
			func(s *volume.Status) float64 { return float64(s.Archive.LagBytes) }),
		gauge("archive_lag_seconds", "Age of the oldest record not yet in the archive (status archive.lag_seconds).",
			func(s *volume.Status) float64 { return s.Archive.LagSeconds }),
		gauge("archive_over_cap_bytes", "Bytes the log is over max_log_bytes because the archive has not confirmed them (status archive.over_cap_bytes).",
			func(s *volume.Status) float64 { return float64(s.Archive.OverCapBytes) }),
		counter("archive_uploaded_bytes_total", "Bytes uploaded to the archive since the daemon started (status archive.uploaded_bytes).",
			func(s *volume.Status) float64 { return float64(s.Archive.UploadedBytes) }),
	}
)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range statusMetrics {
		ch <- m.desc
	}
	for _, m := range archiveMetrics {
		ch <- m.desc
	}
	ch <- markCostDesc
	ch <- infoDesc
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.status()
	for _, m := range statusMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(&s))
	}
	if s.Archive != nil {
		for _, m := range archiveMetrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(&s))
		}
	}
	for _, mk := range s.Marks {
		if mk.Keep {
			ch <- prometheus.MustNewConstMetric(markCostDesc, prometheus.GaugeValue, float64(mk.CostBytes), mk.Name)
		}
	}
	ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1,
		s.Volume, s.Mountpoint, s.Compression, strconv.FormatBool(s.ReadOnly))
}
