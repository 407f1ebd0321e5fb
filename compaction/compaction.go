// Package compaction keeps a volume's history to its window: it chooses how
// far the base image may move (Choose) and moves it there (Fold), so that
// whole segments of the log can be deleted.
//
// # The order of a fold, and why a crash at any point loses nothing
//
// A fold takes the base image from state(B0) to state(B1). B1 is chosen so
// that every state the volume still offers (every LSN from the window's
// edge to the head, on every timeline, every mounted view and every kept
// mark) is built on state(B1): B1 is their newest common ancestor.
//
//  1. The volume stops offering states below B1 (History.SetFloor), before
//     anything on disk changes: nothing can rewind into the range whose
//     pages are about to be overwritten.
//  2. BeginFold writes base/folding = B1 durably. A crash from here on is
//     found by Open, which offers nothing below B1 and folds again.
//  3. For every regular file of state(B1): its page file is cut to the
//     bytes still valid (BaseSize), the pages written in (B0, B1] are
//     copied in from the log, and it is cut to its size at B1. Files gone
//     by B1 lose their page file. Each step is redone as is after a crash:
//     the records of (B0, B1] are all still in the log, and the result
//     depends only on them and on the bytes below BaseSize, which no step
//     changes. A state at or above B1 never reads a page a fold rewrites:
//     such a page was written in (B0, B1], so that state's page table
//     names the record, not the base image.
//  4. The page files and the pages directory are synced.
//  5. Commit writes base/state-B1 durably (temporary name, fsync, rename,
//     fsync of the directory): the commit point. Then it removes the old
//     state file and base/folding.
//  6. Only now does the volume drop the records up to B1 from memory and
//     delete the segments that hold nothing above B1. A crash before the
//     deletion leaves records the next Open skips.
package compaction

import (
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/backtrack"
	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// Policy is what a volume keeps: Window of history, and at most
// MaxLogBytes of log (0: no cap).
type Policy struct {
	Window      time.Duration
	MaxLogBytes int64
	// BatchRecords and BatchBytes bound one fold, so that a fold holds the
	// volume's lock only briefly and writes a bounded amount; zero means
	// the defaults.
	BatchRecords int
	BatchBytes   int64
}

// Default batch bounds.
const (
	DefaultBatchRecords = 200_000
	DefaultBatchBytes   = 256 << 20
)

// Pin is a state that must stay rebuildable whatever the window says: a
// mounted read-only view or a kept mark.
type Pin struct {
	LSN  lsn.LSN
	What string // "view at /mnt/past", "mark before-migration"
}

// Plan is what Choose decided.
type Plan struct {
	Base     lsn.LSN // the current base
	TimeEdge lsn.LSN // first LSN the window's duration keeps
	CapEdge  lsn.LSN // first LSN the byte cap keeps; 0 without a cap
	Edge     lsn.LSN // first LSN the policy keeps: the later of the two
	Goal     lsn.LSN // the base the policy asks for (before pins and batching)
	Target   lsn.LSN // where the next fold goes; Target == Base: nothing to do
	HeldBy   string  // the pin that holds Goal back, if any
	Capped   bool    // the byte cap, not the duration, set the edge
}

// Lag is how many records the base is behind where the policy wants it.
func (p Plan) Lag() lsn.LSN { return p.Goal - p.Base }

// Choose decides the next fold of h. segs are the log's segments, durable
// the last LSN on stable storage (only durable records are folded).
func Choose(h *backtrack.History, segs []pagelog.SegmentInfo, pol Policy, now time.Time, durable lsn.LSN, pins []Pin) (Plan, error) {
	p := Plan{Base: h.Base(), Target: h.Base(), Goal: h.Base()}
	head := h.Head()
	p.TimeEdge = h.TimeEdge(now.Add(-pol.Window).UnixNano())
	p.Edge = p.TimeEdge
	if pol.MaxLogBytes > 0 && len(segs) > 0 {
		// Keep the newest segments that fit under the cap; the segment
		// being appended to always stays.
		var sum int64
		p.CapEdge = segs[len(segs)-1].FirstLSN
		for i := len(segs) - 1; i >= 0; i-- {
			sum += segs[i].Size
			if sum > pol.MaxLogBytes && i < len(segs)-1 {
				break
			}
			p.CapEdge = segs[i].FirstLSN
		}
		if p.CapEdge > p.Edge {
			p.Edge, p.Capped = p.CapEdge, true
		}
	}
	p.Edge = min(p.Edge, head+1)
	if p.Edge <= p.Base+1 {
		return p, nil
	}
	// Every state from the edge on must stay buildable: the edge's
	// parent, and the target of every rewind in the window that reaches
	// back before the edge.
	keep := []lsn.LSN{p.Edge - 1}
	for _, r := range h.RewindsIn(p.Edge, head) {
		to, err := h.RewindTarget(r)
		if err != nil {
			return p, err
		}
		if to < p.Edge {
			keep = append(keep, to)
		}
	}
	goal, err := h.CommonAncestor(keep...)
	if err != nil {
		return p, err
	}
	p.Goal = max(goal, p.Base)
	target := p.Goal
	for _, pin := range pins {
		if pin.LSN < p.Base {
			continue // a view of a state the image no longer has; not ours to keep
		}
		t, err := h.CommonAncestor(target, pin.LSN)
		if err != nil {
			return p, err
		}
		if t < target {
			target, p.HeldBy = t, pin.What
		}
	}
	if target > durable {
		if target, err = h.CommonAncestor(target, durable); err != nil {
			return p, err
		}
	}
	// Bound the batch: the fold replays these records' metadata under the
	// volume's lock and copies their pages.
	maxRecs, maxBytes := pol.BatchRecords, pol.BatchBytes
	if maxRecs <= 0 {
		maxRecs = DefaultBatchRecords
	}
	if maxBytes <= 0 {
		maxBytes = DefaultBatchBytes
	}
	limit := p.Base
	var bytes int64
	for e := range h.Entries(p.Base+1, min(target, p.Base+lsn.LSN(maxRecs))) {
		bytes += int64(e.Data.Len)
		if bytes > maxBytes && limit > p.Base {
			break
		}
		limit = e.LSN
	}
	if target > limit {
		if target, err = h.AncestorAtOrBelow(target, limit); err != nil {
			return p, err
		}
	}
	p.Target = max(target, p.Base)
	{
		// A rewind record whose state is state(target) may label the new
		// base instead of target itself, if every state kept is built on
		// it: then the records between target and that rewind, which are
		// an abandoned timeline, can go too. This is what lets a volume
		// that is reset to one mark over and over (a test database) drop
		// the runs between resets once they leave the window.
		c := h.Canon(p.Target)
		limit := min(p.Edge-1, durable)
		for _, m := range keep {
			low, err := h.DescentLow(m, c)
			if err != nil {
				return p, err
			}
			limit = min(limit, low-1)
		}
		for _, pin := range pins {
			if pin.LSN >= p.Base {
				low, err := h.DescentLow(pin.LSN, c)
				if err != nil {
					return p, err
				}
				limit = min(limit, low-1)
			}
		}
		p.Target = max(p.Target, h.NewestAlias(c, limit))
	}
	return p, nil
}

// Fold moves img's base to next = state(target), which the caller built
// on img.State (History.Build), after making sure nothing reads a state
// below target any more. It follows steps 2 to 5 of the package comment.
// hook, if not nil, is called between the steps (tests stop there).
func Fold(img *baseimage.Image, lg *pagelog.Log, target lsn.LSN, targetTime int64, next *fsstate.State, marks []baseimage.Mark, aliases []lsn.LSN) (Stats, error) {
	var st Stats
	prev := img.State
	if err := img.BeginFold(target); err != nil {
		return st, err
	}
	buf := make([]byte, 1<<20)
	for ino, n := range next.Inodes {
		if !n.IsRegular() {
			continue
		}
		var prevSize uint64
		if o := prev.Inodes[ino]; o != nil && o.IsRegular() {
			prevSize = o.Size
		}
		if n.Pages.Empty() && n.BaseSize == prevSize && n.Size == n.BaseSize {
			continue // unchanged since the base
		}
		pages, err := writeFile(img, lg, n, buf)
		st.Files++
		st.Pages += pages
		if err != nil {
			return st, err
		}
	}
	for ino, o := range prev.Inodes {
		if n := next.Inodes[ino]; o.IsRegular() && (n == nil || !n.IsRegular()) {
			if err := img.RemovePages(ino); err != nil {
				return st, err
			}
			st.Removed++
		}
	}
	if err := img.SyncPagesDir(); err != nil {
		return st, fmt.Errorf("fsync base image pages directory: %w", err)
	}
	if err := img.Commit(target, targetTime, next, marks, aliases); err != nil {
		return st, err
	}
	return st, nil
}

// Stats says what a fold did.
type Stats struct {
	Files   int   // page files written
	Pages   int64 // pages copied from the log
	Removed int   // page files removed
}

// writeFile makes n's page file hold n's content (step 3), then syncs it.
func writeFile(img *baseimage.Image, lg *pagelog.Log, n *fsstate.Inode, buf []byte) (int64, error) {
	f, err := img.OpenPages(n.Ino)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fail := func(what string, err error) (int64, error) {
		return 0, fmt.Errorf("fold inode %d into the base image: %s: %w", n.Ino, what, err)
	}
	if err := f.Truncate(int64(n.BaseSize)); err != nil {
		return fail("cut page file", err)
	}
	pageSize := int64(img.PageSize())
	var pages int64
	// Copy runs of pages that lie one after another in one record with
	// one read and one write.
	var run struct {
		first uint64
		ref   fsstate.PageRef
		n     int64
	}
	flush := func() error {
		if run.n == 0 {
			return nil
		}
		b := buf[:run.n*pageSize]
		if _, err := lg.ReadData(run.ref.Loc, int64(run.ref.Inner), b); err != nil {
			return fmt.Errorf("read pages %d.. from the log: %w", run.first, err)
		}
		if _, err := f.WriteAt(b, int64(run.first)*pageSize); err != nil {
			return fmt.Errorf("write pages %d..: %w", run.first, err)
		}
		run.n = 0
		return nil
	}
	err = n.Pages.Each(func(p uint64, ref fsstate.PageRef) error {
		pages++
		if run.n > 0 && ref.Loc == run.ref.Loc && p == run.first+uint64(run.n) &&
			int64(ref.Inner) == int64(run.ref.Inner)+run.n*pageSize && (run.n+1)*pageSize <= int64(len(buf)) {
			run.n++
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		run.first, run.ref, run.n = p, ref, 1
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fail("copy pages", err)
	}
	if err := f.Truncate(int64(n.Size)); err != nil {
		return fail("set size", err)
	}
	if err := f.Sync(); err != nil {
		return fail("fsync page file", err)
	}
	// What was just written is a second copy of pages the kernel caches
	// for the mounted file, as a sealed segment's are (pagelog's roll
	// gives those back too); the base image's own reads leave nothing
	// cached either (baseimage's ReadPages).
	f.DropCache(0, 0)
	return pages, nil
}
