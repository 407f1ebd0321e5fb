package backtrack

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// ErrOutsideWindow is returned when a target names a state the volume can no
// longer (or not yet) rebuild: before the base, after the head, or a time
// before the first record.
var ErrOutsideWindow = errors.New("backtrack: target outside the window")

// ErrUnknownMark is returned for a mark name no record defines.
var ErrUnknownMark = errors.New("backtrack: no such mark")

// Entry is what History keeps of one record.
type Entry struct {
	LSN  lsn.LSN
	Time int64 // unix nanoseconds
	Type pagelog.Type
	Data pagelog.Location
	Meta []byte // the record's metadata part (points into History's arena)
}

// History is the in-memory table of every record in the window, in LSN order.
// It is not safe for concurrent use; the volume serializes access.
type History struct {
	pageSize int
	root     fsstate.Root
	base     lsn.LSN // state(base) is the starting point of every rebuild
	entries  []Entry // entries[i].LSN == base+1+i
	arena    []byte
	marks    map[string]lsn.LSN // mark name → the LSN it names
	lastSync lsn.LSN            // the newest OpSync record
	rewinds  []lsn.LSN          // the OpRewind records, in order
}

// arenaChunk is the size of the blocks record metadata is copied into, so
// that a million records cost a few hundred allocations, not a million.
const arenaChunk = 1 << 20

// New returns an empty history whose state(0) is an empty root directory.
func New(pageSize int, root fsstate.Root) *History {
	return &History{pageSize: pageSize, root: root, marks: map[string]lsn.LSN{}}
}

// Add appends a record's metadata. LSNs must be added in order without gaps.
func (h *History) Add(l lsn.LSN, t int64, typ pagelog.Type, meta []byte, data pagelog.Location) error {
	if want := h.Head() + 1; l != want {
		return fmt.Errorf("backtrack: record %d added after %d: want %d", l, h.Head(), want)
	}
	if len(meta) > cap(h.arena)-len(h.arena) {
		h.arena = make([]byte, 0, max(arenaChunk, len(meta)))
	}
	start := len(h.arena)
	h.arena = append(h.arena, meta...)
	e := Entry{LSN: l, Time: t, Type: typ, Data: data, Meta: h.arena[start:len(h.arena):len(h.arena)]}
	h.entries = append(h.entries, e)
	switch typ {
	case fsstate.OpSync:
		h.lastSync = l
	case fsstate.OpRewind:
		h.rewinds = append(h.rewinds, l)
	}
	if typ == fsstate.OpMark {
		op, err := fsstate.DecodeMeta(typ, meta)
		if err != nil {
			return err
		}
		h.marks[op.Name] = h.markTarget(l)
	}
	return nil
}

// markTarget is the LSN a mark record at l names: the last sync point on the
// path to it, or the record before it when there is none.
func (h *History) markTarget(l lsn.LSN) lsn.LSN {
	path, err := h.Path(l - 1)
	if err != nil || len(path) == 0 {
		return l - 1
	}
	for i := len(path) - 1; i >= 0; i-- {
		if h.entries[path[i]].Type == fsstate.OpSync {
			return h.entries[path[i]].LSN
		}
	}
	return l - 1
}

// Base returns the LSN state rebuilds start from.
func (h *History) Base() lsn.LSN { return h.base }

// Head returns the last LSN added.
func (h *History) Head() lsn.LSN { return h.base + lsn.LSN(len(h.entries)) }

// Len returns how many records the history holds.
func (h *History) Len() int { return len(h.entries) }

// Entry returns the record at l.
func (h *History) Entry(l lsn.LSN) (*Entry, bool) {
	if l <= h.base || l > h.Head() {
		return nil, false
	}
	return &h.entries[l-h.base-1], true
}

// Entries returns the records with from <= LSN <= to, in order.
func (h *History) Entries(from, to lsn.LSN) []Entry {
	from = max(from, h.base+1)
	to = min(to, h.Head())
	if from > to {
		return nil
	}
	return h.entries[from-h.base-1 : to-h.base]
}

// LastSync returns the newest sync point's LSN (0 if none).
func (h *History) LastSync() lsn.LSN { return h.lastSync }

// Rewinds returns the LSNs of the rewind records, oldest first.
func (h *History) Rewinds() []lsn.LSN { return h.rewinds }

// Marks returns the marks by name.
func (h *History) Marks() map[string]lsn.LSN { return h.marks }

// Path returns the indexes into the history of the records that, applied in
// order to state(base), give state(target). Rewind records are not in it:
// they are followed to their targets.
func (h *History) Path(target lsn.LSN) ([]int, error) {
	if target < h.base || target > h.Head() {
		return nil, h.outside(fmt.Sprintf("LSN %d", target))
	}
	var rev []int
	i := int(target-h.base) - 1
	for i >= 0 {
		e := &h.entries[i]
		if e.Type == fsstate.OpRewind {
			op, err := fsstate.DecodeMeta(e.Type, e.Meta)
			if err != nil {
				return nil, fmt.Errorf("backtrack: record %d: %w", e.LSN, err)
			}
			to := lsn.LSN(op.RewindTo)
			if to >= e.LSN || to < h.base {
				return nil, fmt.Errorf("backtrack: rewind record %d names target %d outside [%d, %d)", e.LSN, to, h.base, e.LSN)
			}
			i = int(to-h.base) - 1
			continue
		}
		rev = append(rev, i)
		i--
	}
	for a, b := 0, len(rev)-1; a < b; a, b = a+1, b-1 {
		rev[a], rev[b] = rev[b], rev[a]
	}
	return rev, nil
}

// Build rebuilds state(target) from metadata alone.
func (h *History) Build(target lsn.LSN) (*fsstate.State, error) {
	path, err := h.Path(target)
	if err != nil {
		return nil, err
	}
	s := fsstate.New(h.pageSize, h.root)
	for _, i := range path {
		e := &h.entries[i]
		op, err := fsstate.DecodeMeta(e.Type, e.Meta)
		if err != nil {
			return nil, fmt.Errorf("backtrack: record %d: %w", e.LSN, err)
		}
		if err := s.Apply(&fsstate.Rec{LSN: e.LSN, Time: e.Time, Op: &op, Data: e.Data}); err != nil {
			return nil, fmt.Errorf("backtrack: record %d (%s) does not apply: %w", e.LSN, fsstate.OpName(e.Type), err)
		}
	}
	// state(target) ends at target even when the last step was a rewind.
	s.Head = target
	if e, ok := h.Entry(target); ok {
		s.HeadTime = e.Time
	}
	return s, nil
}

// Resolve turns a target into an LSN whose state can be rebuilt. Times are
// resolved on the timeline that leads to head. now is used for "ago" targets.
func (h *History) Resolve(t lsn.Target, head lsn.LSN, now time.Time) (lsn.LSN, error) {
	switch t.Kind {
	case lsn.TargetLSN:
		if t.LSN < h.earliest() || t.LSN > h.Head() {
			return 0, h.outside(fmt.Sprintf("LSN %d", t.LSN))
		}
		return t.LSN, nil
	case lsn.TargetMark:
		l, ok := h.marks[t.Mark]
		if !ok {
			return 0, fmt.Errorf("%w: %q (see `rewindfs log --sync-points` for the marks and sync points)", ErrUnknownMark, t.Mark)
		}
		if l < h.base {
			return 0, h.outside(fmt.Sprintf("mark %q (LSN %d)", t.Mark, l))
		}
		return l, nil
	case lsn.TargetAgo:
		return h.atTime(now.Add(-t.Ago).UnixNano(), head, t.Text)
	case lsn.TargetTime:
		return h.atTime(t.Time.UnixNano(), head, t.Text)
	}
	return 0, fmt.Errorf("backtrack: unknown target %q", t.Text)
}

// atTime finds the last record on the path to head whose time is <= ns.
func (h *History) atTime(ns int64, head lsn.LSN, text string) (lsn.LSN, error) {
	path, err := h.Path(head)
	if err != nil {
		return 0, err
	}
	k := sort.Search(len(path), func(i int) bool { return h.entries[path[i]].Time > ns })
	if k == 0 {
		return 0, h.outside(fmt.Sprintf("time %s", time.Unix(0, ns).UTC().Format(time.RFC3339Nano)))
	}
	return h.entries[path[k-1]].LSN, nil
}

// earliest is the first LSN whose state can be rebuilt: the first record, or
// the base once compaction has folded records into a base image.
func (h *History) earliest() lsn.LSN {
	if h.base == 0 && len(h.entries) > 0 {
		return 1
	}
	return h.base
}

// Window describes what can be restored.
type Window struct {
	EarliestLSN  lsn.LSN
	EarliestTime int64
	LatestLSN    lsn.LSN
	LatestTime   int64
}

// Window returns the restorable range.
func (h *History) Window() Window {
	w := Window{EarliestLSN: h.earliest(), LatestLSN: h.Head(), EarliestTime: h.root.Time, LatestTime: h.root.Time}
	if e, ok := h.Entry(w.EarliestLSN); ok {
		w.EarliestTime = e.Time
	}
	if e, ok := h.Entry(w.LatestLSN); ok {
		w.LatestTime = e.Time
	}
	return w
}

func (h *History) outside(what string) error {
	w := h.Window()
	return fmt.Errorf("%w: %s is not restorable; the window holds LSN %d (%s) to LSN %d (%s)",
		ErrOutsideWindow, what,
		w.EarliestLSN, fmtTime(w.EarliestTime), w.LatestLSN, fmtTime(w.LatestTime))
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// EntryAt returns the i-th record of the history (an index from Path).
func (h *History) EntryAt(i int) *Entry { return &h.entries[i] }
