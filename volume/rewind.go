package volume

import (
	"errors"
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/backtrack"
	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
)

// ErrFilesOpen is returned by a live rewind while files on the mount are
// open: the application could otherwise keep writing stale pages it holds.
var ErrFilesOpen = errors.New("files are open on the mount")

// RewindPlan says what a rewind to a target does, for --dry-run and for the
// report after the fact.
type RewindPlan struct {
	From        lsn.LSN   `json:"from_lsn"`
	To          lsn.LSN   `json:"to_lsn"`
	ToTime      time.Time `json:"to_time"`
	Undone      int       `json:"records_undone"`
	UndoneBytes int64     `json:"bytes_undone"`
	Redone      int       `json:"records_redone"`
	RedoneBytes int64     `json:"bytes_redone"`
	Files       int       `json:"files_touched"`
	SpanFrom    time.Time `json:"span_from,omitzero"`
	SpanTo      time.Time `json:"span_to,omitzero"`
	RewindLSN   lsn.LSN   `json:"rewind_lsn,omitempty"` // the rewind record, once done
}

// Resolve turns a target into an LSN on this volume's current timeline.
func (v *Volume) Resolve(t lsn.Target) (lsn.LSN, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.hist.Resolve(t, v.st.Head, v.now())
}

// Plan describes a rewind from the live state to target.
func (v *Volume) Plan(target lsn.LSN) (RewindPlan, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.plan(target)
}

func (v *Volume) plan(target lsn.LSN) (RewindPlan, error) {
	p := RewindPlan{From: v.st.Head, To: target}
	cur, err := v.hist.Path(v.st.Head)
	if err != nil {
		return p, err
	}
	dst, err := v.hist.Path(target)
	if err != nil {
		return p, err
	}
	if e, ok := v.hist.Entry(target); ok {
		p.ToTime = time.Unix(0, e.Time).UTC()
	} else {
		p.ToTime = time.Unix(0, v.hist.BaseTime()).UTC()
	}
	// Both paths are sorted; what they share is kept, the rest of cur is
	// undone and the rest of dst is redone.
	inDst := make(map[int]bool, len(dst))
	for _, i := range dst {
		inDst[i] = true
	}
	inCur := make(map[int]bool, len(cur))
	files := map[uint64]bool{}
	for _, i := range cur {
		inCur[i] = true
		if inDst[i] {
			continue
		}
		e := v.hist.EntryAt(i)
		p.Undone++
		p.UndoneBytes += int64(e.Data.Len) + int64(e.MetaLen)
		noteFiles(files, e)
		t := time.Unix(0, e.Time).UTC()
		if p.SpanFrom.IsZero() || t.Before(p.SpanFrom) {
			p.SpanFrom = t
		}
		if t.After(p.SpanTo) {
			p.SpanTo = t
		}
	}
	for _, i := range dst {
		if inCur[i] {
			continue
		}
		e := v.hist.EntryAt(i)
		p.Redone++
		p.RedoneBytes += int64(e.Data.Len) + int64(e.MetaLen)
		noteFiles(files, e)
	}
	p.Files = len(files)
	return p, nil
}

func noteFiles(files map[uint64]bool, e backtrack.Entry) {
	op, err := e.Op()
	if err != nil {
		return
	}
	switch {
	case op.Type == fsstate.OpCreate || op.Type == fsstate.OpSymlink:
		files[fsstate.InoOf(e.LSN)] = true
	case op.Ino != 0:
		files[op.Ino] = true
	case op.Parent != 0:
		files[op.Parent] = true
	}
}

// Rewind switches the live state to state(target) and appends a rewind
// record naming it, then syncs. It refuses while files are open. It returns
// the plan it carried out and the state it left, so the caller can tell the
// kernel which cached inodes and names to forget.
func (v *Volume) Rewind(target lsn.LSN) (RewindPlan, *fsstate.State, error) {
	v.mu.Lock()
	if v.nopen > 0 {
		n := v.nopen
		v.mu.Unlock()
		return RewindPlan{}, nil, fmt.Errorf("%w: %d file handle(s) open; stop the database (or close the files) and try again", ErrFilesOpen, n)
	}
	p, err := v.plan(target)
	if err != nil {
		v.mu.Unlock()
		return p, nil, err
	}
	old := v.st
	err = v.appendRewind(target)
	p.RewindLSN = v.st.Head
	head := v.log.Head()
	v.mu.Unlock()
	if err != nil {
		return p, nil, err
	}
	if err := v.log.Sync(head); err != nil {
		return p, old, fmt.Errorf("sync rewind record: %w", err)
	}
	return p, old, nil
}

// appendRewind builds state(target), appends the rewind record and makes the
// new state live. The caller holds v.mu. The state is built before anything
// is written, so a target that cannot be built changes nothing.
func (v *Volume) appendRewind(target lsn.LSN) error {
	if v.readOnly {
		return fmt.Errorf("cannot rewind a read-only view")
	}
	st, err := v.hist.Build(target)
	if err != nil {
		return err
	}
	op := &fsstate.Op{Type: fsstate.OpRewind, RewindTo: uint64(target)}
	v.meta = op.AppendMeta(v.meta[:0])
	l, t, loc, err := v.log.Append(op.Type, v.meta, nil)
	if err != nil {
		return fmt.Errorf("append rewind record: %w", err)
	}
	if err := v.hist.Add(l, t, op.Type, v.meta, loc); err != nil {
		v.failed = err
		return err
	}
	st.Head, st.HeadTime = l, t
	v.st = st
	v.lastSync = 0
	for _, ino := range st.Orphans() {
		if _, err := v.commit(&fsstate.Op{Type: fsstate.OpPurge, Ino: ino}, nil); err != nil {
			return err
		}
	}
	return nil
}
