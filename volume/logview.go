package volume

import (
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
)

// LogEntry is one record as `rewindfs log` shows it. Never file contents.
type LogEntry struct {
	LSN     lsn.LSN   `json:"lsn"`
	Time    time.Time `json:"time"`
	Op      string    `json:"op"`
	Path    string    `json:"path"`
	NewPath string    `json:"new_path,omitempty"` // rename, link
	Offset  uint64    `json:"offset,omitempty"`   // write
	Bytes   int64     `json:"bytes"`              // write: bytes the application wrote; setattr: new size
	Target  lsn.LSN   `json:"target,omitempty"`   // rewind
	Name    string    `json:"name,omitempty"`     // mark
}

// Log calls fn for every record with from <= LSN <= to, in LSN order, with
// paths resolved against the state just before (for removals and renames)
// or just after (for creations) the record.
func (v *Volume) Log(from, to lsn.LSN, fn func(LogEntry) error) error {
	v.mu.RLock()
	entries := v.hist.Entries(0, to)
	st := v.hist.BaseClone()
	v.mu.RUnlock()
	lost := false // replaying a branch whose start is no longer known
	paths := map[uint64]string{}
	pathOf := func(ino uint64) string {
		if p, ok := paths[ino]; ok {
			return p
		}
		p := st.PathOf(ino)
		paths[ino] = p
		return p
	}
	for e := range entries {
		op, err := e.Op()
		if err != nil {
			return err
		}
		le := LogEntry{LSN: e.LSN, Time: time.Unix(0, e.Time).UTC(), Op: fsstate.OpName(e.Type)}
		child := func(parent uint64, name string) string {
			p := pathOf(parent)
			if p == "/" {
				return "/" + name
			}
			return p + "/" + name
		}
		switch e.Type {
		case fsstate.OpCreate, fsstate.OpSymlink:
			le.Path = child(op.Parent, op.Name)
		case fsstate.OpLink:
			le.Path = pathOf(op.Ino)
			le.NewPath = child(op.NewParent, op.NewName)
		case fsstate.OpUnlink:
			le.Path = child(op.Parent, op.Name)
		case fsstate.OpRename:
			le.Path = child(op.Parent, op.Name)
			le.NewPath = child(op.NewParent, op.NewName)
		case fsstate.OpWrite:
			le.Path, le.Offset, le.Bytes = pathOf(op.Ino), op.Off, int64(op.Len)
		case fsstate.OpSetAttr:
			le.Path = pathOf(op.Ino)
			if op.Valid&fsstate.SetSize != 0 {
				le.Bytes = int64(op.Size)
			}
		case fsstate.OpAllocate:
			le.Path, le.Bytes = pathOf(op.Ino), int64(op.Size)
		case fsstate.OpSetXattr, fsstate.OpRemoveXattr, fsstate.OpPurge:
			le.Path = pathOf(op.Ino)
		case fsstate.OpRewind:
			le.Target = lsn.LSN(op.RewindTo)
		case fsstate.OpMark:
			le.Name = op.Name
		}
		// Advance the replay state.
		switch e.Type {
		case fsstate.OpRewind:
			v.mu.RLock()
			nst, err := v.hist.Build(lsn.LSN(op.RewindTo))
			v.mu.RUnlock()
			lost = err != nil
			if lost {
				// The branch before this rewind was folded away: the
				// records that follow keep their LSNs but may lose
				// their paths.
				v.mu.RLock()
				nst = v.hist.BaseClone()
				v.mu.RUnlock()
			}
			st = nst
			clear(paths)
		default:
			if err := st.Apply(&fsstate.Rec{LSN: e.LSN, Time: e.Time, Op: &op, Data: e.Data}); err != nil && !lost {
				return fmt.Errorf("record %d (%s) does not apply: %w", e.LSN, le.Op, err)
			}
			switch e.Type {
			case fsstate.OpCreate, fsstate.OpSymlink, fsstate.OpWrite, fsstate.OpSetAttr, fsstate.OpAllocate,
				fsstate.OpSetXattr, fsstate.OpRemoveXattr, fsstate.OpSync, fsstate.OpMark:
			default:
				clear(paths)
			}
		}
		if e.LSN >= from {
			if err := fn(le); err != nil {
				return err
			}
		}
	}
	return nil
}
