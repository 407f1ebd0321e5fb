package volume

import (
	"errors"
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
)

// ErrNotAncestor is returned by Between when state(from) is not on the way
// to state(to): from lies on a timeline a rewind abandoned before to.
var ErrNotAncestor = errors.New("volume: not on the timeline that leads there")

// Between returns the records that, applied to state(from), give state(to):
// the records on to's timeline after from, in LSN order, with paths as `log`
// shows them. Records of timelines abandoned in between are left out, and a
// rewind record is left out too (its target's records stand for it).
func (v *Volume) Between(from, to lsn.LSN) ([]LogEntry, error) {
	v.mu.RLock()
	pf, err := v.hist.Path(from)
	if err != nil {
		v.mu.RUnlock()
		return nil, err
	}
	pt, err := v.hist.Path(to)
	if err != nil {
		v.mu.RUnlock()
		return nil, err
	}
	ok := len(pf) <= len(pt)
	for i := 0; ok && i < len(pf); i++ {
		ok = pf[i] == pt[i]
	}
	if !ok {
		v.mu.RUnlock()
		return nil, fmt.Errorf("%w: LSN %d is not on the timeline that leads to LSN %d (a rewind in between abandoned it)", ErrNotAncestor, from, to)
	}
	want := make(map[lsn.LSN]bool, len(pt)-len(pf))
	first := lsn.LSN(0)
	for _, i := range pt[len(pf):] {
		l := v.hist.EntryAt(i).LSN
		want[l] = true
		if first == 0 {
			first = l
		}
	}
	v.mu.RUnlock()
	if len(want) == 0 {
		return nil, nil
	}
	out := make([]LogEntry, 0, len(want))
	err = v.Log(first, to, func(e LogEntry) error {
		if want[e.LSN] {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// TimeOf returns the time of the record at l (the base's time for the base).
func (v *Volume) TimeOf(l lsn.LSN) time.Time {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.timeOf(l)
}
