package backtrack

import (
	"errors"
	"fmt"
	"iter"
	"math"
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

// History is the in-memory table of every record in the window, in LSN order.
// It is not safe for concurrent use; the volume serializes access.
type History struct {
	pageSize  int
	root      fsstate.Root
	base      lsn.LSN            // state(base) is the starting point of every rebuild
	baseState *fsstate.State     // state(base), never changed: rebuilds clone it
	baseTime  int64              // time of the base record
	floor     lsn.LSN            // no state below it can be rebuilt: a fold to it has begun
	aliases   map[lsn.LSN]bool   // LSNs below base whose state is state(base), named by rewinds after it
	entries   table              // the record at base+1+i is entry i
	marks     map[string]lsn.LSN // mark name → the LSN it names
	kept      map[string]bool    // marks made with --keep
	lastSync  lsn.LSN            // the newest OpSync record
	rewinds   []lsn.LSN          // the OpRewind records, in order
}

// New returns an empty history whose state(0) is an empty root directory.
func New(pageSize int, root fsstate.Root) *History {
	st := fsstate.New(pageSize, root)
	return &History{pageSize: pageSize, root: root, baseState: st, baseTime: root.Time,
		entries: table{first: 1}, marks: map[string]lsn.LSN{}, kept: map[string]bool{}}
}

// MarkInfo is a mark as a base image keeps it.
type MarkInfo struct {
	Name string
	LSN  lsn.LSN
	Keep bool
}

// SetBase makes state(base) = st the starting point of every rebuild, for
// a volume whose records up to base were folded into a base image. It is
// called on an empty history, before the records after base are added;
// records at or below base passed to Add later are ignored.
func (h *History) SetBase(base lsn.LSN, baseTime int64, st *fsstate.State, marks []MarkInfo, aliases []lsn.LSN) {
	h.base, h.baseTime, h.baseState = base, baseTime, st
	h.entries = table{first: base + 1}
	h.aliases = map[lsn.LSN]bool{}
	for _, a := range aliases {
		h.aliases[a] = true
	}
	h.floor = base
	for _, m := range marks {
		h.marks[m.Name] = m.LSN
		if m.Keep {
			h.kept[m.Name] = true
		}
	}
}

// SetFloor refuses, from now on, every state below floor: a fold to floor
// has begun and is rewriting the pages those states read.
func (h *History) SetFloor(floor lsn.LSN) { h.floor = max(h.floor, floor) }

// LowerFloor undoes SetFloor down to floor (never below the base): a fold
// that failed before it changed anything on disk gives its states back.
func (h *History) LowerFloor(floor lsn.LSN) { h.floor = max(floor, h.base) }

// Floor returns the LSN below which no state can be rebuilt.
func (h *History) Floor() lsn.LSN { return max(h.floor, h.base) }

// Rebase drops the records up to base, which a fold has made state(base)
// = st. aliases are the LSNs below base whose state is the same (see
// AliasesFor). Marks that name an alias now name base; other marks before
// base go.
func (h *History) Rebase(base lsn.LSN, baseTime int64, st *fsstate.State, aliases []lsn.LSN) {
	if base <= h.base {
		return
	}
	base = min(base, h.Head())
	class := h.Canon(base)
	for name, l := range h.marks {
		if l < base {
			if h.Canon(l) == class {
				h.marks[name] = base
			} else {
				delete(h.marks, name)
				delete(h.kept, name)
			}
		}
	}
	h.entries.dropFront(int(base - h.base))
	h.base, h.baseTime, h.baseState = base, baseTime, st
	h.floor = max(h.floor, base)
	h.aliases = map[lsn.LSN]bool{}
	for _, a := range aliases {
		h.aliases[a] = true
	}
	k := 0
	for _, r := range h.rewinds {
		if r > base {
			h.rewinds[k] = r
			k++
		}
	}
	h.rewinds = h.rewinds[:k]
}

// AliasesFor returns, for a fold to base, the LSNs below base that rewinds
// after base name and whose state is state(base): after the fold, a path
// that reaches one of them has reached the base.
func (h *History) AliasesFor(base lsn.LSN) []lsn.LSN {
	class := h.Canon(base)
	var out []lsn.LSN
	seen := map[lsn.LSN]bool{}
	for _, r := range h.rewinds {
		if r <= base {
			continue
		}
		to, err := h.rewindTarget(r)
		if err != nil || to >= base || seen[to] {
			continue
		}
		if h.Canon(to) == class {
			seen[to] = true
			out = append(out, to)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Aliases returns the current base's aliases.
func (h *History) Aliases() []lsn.LSN {
	out := make([]lsn.LSN, 0, len(h.aliases))
	for a := range h.aliases {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Canon returns the LSN whose record last changed state(x): x itself, or
// for a rewind record the Canon of its target; the base for the base and
// its aliases. Two LSNs with one Canon have the same state.
func (h *History) Canon(x lsn.LSN) lsn.LSN {
	for {
		if x <= h.base {
			if x == h.base || h.aliases[x] {
				return h.base
			}
			return x
		}
		e, ok := h.Entry(x)
		if !ok || e.Type != fsstate.OpRewind {
			return x
		}
		to, err := h.rewindTarget(x)
		if err != nil {
			return x
		}
		x = to
	}
}

// DescentLow walks the path to state(s) down to where it reaches a state
// of Canon c, and returns the lowest LSN it visited before that (the
// largest LSN if it visited none). A base labelled with an LSN below that
// keeps s buildable.
func (h *History) DescentLow(s, c lsn.LSN) (lsn.LSN, error) {
	low := lsn.LSN(math.MaxUint64)
	x := s
	for {
		if h.Canon(x) == c {
			return low, nil
		}
		if x < c {
			return 0, fmt.Errorf("backtrack: state(%d) is not built on state(%d)", s, c)
		}
		i := sort.Search(len(h.rewinds), func(i int) bool { return h.rewinds[i] > x }) - 1
		if i < 0 || h.rewinds[i] <= c {
			return min(low, c+1), nil // steps down one by one to c
		}
		r := h.rewinds[i]
		if r < x {
			low = min(low, r+1)
		}
		if h.Canon(r) == c {
			return low, nil
		}
		low = min(low, r)
		to, err := h.rewindTarget(r)
		if err != nil {
			return 0, err
		}
		if to < h.base && h.aliases[to] {
			to = h.base
		}
		x = to
	}
}

// NewestAlias returns the newest rewind record in (c, limit] whose state
// is state(c), or c if there is none.
func (h *History) NewestAlias(c, limit lsn.LSN) lsn.LSN {
	for i := len(h.rewinds) - 1; i >= 0; i-- {
		r := h.rewinds[i]
		if r > limit {
			continue
		}
		if r <= c {
			break
		}
		if h.Canon(r) == c {
			return r
		}
	}
	return c
}

// MarkList returns the marks, for the base image to keep.
func (h *History) MarkList() []MarkInfo {
	out := make([]MarkInfo, 0, len(h.marks))
	for name, l := range h.marks {
		out = append(out, MarkInfo{Name: name, LSN: l, Keep: h.kept[name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Kept returns the LSNs of the marks made with --keep.
func (h *History) Kept() []lsn.LSN {
	var out []lsn.LSN
	for name := range h.kept {
		out = append(out, h.marks[name])
	}
	return out
}

// BaseTime returns the time of the base record.
func (h *History) BaseTime() int64 { return h.baseTime }

// Add appends a record's metadata. LSNs must be added in order without gaps.
func (h *History) Add(l lsn.LSN, t int64, typ pagelog.Type, meta []byte, data pagelog.Location) error {
	if l <= h.base && h.entries.n == 0 {
		return nil // folded into the base image; its segment is not deleted yet
	}
	if want := h.Head() + 1; l != want {
		return fmt.Errorf("backtrack: record %d added after %d: want %d", l, h.Head(), want)
	}
	h.entries.add(t, typ, meta, data)
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
		if op.Unmark {
			delete(h.marks, op.Name)
			delete(h.kept, op.Name)
			return nil
		}
		h.marks[op.Name] = h.markTarget(l)
		if op.Keep {
			h.kept[op.Name] = true
		} else {
			delete(h.kept, op.Name)
		}
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
		if h.entries.typ(path[i]) == fsstate.OpSync {
			return h.base + 1 + lsn.LSN(path[i])
		}
	}
	return l - 1
}

// Base returns the LSN state rebuilds start from.
func (h *History) Base() lsn.LSN { return h.base }

// Head returns the last LSN added.
func (h *History) Head() lsn.LSN { return h.base + lsn.LSN(h.entries.n) }

// Len returns how many records the history holds.
func (h *History) Len() int { return h.entries.n }

// Entry returns the record at l.
func (h *History) Entry(l lsn.LSN) (Entry, bool) {
	if l <= h.base || l > h.Head() {
		return Entry{}, false
	}
	return h.entries.entry(int(l - h.base - 1)), true
}

// Entries returns the records with from <= LSN <= to, in order. It reads a
// snapshot taken now: the caller may range over it after releasing the
// lock that serializes the history, while records are added.
func (h *History) Entries(from, to lsn.LSN) iter.Seq[Entry] {
	from = max(from, h.base+1)
	to = min(to, h.Head())
	if from > to {
		return func(func(Entry) bool) {}
	}
	return h.entries.records(int(from-h.base-1), int(to-h.base))
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
	if target < h.Floor() || target > h.Head() {
		return nil, h.outside(fmt.Sprintf("LSN %d", target))
	}
	var rev []int
	i := int(target-h.base) - 1
	for i >= 0 {
		if h.entries.typ(i) == fsstate.OpRewind {
			e := h.entries.entry(i)
			op, err := e.Op()
			if err != nil {
				return nil, err
			}
			to := lsn.LSN(op.RewindTo)
			if to >= e.LSN {
				return nil, fmt.Errorf("backtrack: rewind record %d names target %d, not an earlier LSN", e.LSN, to)
			}
			if to < h.base && !h.aliases[to] {
				return nil, fmt.Errorf("%w: LSN %d is on a timeline that a rewind (LSN %d) started from LSN %d, which compaction has folded away",
					ErrOutsideWindow, target, e.LSN, to)
			}
			i = int(to) - int(h.base) - 1 // an alias is state(base): the path ends
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
	s := h.baseState.Clone()
	for _, i := range path {
		e := h.entries.entry(i)
		op, err := e.Op()
		if err != nil {
			return nil, err
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
		if l < h.Floor() {
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
	k := sort.Search(len(path), func(i int) bool { return h.entries.time(path[i]) > ns })
	if k == 0 && h.base > 0 && h.base >= h.floor && ns >= h.baseTime {
		return h.base, nil
	}
	if k == 0 {
		return 0, h.outside(fmt.Sprintf("time %s", time.Unix(0, ns).UTC().Format(time.RFC3339Nano)))
	}
	return h.base + 1 + lsn.LSN(path[k-1]), nil
}

// earliest is the first LSN whose state can be rebuilt: the first record, or
// the base once compaction has folded records into a base image.
func (h *History) earliest() lsn.LSN {
	if h.base == 0 && h.floor == 0 && h.entries.n > 0 {
		return 1
	}
	return h.Floor()
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
	w := Window{EarliestLSN: h.earliest(), LatestLSN: h.Head(), EarliestTime: h.baseTime, LatestTime: h.baseTime}
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
func (h *History) EntryAt(i int) Entry { return h.entries.entry(i) }

// rewindTarget returns the target of the rewind record at l.
func (h *History) rewindTarget(l lsn.LSN) (lsn.LSN, error) {
	e, ok := h.Entry(l)
	if !ok {
		return 0, fmt.Errorf("backtrack: rewind record %d is not in the history", l)
	}
	op, err := e.Op()
	if err != nil {
		return 0, err
	}
	return lsn.LSN(op.RewindTo), nil
}

// AncestorAtOrBelow returns the newest state on the path to state(x) whose
// LSN is at or below limit: the state x was built on when it was at limit.
// Every record but a rewind record is built on the record before it; a
// rewind record on its target.
func (h *History) AncestorAtOrBelow(x, limit lsn.LSN) (lsn.LSN, error) {
	for x > limit {
		// The newest rewind record in (limit, x]: below it, the path
		// steps down one LSN at a time, so if there is none, limit itself
		// is on the path.
		i := sort.Search(len(h.rewinds), func(i int) bool { return h.rewinds[i] > x }) - 1
		if i < 0 || h.rewinds[i] <= limit {
			return limit, nil
		}
		to, err := h.rewindTarget(h.rewinds[i])
		if err != nil {
			return 0, err
		}
		if to < h.base && h.aliases[to] {
			to = h.base
		}
		x = to
	}
	return x, nil
}

// CommonAncestor returns the newest state that the paths to every one of
// ls pass through: a base that keeps all of them rebuildable.
func (h *History) CommonAncestor(ls ...lsn.LSN) (lsn.LSN, error) {
	if len(ls) == 0 {
		return h.base, nil
	}
	a := ls[0]
	for _, b := range ls[1:] {
		for a != b {
			if a < b {
				a, b = b, a
			}
			var err error
			if a, err = h.AncestorAtOrBelow(a, b); err != nil {
				return 0, err
			}
		}
	}
	return a, nil
}

// TimeEdge returns the first LSN whose record is at or after ns: the first
// record inside a window that starts at ns (Head()+1 if there is none).
// Record times never decrease (the log makes them so).
func (h *History) TimeEdge(ns int64) lsn.LSN {
	k := sort.Search(h.entries.n, func(i int) bool { return h.entries.time(i) >= ns })
	return h.base + 1 + lsn.LSN(k)
}

// RewindsIn returns the rewind records with from <= LSN <= to.
func (h *History) RewindsIn(from, to lsn.LSN) []lsn.LSN {
	var out []lsn.LSN
	for _, r := range h.rewinds {
		if r >= from && r <= to {
			out = append(out, r)
		}
	}
	return out
}

// RewindTarget returns the target of the rewind record at l.
func (h *History) RewindTarget(l lsn.LSN) (lsn.LSN, error) { return h.rewindTarget(l) }

// BaseClone returns a copy of state(base), to replay records on.
func (h *History) BaseClone() *fsstate.State { return h.baseState.Clone() }
