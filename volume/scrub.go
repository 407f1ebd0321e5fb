package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/rewindfs/rewindfs/pagelog"
)

// RecheckAfter is how long a sealed segment that Scrub read and found whole
// is trusted before a later mount reads it again. A week, as storage
// systems scrub their disks (Ceph deep-scrubs weekly): damage that appears
// on the disk is still found within it, and a volume mounted many times a
// day no longer reads its whole window after every mount.
const RecheckAfter = 7 * 24 * time.Hour

// CheckedFile, in the volume directory, remembers when Scrub last found each
// sealed segment whole. It is advisory: a missing or unreadable file only
// means every segment is checked again.
const CheckedFile = "checked.json"

// checkedSegs is CheckedFile's content.
type checkedSegs struct {
	Segments map[string]checkedSeg `json:"segments"`
}

type checkedSeg struct {
	Size    int64     `json:"size"`
	Checked time.Time `json:"checked"`
}

// Scrub reads every record of the log's sealed segments and checks its
// checksum (pagelog.VerifySealed): a mount builds the state from the
// segments' indexes without reading the records, so this is how damage
// that appeared on the disk after a segment was indexed is found. The
// daemon runs it in the background after a read-write mount; what it
// finds is returned, kept, and shown by Status (Damaged and a warning)
// until the volume is closed. It returns nil early when stop is closed.
//
// Segments found whole within RecheckAfter (CheckedFile; a sealed segment
// never changes, so its name and size say which file was read) are not
// read again. CheckedFile is rewritten durably after each segment read,
// so a crash costs at most the re-reading of one segment. It returns how
// many segments it read and how many it trusted.
func (v *Volume) Scrub(stop <-chan struct{}) (read, trusted int, err error) {
	v.CheckPending()
	defer func() {
		v.mu.Lock()
		v.checking = false
		v.mu.Unlock()
	}()
	path := filepath.Join(v.Dir, CheckedFile)
	prev, err := readChecked(path)
	if err != nil {
		v.logf("%v: checking every sealed segment", err)
	}
	// next starts as what prev says, so that a check stopped halfway (an
	// unmount) forgets nothing it had not reached yet; a complete one then
	// drops the segments it did not meet (compaction removed them).
	next := checkedSegs{Segments: maps.Clone(prev.Segments)}
	if next.Segments == nil {
		next.Segments = map[string]checkedSeg{}
	}
	met := map[string]bool{}
	now := v.now()
	save := func() {
		if err := writeChecked(path, next); err != nil {
			v.logf("%v: the next mount checks these segments again", err)
		}
	}
	plan := &pagelog.ScrubPlan{
		Skip: func(name string, size int64) bool {
			met[name] = true
			c, ok := prev.Segments[name]
			if ok && c.Size == size && now.Sub(c.Checked) < RecheckAfter && !c.Checked.After(now) {
				trusted++
				return true
			}
			delete(next.Segments, name) // not trusted: whole again only once read
			return false
		},
		Checked: func(name string, size int64) {
			read++
			next.Segments[name] = checkedSeg{Size: size, Checked: v.now()}
			save()
		},
	}
	err = v.log.VerifySealed(stop, plan)
	if err != nil {
		save() // without the damaged segment, which Skip dropped
	} else if !closed(stop) {
		gone := false
		for name := range next.Segments {
			if !met[name] {
				delete(next.Segments, name)
				gone = true
			}
		}
		if gone {
			save()
		}
	}
	v.mu.Lock()
	v.damaged = err
	v.mu.Unlock()
	return read, trusted, err
}

// CheckPending makes Status say checking from now until Scrub ends, for a
// daemon that runs Scrub once it serves: a script that sees the mount
// then never sees checking false before the check has run.
func (v *Volume) CheckPending() {
	v.mu.Lock()
	v.checking = true
	v.mu.Unlock()
}

// closed says whether stop (nil: never) is closed.
func closed(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// readChecked reads CheckedFile; a missing file is an empty record.
func readChecked(path string) (checkedSegs, error) {
	c := checkedSegs{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return checkedSegs{}, fmt.Errorf("read %s: %w", path, err)
	}
	return c, nil
}

// writeChecked replaces CheckedFile durably (pagelog.WriteFileDurably: a
// temporary file, fsync, rename, fsync of the directory), so a crash leaves
// the old record or the new one, never a torn one.
func writeChecked(path string, c checkedSegs) error {
	b, err := json.MarshalIndent(c, "", "\t")
	if err != nil {
		return err
	}
	return pagelog.WriteFileDurably(nil, path, append(b, '\n'), 0o600)
}
