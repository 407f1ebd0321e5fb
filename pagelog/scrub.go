package pagelog

import (
	"fmt"
	"time"
)

// VerifySealed reads every record of the sealed segments (all but the one
// being appended to) and checks it as Open's scan would: checksum, LSN,
// time. Open reads a sealed segment's index instead of the segment
// (index.go), so this is how a mounted volume still finds a record that
// rotted on the disk: the daemon runs it once in the background after a
// mount. It stops early, with nil, when stop is closed, and skips segments
// that compaction removes meanwhile. After each segment it rests as long
// as reading it took, so that it takes at most half of the disk from the
// database that was just mounted. The error names the segment, offset and
// LSN of the first damage (ErrCorrupt).
//
// With a non-nil ScrubPlan, segments for which Skip says so are passed
// over without reading them, and Checked is told of each segment read and
// found whole (the caller remembers when: volume.Scrub).
//
// It reads with ReadOnce, so what it reads leaves the page cache and the
// pages others have there stay. Dropping each segment after reading it
// (fadvise) was tried first and undone: the check walks the segments in
// the order a database reading its files after a mount often does, and
// the drop threw away pages the reader's readahead had just brought in
// (cold sequential reads in bench.sh fell from 0.5-0.7x to 0.21x of plain).
func (l *Log) VerifySealed(stop <-chan struct{}, plan *ScrubPlan) error {
	segs := l.segTable()
	for i, seg := range segs {
		if i == len(segs)-1 {
			break // the active segment, scanned whole at open
		}
		select {
		case <-stop:
			return nil
		default:
		}
		if seg.removed.Load() {
			continue
		}
		size := seg.size.Load()
		if plan != nil && plan.Skip != nil && plan.Skip(seg.name, size) {
			continue
		}
		w := &walker{next: seg.first, once: true}
		start := time.Now()
		res, err := w.walkSegment(seg, i, size)
		if seg.removed.Load() {
			continue // closed under the scan by compaction
		}
		if err != nil {
			return err
		}
		if res.tornWhy != "" || res.end != size {
			return corruptAt(ErrCorrupt, seg.name, res.end, uint64(w.next),
				fmt.Sprintf("%s, in a sealed segment", res.tornWhy))
		}
		if plan != nil && plan.Checked != nil {
			plan.Checked(seg.name, size)
		}
		select {
		case <-stop:
			return nil
		case <-time.After(time.Since(start)):
		}
	}
	return nil
}

// ScrubPlan lets VerifySealed's caller skip segments checked recently. A
// sealed segment never changes, so its name and size say which file was
// checked.
type ScrubPlan struct {
	// Skip says whether the sealed segment name of size bytes needs no
	// check this time.
	Skip func(name string, size int64) bool
	// Checked is called after the segment was read and found whole.
	Checked func(name string, size int64)
}
