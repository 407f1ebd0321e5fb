package volume

import (
	"errors"
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/backtrack"
	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/compaction"
	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
)

type compactionPolicy = compaction.Policy

func policyOf(s *Settings) compaction.Policy {
	w, err := time.ParseDuration(s.Window)
	if err != nil || w <= 0 {
		w = 24 * time.Hour
	}
	return compaction.Policy{Window: w, MaxLogBytes: s.MaxLogBytes}
}

func markInfos(ms []baseimage.Mark) []backtrack.MarkInfo {
	out := make([]backtrack.MarkInfo, len(ms))
	for i, m := range ms {
		out[i] = backtrack.MarkInfo{Name: m.Name, LSN: m.LSN, Keep: m.Keep}
	}
	return out
}

// CompactReport says what one Compact call did.
type CompactReport struct {
	FromLSN         lsn.LSN `json:"from_base_lsn"`
	ToLSN           lsn.LSN `json:"to_base_lsn"`
	FilesWritten    int     `json:"files_written"`
	PagesCopied     int64   `json:"pages_copied"`
	SegmentsRemoved int     `json:"segments_removed"`
	BytesFreed      int64   `json:"bytes_freed"`
	LagRecords      lsn.LSN `json:"lag_records"` // records still to fold after this call
	HeldBy          string  `json:"held_by,omitempty"`
	Seconds         float64 `json:"seconds"`
}

// Done reports whether nothing was left to do.
func (r CompactReport) Done() bool { return r.LagRecords == 0 || r.HeldBy != "" }

// SetArchivedThrough makes compaction keep every segment with a record
// after fn(): an archive that has not yet uploaded them needs them.
func (v *Volume) SetArchivedThrough(fn func() lsn.LSN) {
	v.compMu.Lock()
	v.archived = fn
	v.compMu.Unlock()
}

// SetPolicy changes the retention policy of an open volume (after
// `rewindfs config`).
func (v *Volume) SetPolicy(s *Settings) {
	v.mu.Lock()
	v.Settings.Window, v.Settings.MaxLogBytes = s.Window, s.MaxLogBytes
	v.policy = policyOf(v.Settings)
	v.mu.Unlock()
}

// pinsLocked lists what compaction must keep rebuildable besides the
// window: mounted views and kept marks. The caller holds v.mu.
func (v *Volume) pinsLocked(views []baseimage.PinInfo) []compaction.Pin {
	var pins []compaction.Pin
	for _, p := range views {
		pins = append(pins, compaction.Pin{LSN: p.LSN, What: p.What})
	}
	for _, m := range v.hist.MarkList() {
		if m.Keep {
			pins = append(pins, compaction.Pin{LSN: m.LSN, What: fmt.Sprintf("kept mark %q", m.Name)})
		}
	}
	return pins
}

// beginFold takes what a fold needs held from start to end: the volume's
// compaction mutex and the base image's fold lock (exclusive), and lists
// the read-only views' pins (dropping those of views that are gone). done
// lets go of both.
func (v *Volume) beginFold() (views []baseimage.PinInfo, done func(), err error) {
	v.compMu.Lock()
	unlock, err := baseimage.LockFolds(v.Dir, true)
	if err != nil {
		v.compMu.Unlock()
		return nil, nil, err
	}
	done = func() {
		unlock()
		v.compMu.Unlock()
	}
	if views, err = baseimage.Pins(v.Dir, true); err != nil {
		done()
		return nil, nil, err
	}
	return views, done, nil
}

// Compact does one bounded step of compaction: it folds the records the
// policy no longer keeps (up to a batch) into the base image, then deletes
// the segments that hold nothing after the base. Call it again while the
// report's LagRecords is not zero. See package compaction for the order of
// the steps and why a crash at any point loses nothing.
func (v *Volume) Compact() (CompactReport, error) {
	if v.readOnly {
		return CompactReport{}, errors.New("cannot compact a read-only view")
	}
	start := time.Now()
	views, done, err := v.beginFold()
	if err != nil {
		return CompactReport{}, err
	}
	defer done()

	v.mu.Lock()
	plan, err := compaction.Choose(v.hist, v.log.Segments(), v.policy, v.now(), v.log.Durable(), v.pinsLocked(views))
	if err != nil {
		v.mu.Unlock()
		return CompactReport{}, fmt.Errorf("choose compaction target: %w", err)
	}
	rep := CompactReport{FromLSN: plan.Base, ToLSN: plan.Base, HeldBy: plan.HeldBy}
	var next *fsstate.State
	if plan.Target > plan.Base {
		// Build state(target) and stop offering anything below it
		// before a page file changes (step 1).
		if next, err = v.hist.Build(plan.Target); err != nil {
			v.mu.Unlock()
			return rep, fmt.Errorf("build state(%d) to fold: %w", plan.Target, err)
		}
		v.hist.SetFloor(plan.Target)
	}
	v.mu.Unlock()

	if next != nil {
		stats, err := v.foldBuilt(plan.Target, next)
		if err != nil {
			return rep, err
		}
		rep.ToLSN, rep.FilesWritten, rep.PagesCopied = plan.Target, stats.Files, stats.Pages
	}
	rep.LagRecords = plan.Goal - rep.ToLSN
	n, freed, err := v.removeSegments()
	rep.SegmentsRemoved, rep.BytesFreed = n, freed
	rep.Seconds = time.Since(start).Seconds()
	if err != nil {
		return rep, err
	}
	if plan.Capped && rep.ToLSN > rep.FromLSN {
		v.logf("WINDOW ALERT: the byte cap (max_log_bytes %d) dropped records newer than the window of %s; the window held is now %s",
			v.policy.MaxLogBytes, v.policy.Window, time.Duration(v.now().UnixNano()-v.img.BaseTime).Round(time.Second))
	}
	if rep.ToLSN > rep.FromLSN || n > 0 {
		v.logf("compaction: base LSN %d -> %d, %d page files written (%d pages), %d segments removed (%d bytes), %d records behind",
			rep.FromLSN, rep.ToLSN, rep.FilesWritten, rep.PagesCopied, n, freed, rep.LagRecords)
	}
	return rep, nil
}

// fold builds state(target) and folds it; used to finish a fold a crash
// cut short. The caller is Open, which has the volume to itself.
func (v *Volume) fold(target lsn.LSN) (compaction.Stats, error) {
	next, err := v.hist.Build(target)
	if err != nil {
		return compaction.Stats{}, fmt.Errorf("build state(%d) to fold: %w", target, err)
	}
	return v.foldBuilt(target, next)
}

// foldBuilt writes next = state(target) into the base image (steps 2 to 5)
// and then drops the records up to target from the history (step 6).
func (v *Volume) foldBuilt(target lsn.LSN, next *fsstate.State) (compaction.Stats, error) {
	v.mu.RLock()
	t := v.hist.BaseTime()
	if e, ok := v.hist.Entry(target); ok {
		t = e.Time
	}
	var marks []baseimage.Mark
	class := v.hist.Canon(target)
	for _, m := range v.hist.MarkList() {
		if m.LSN < target && v.hist.Canon(m.LSN) == class {
			m.LSN = target // the mark's state is the new base's
		}
		if m.LSN >= target {
			marks = append(marks, baseimage.Mark{Name: m.Name, LSN: m.LSN, Keep: m.Keep})
		}
	}
	aliases := v.hist.AliasesFor(target)
	v.mu.RUnlock()
	stats, err := compaction.Fold(v.img, v.log, target, t, next, marks, aliases)
	if err != nil && v.img.Folding != target {
		// The fold record never reached the disk: no page file changed,
		// so the states below target are still good.
		v.mu.Lock()
		v.hist.LowerFloor(max(v.img.Base, v.img.Folding))
		v.mu.Unlock()
	}
	if err != nil {
		v.logf("compaction to LSN %d failed (it is retried; nothing below it is offered until then): %v", target, err)
		return stats, err
	}
	v.mu.Lock()
	v.hist.Rebase(target, t, v.img.State, aliases)
	v.mu.Unlock()
	return stats, nil
}

// removeSegments deletes the segments that hold nothing after the base
// (and, with an archive, nothing it has not uploaded).
func (v *Volume) removeSegments() (int, int64, error) {
	upTo := v.img.Base
	if v.archived != nil {
		upTo = min(upTo, v.archived())
	}
	if upTo == 0 {
		return 0, 0, nil
	}
	gone, err := v.log.RemoveThrough(upTo)
	var freed int64
	for _, g := range gone {
		freed += g.Size
	}
	if err != nil {
		return len(gone), freed, fmt.Errorf("remove compacted segments: %w", err)
	}
	return len(gone), freed, nil
}

// Retention is what status reports of the window and compaction.
type Retention struct {
	Plan        compaction.Plan
	LagSeconds  float64
	Warnings    []string
	ActualSpan  time.Duration
	WindowSpan  time.Duration
	EarliestLSN lsn.LSN
	WindowAlert bool // the byte cap keeps less than the window (a warning says so)
}

// retentionLocked computes Retention; the caller holds v.mu.
func (v *Volume) retentionLocked() Retention {
	var r Retention
	views, _ := baseimage.Pins(v.Dir, false) // status changes nothing
	r.Plan, _ = compaction.Choose(v.hist, v.log.Segments(), v.policy, v.now(), v.log.Durable(), v.pinsLocked(views))
	r.WindowSpan = v.policy.Window
	w := v.hist.Window()
	r.EarliestLSN = w.EarliestLSN
	r.ActualSpan = time.Duration(v.now().UnixNano() - w.EarliestTime)
	if r.Plan.Goal > r.Plan.Base {
		goalTime := v.hist.BaseTime()
		if e, ok := v.hist.Entry(r.Plan.Goal); ok {
			goalTime = e.Time
		}
		r.LagSeconds = time.Duration(goalTime - v.hist.BaseTime()).Seconds()
	}
	if v.policy.MaxLogBytes > 0 && v.hist.Base() > 0 && v.hist.BaseTime() > v.now().Add(-v.policy.Window).UnixNano() {
		r.WindowAlert = true
		r.Warnings = append(r.Warnings, fmt.Sprintf(
			"the log's byte cap (max_log_bytes %d) holds %s of history, less than the configured window of %s; raise the cap or shorten the window",
			v.policy.MaxLogBytes, r.ActualSpan.Round(time.Second), v.policy.Window))
	}
	if r.Plan.HeldBy != "" {
		r.Warnings = append(r.Warnings, fmt.Sprintf("compaction is held back by %s: the log keeps history older than the window until it goes", r.Plan.HeldBy))
	}
	return r
}
