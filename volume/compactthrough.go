package volume

import (
	"errors"
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
)

// CompactThrough folds every record up to target into the base image now,
// whatever the window says, then deletes the segments that hold nothing
// after it. It is for a volume whose first state was made in bulk (an
// import): that state belongs in the base image, where each file's pages
// lie in order, not in a log the window would keep for a day.
//
// Unlike Compact it ignores the window, so it refuses what would lose a
// state someone still needs: a target that is not durable or not on the
// path to the live state, a rewind after target to a state before it, and
// a mounted view or kept mark pinning a state before it.
func (v *Volume) CompactThrough(target lsn.LSN) (CompactReport, error) {
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
	base, head := v.hist.Base(), v.hist.Head()
	rep := CompactReport{FromLSN: base, ToLSN: base}
	if target <= base {
		v.mu.Unlock()
		return rep, nil
	}
	if target > head || target > v.log.Durable() {
		v.mu.Unlock()
		return rep, fmt.Errorf("compact through LSN %d: the durable head is LSN %d", target, min(head, v.log.Durable()))
	}
	// Every state after target must still be buildable from state(target):
	// the live state and the targets of the rewinds after it.
	keep := []lsn.LSN{target, head}
	for _, r := range v.hist.RewindsIn(target+1, head) {
		to, err := v.hist.RewindTarget(r)
		if err != nil {
			v.mu.Unlock()
			return rep, err
		}
		keep = append(keep, to)
	}
	if anc, err := v.hist.CommonAncestor(keep...); err != nil || v.hist.Canon(anc) != v.hist.Canon(target) {
		v.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("a later state is not built on it (common ancestor LSN %d)", anc)
		}
		return rep, fmt.Errorf("compact through LSN %d: %w", target, err)
	}
	for _, p := range v.pinsLocked(views) {
		if p.LSN < target && v.hist.Canon(p.LSN) != v.hist.Canon(target) {
			v.mu.Unlock()
			return rep, fmt.Errorf("compact through LSN %d: %s needs LSN %d", target, p.What, p.LSN)
		}
	}
	next, err := v.hist.Build(target)
	if err != nil {
		v.mu.Unlock()
		return rep, fmt.Errorf("build state(%d) to fold: %w", target, err)
	}
	v.hist.SetFloor(target)
	v.mu.Unlock()

	stats, err := v.foldBuilt(target, next)
	if err != nil {
		return rep, err
	}
	rep.ToLSN, rep.FilesWritten, rep.PagesCopied = target, stats.Files, stats.Pages
	n, freed, err := v.removeSegments()
	rep.SegmentsRemoved, rep.BytesFreed = n, freed
	rep.Seconds = time.Since(start).Seconds()
	return rep, err
}
