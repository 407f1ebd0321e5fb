package volume

import (
	"github.com/rewindfs/rewindfs/compaction"
	"github.com/rewindfs/rewindfs/lsn"
)

// keptMarkCostLocked estimates what the kept mark at l costs: the bytes of
// the log that compaction would delete if this mark were not kept, and
// keeps because it is. The caller holds v.mu.
//
// Without pins, compaction would move the base to plan.Goal (the newest
// state every state in the window is built on) and delete every segment
// whose records all lie at or below it. A kept mark holds the base at the
// newest common ancestor of the mark and that goal, so the segments whose
// last record lies after that ancestor but at or below the goal are kept
// for the mark alone: they hold only history older than the window. The
// segment being appended to is never deleted, so it never counts.
//
// Each mark is costed as if it were the only pin: two kept marks close
// together both count the segments between the older one and the goal, and
// a mounted view or the archive may hold some of the same segments anyway.
func (v *Volume) keptMarkCostLocked(l lsn.LSN, plan compaction.Plan) int64 {
	if l >= plan.Goal || plan.Goal <= v.hist.Base() {
		return 0 // the window keeps the mark's state anyway
	}
	held, err := v.hist.CommonAncestor(plan.Goal, l)
	if err != nil || held >= plan.Goal {
		return 0
	}
	segs := v.log.Segments()
	var cost int64
	for i, s := range segs {
		if i == len(segs)-1 {
			break // the segment being appended to
		}
		if s.LastLSN > held && s.LastLSN <= plan.Goal {
			cost += s.Size
		}
	}
	return cost
}
