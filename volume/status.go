package volume

import (
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// Status is what `rewindfs status` reports. The JSON names are part of the
// command line contract (DESIGN.md): add fields, never rename them.
type Status struct {
	Volume     string `json:"volume"`
	Mounted    bool   `json:"mounted"`
	Mountpoint string `json:"mountpoint,omitempty"`
	PID        int    `json:"pid,omitempty"`
	ReadOnly   bool   `json:"read_only,omitempty"`
	// Damaged says what the background check of the sealed segments
	// (Volume.Scrub) found wrong, empty if nothing (or not checked yet).
	Damaged string `json:"damaged,omitempty"`
	// Checking is true while that check runs (after a read-write mount,
	// until it has read the segments not found whole in the last week).
	Checking     bool      `json:"checking"`
	HeadLSN      lsn.LSN   `json:"head_lsn"`
	HeadTime     time.Time `json:"head_time"`
	DurableLSN   lsn.LSN   `json:"durable_lsn"`
	EarliestLSN  lsn.LSN   `json:"earliest_lsn"`
	EarliestTime time.Time `json:"earliest_time"`
	BaseLSN      lsn.LSN   `json:"base_lsn"`
	Window       string    `json:"window"`
	WindowActual string    `json:"window_actual"`
	LogBytes     int64     `json:"log_bytes"`
	Records      int       `json:"records"`
	Segments     int       `json:"segments"`
	OpenFiles    int       `json:"open_files"`
	LastSyncLSN  lsn.LSN   `json:"last_sync_lsn"`
	PageSize     int       `json:"page_size"`
	Compression  string    `json:"compression"`
	Files        int       `json:"files"`
	Timeline     []Branch  `json:"timeline"`
	Marks        []Mark    `json:"marks"`
	MaxLogBytes  int64     `json:"max_log_bytes,omitempty"`
	// CompactionLag is how many records older than the window are not yet
	// folded into the base image; CompactionLagSeconds the time they span.
	CompactionLag        lsn.LSN  `json:"compaction_lag"`
	CompactionLagSeconds float64  `json:"compaction_lag_seconds"`
	CompactionHeldBy     string   `json:"compaction_held_by,omitempty"`
	Warnings             []string `json:"warnings"`
	// Archive is the archive's progress, when the volume has one (filled
	// in by the daemon that uploads; an unmounted volume gives the URL).
	Archive *ArchiveStatus `json:"archive,omitempty"`
	// WindowSeconds and WindowActualSeconds are Window and WindowActual in
	// seconds. WindowAlert is set while the byte cap keeps less history
	// than the window (Warnings says so too).
	WindowSeconds       float64 `json:"window_seconds"`
	WindowActualSeconds float64 `json:"window_actual_seconds"`
	WindowAlert         bool    `json:"window_alert"`
	// AppendedBytes is how many bytes of records the log took since the
	// volume was opened (for a mounted volume: since the daemon started).
	AppendedBytes int64 `json:"appended_bytes"`
	// MetricsAddr is where the daemon serves Prometheus metrics, if it
	// does (mount --metrics-addr).
	MetricsAddr string `json:"metrics_addr,omitempty"`
}

// ArchiveStatus is what status says about the archive (package archive).
// Lag is what the log holds beyond the last LSN a manifest confirmed.
type ArchiveStatus struct {
	URL                 string    `json:"url"`
	Endpoint            string    `json:"endpoint,omitempty"`
	Manifest            uint64    `json:"manifest"`
	ArchivedThroughLSN  lsn.LSN   `json:"archived_through_lsn"`
	ArchivedThroughTime time.Time `json:"archived_through_time,omitzero"`
	LagLSNs             uint64    `json:"lag_lsns"`
	LagBytes            int64     `json:"lag_bytes"`
	LagSeconds          float64   `json:"lag_seconds"` // age of the oldest record not archived
	Behind              bool      `json:"behind"`      // LagSeconds past the warning threshold
	LastUpload          time.Time `json:"last_upload,omitzero"`
	UploadedObjects     int64     `json:"uploaded_objects"`
	UploadedBytes       int64     `json:"uploaded_bytes"`
	Requests            int64     `json:"requests"` // HTTP requests sent since the daemon started
	Failures            int       `json:"failures,omitempty"`
	Error               string    `json:"error,omitempty"`
	Stopped             bool      `json:"stopped,omitempty"` // a conflict stopped archiving until restart
	// OverCapBytes is how far the log is over max_log_bytes while the
	// archive is behind: unarchived segments are kept past the cap.
	OverCapBytes int64 `json:"over_cap_bytes,omitempty"`
	// Base images and retention: the newest base image archived, the
	// oldest state a restore can give, and the archive window.
	Bases              int       `json:"bases"`
	NewestBaseLSN      lsn.LSN   `json:"newest_base_lsn,omitempty"`
	NewestBaseTime     time.Time `json:"newest_base_time,omitzero"`
	NewestBaseUploaded time.Time `json:"newest_base_uploaded,omitzero"`
	RestorableFromLSN  lsn.LSN   `json:"restorable_from_lsn,omitempty"`
	RestorableFromTime time.Time `json:"restorable_from_time,omitzero"`
	Window             string    `json:"archive_window,omitempty"`
	PendingDeletes     int       `json:"pending_deletes,omitempty"` // objects dropped by a manifest, not deleted yet
	DeletedObjects     int64     `json:"deleted_objects,omitempty"`
}

// Segments describes the log's segment files in LSN order, the last one
// being appended to. The archive's uploader reads it.
func (v *Volume) Segments() []pagelog.SegmentInfo {
	v.mu.RLock()
	lg := v.log
	v.mu.RUnlock()
	if lg == nil {
		return nil
	}
	return lg.Segments()
}

// Branch is one rewind on the volume's history.
type Branch struct {
	LSN    lsn.LSN   `json:"lsn"`
	Time   time.Time `json:"time"`
	Target lsn.LSN   `json:"target"`
}

// Mark is a named sync point.
type Mark struct {
	Name string  `json:"name"`
	LSN  lsn.LSN `json:"lsn"`
	Keep bool    `json:"keep,omitempty"`
	// CostBytes is, for a kept mark, an estimate of what keeping it costs:
	// the bytes of the segments after the mark that compaction would
	// otherwise delete, because all their records are older than the
	// window (markcost.go). Each kept mark is costed alone.
	CostBytes int64 `json:"cost_bytes"`
}

// Status reports the volume's state.
func (v *Volume) Status() Status {
	v.mu.RLock()
	defer v.mu.RUnlock()
	w := v.hist.Window()
	s := Status{
		Volume:       v.Dir,
		ReadOnly:     v.readOnly,
		HeadLSN:      v.st.Head,
		HeadTime:     time.Unix(0, v.st.HeadTime).UTC(),
		DurableLSN:   v.log.Durable(),
		EarliestLSN:  w.EarliestLSN,
		EarliestTime: time.Unix(0, w.EarliestTime).UTC(),
		BaseLSN:      v.hist.Base(),
		Window:       v.Settings.Window,
		WindowActual: time.Duration(v.now().UnixNano() - w.EarliestTime).Round(time.Second).String(),
		LogBytes:     v.log.Bytes(),
		Records:      v.hist.Len(),
		Segments:     len(v.log.Segments()),
		OpenFiles:    v.nopen,
		PageSize:     v.Settings.PageSize,
		Compression:  v.Settings.Compression,
		Files:        len(v.st.Inodes),
		Timeline:     []Branch{},
		Marks:        []Mark{},
	}
	s.LastSyncLSN = v.hist.LastSync()
	if v.Settings.Archive != "" {
		s.Archive = &ArchiveStatus{URL: v.Settings.Archive}
	}
	s.MaxLogBytes = v.policy.MaxLogBytes
	s.Warnings = []string{}
	r := v.retentionLocked()
	s.CompactionLag = r.Plan.Lag()
	s.CompactionLagSeconds = r.LagSeconds
	s.CompactionHeldBy = r.Plan.HeldBy
	s.WindowSeconds = r.WindowSpan.Seconds()
	if w.EarliestTime > 0 {
		s.WindowActualSeconds = r.ActualSpan.Seconds()
	}
	s.WindowAlert = r.WindowAlert
	s.AppendedBytes = v.log.AppendedBytes()
	s.Warnings = append(s.Warnings, r.Warnings...)
	s.Checking = v.checking
	if v.damaged != nil {
		s.Damaged = v.damaged.Error()
		s.Warnings = append(s.Warnings, fmt.Sprintf("the log is damaged: %v; reads of what that record wrote return what is on the disk: run `rewindfs verify %s`, then restore from the archive or rewind to before it", v.damaged, v.Dir))
	}
	for _, l := range v.hist.Rewinds() {
		e, _ := v.hist.Entry(l)
		if op, err := e.Op(); err == nil {
			s.Timeline = append(s.Timeline, Branch{LSN: e.LSN, Time: time.Unix(0, e.Time).UTC(), Target: lsn.LSN(op.RewindTo)})
		}
	}
	for _, m := range v.hist.MarkList() {
		mk := Mark{Name: m.Name, LSN: m.LSN, Keep: m.Keep}
		if m.Keep {
			mk.CostBytes = v.keptMarkCostLocked(m.LSN, r.Plan)
		}
		s.Marks = append(s.Marks, mk)
	}
	return s
}
