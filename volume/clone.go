package volume

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// Clones.
//
// A clone is a new, writable, independent volume whose live state starts
// at state(T) of its parent. state(T) is what the parent's base image plus
// its log through T rebuild (rewind records are in the log, so the
// timelines come along), which gives the clone's layout:
//
//   - base/: a copy of the parent's base image. The page files are changed
//     in place by the next fold of either volume, so they cannot be shared;
//     each is reflinked (FICLONE) where the file system can, otherwise
//     copied extent by extent, keeping holes. The state file is written
//     anew, with the parent's marks at or below T.
//   - log/: the parent's sealed segments up to T are hard-linked: they are
//     immutable, so sharing them costs nothing and changes nothing. The
//     segment that holds T is copied up to the end of T's record (the
//     clone appends after T into it) with the clone's ID in its header.
//     Segments after it are not taken. Segments that hold nothing after
//     the base are not taken either.
//   - rewindfs.json: the parent's settings with a new volume ID, the
//     lineage (Ancestors, whose IDs the log accepts in the linked
//     segments' headers), the retention overrides, and no archive: a
//     second volume uploading to the parent's prefix would clash with it.
//
// The parent is only read: hard links and reads change none of its files.
// Its compaction is held off for the whole time (baseimage.LockFolds,
// shared, as a view takes it while it loads), so that the base image
// copied and the segments linked are one consistent image: no fold
// rewrites a page file while it is copied, and no segment is deleted
// before it is linked.
//
// The clone is built in a temporary directory next to NEWVOLUME, synced,
// opened read-only as a check (its head must be T), and renamed into
// place: a failure at any point leaves nothing at NEWVOLUME.

// cloneHook, when a test sets it, is called before each step of Clone
// that writes; an error from it fails the clone there.
var cloneHook func(step string) error

func cloneStep(step string) error {
	if cloneHook == nil {
		return nil
	}
	return cloneHook(step)
}

// CloneOptions are the choices of `rewindfs clone`.
type CloneOptions struct {
	// Target is the parent's state the clone starts at; nil: the parent's
	// head (with Durable set, the head that Durable made durable).
	Target *lsn.Target
	// Durable is set when the parent is mounted: it makes the parent's log
	// durable (the daemon syncs, recording a sync point) and returns the
	// LSN through which it is. A target after it is refused: the parent
	// could still lose it in a crash.
	Durable func() (lsn.LSN, error)
	// Window and MaxLogBytes override the parent's retention.
	Window      *time.Duration
	MaxLogBytes *int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// CloneReport says what Clone did.
type CloneReport struct {
	Parent          string    `json:"parent"`
	Volume          string    `json:"volume"`
	VolumeID        string    `json:"volume_id"`
	ParentID        string    `json:"parent_volume_id"`
	LSN             lsn.LSN   `json:"lsn"`
	Time            time.Time `json:"time"`
	BaseLSN         lsn.LSN   `json:"base_lsn"`
	SegmentsLinked  int       `json:"segments_linked"`
	BytesLinked     int64     `json:"bytes_linked"`
	SegmentCopied   string    `json:"segment_copied,omitempty"` // the segment holding LSN, copied up to it
	BytesCopied     int64     `json:"bytes_copied"`             // of that segment and the base image
	PageFiles       int       `json:"page_files"`
	PageFilesLinked int       `json:"page_files_linked"` // shared by hard link; the first fold to write one copies it
	Reflinked       int       `json:"page_files_reflinked"`
	Marks           []string  `json:"marks"`
	// ArchiveCleared is the parent's archive URL, which the clone does not
	// take.
	ArchiveCleared string  `json:"archive_cleared,omitempty"`
	Seconds        float64 `json:"seconds"`
}

// ErrCloneTarget is returned for a target the clone cannot start at.
var ErrCloneTarget = errors.New("cannot clone at that target")

// Clone makes dst a new volume that starts at state(o.Target) of the
// volume in parent. dst must not exist or be an empty directory, and its
// parent directory must exist.
func Clone(parent, dst string, o CloneOptions) (rep CloneReport, err error) {
	start := time.Now()
	if o.Now == nil {
		o.Now = time.Now
	}
	if parent, err = filepath.Abs(parent); err != nil {
		return rep, err
	}
	if dst, err = filepath.Abs(dst); err != nil {
		return rep, err
	}
	rep.Parent, rep.Volume, rep.Marks = parent, dst, []string{}
	ps, err := ReadSettings(parent)
	if err != nil {
		return rep, err
	}
	if err := checkCloneDest(parent, dst); err != nil {
		return rep, err
	}
	if o.Window != nil && *o.Window < time.Second {
		return rep, fmt.Errorf("%w: window %s: give at least 1s", ErrSettings, *o.Window)
	}
	if o.MaxLogBytes != nil && *o.MaxLogBytes < 0 {
		return rep, fmt.Errorf("%w: max log bytes %d is negative (0 means no cap)", ErrSettings, *o.MaxLogBytes)
	}
	durable := lsn.LSN(0)
	if o.Durable != nil {
		if durable, err = o.Durable(); err != nil {
			return rep, fmt.Errorf("sync the mounted volume %s: %w", parent, err)
		}
	}

	// From here until the clone is complete, no fold of the parent moves
	// its base or deletes a segment.
	unlock, err := baseimage.LockFolds(parent, false)
	if err != nil {
		return rep, err
	}
	defer unlock()
	pv, err := Open(parent, Options{ReadOnly: true, Now: o.Now, Logf: func(string, ...any) {}})
	if err != nil {
		return rep, err
	}
	defer pv.Close()
	if f := pv.img.Folding; f != 0 {
		return rep, fmt.Errorf("%w: a compaction of %s to LSN %d was interrupted; mount the volume (or run rewindfs compact %s) to finish it, then clone", ErrCloneTarget, parent, f, parent)
	}
	target, err := cloneTarget(pv, o.Target, o.Durable != nil, durable)
	if err != nil {
		return rep, err
	}
	rep.LSN, rep.BaseLSN, rep.ParentID = target, pv.img.Base, ps.VolumeID
	rep.Time = pv.TimeOf(target)

	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".clone-*.tmp")
	if err != nil {
		return rep, fmt.Errorf("make the clone's temporary directory next to %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err = os.Chmod(tmp, 0o700); err != nil {
		return rep, err
	}
	var id [16]byte
	if _, err = rand.Read(id[:]); err != nil {
		return rep, err
	}
	rep.VolumeID = hex.EncodeToString(id[:])

	if err = cloneStep("log"); err != nil {
		return rep, err
	}
	if err = cloneLog(pv, tmp, target, id, &rep); err != nil {
		return rep, err
	}
	if err = cloneStep("base"); err != nil {
		return rep, err
	}
	if err = cloneBase(pv, tmp, target, &rep); err != nil {
		return rep, err
	}
	cs := cloneSettings(ps, parent, target, rep.VolumeID, o)
	if ps.Archive != "" {
		rep.ArchiveCleared = ps.Archive
	}
	// The settings file is what makes a directory a volume; it goes last,
	// like init does, although only the rename below publishes the clone.
	if err = cloneStep("settings"); err != nil {
		return rep, err
	}
	if err = writeSettings(tmp, cs); err != nil {
		return rep, fmt.Errorf("write the clone's settings: %w", err)
	}
	for _, d := range []string{filepath.Join(tmp, LogDir), filepath.Join(tmp, baseimage.Dir, baseimage.PagesDir), filepath.Join(tmp, baseimage.Dir), tmp} {
		if err = syncDir(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			return rep, fmt.Errorf("fsync %s: %w", d, err)
		}
		err = nil
	}

	// A check before the clone appears: it must open and show state(T).
	if err = cloneStep("check"); err != nil {
		return rep, err
	}
	cv, err := Open(tmp, Options{ReadOnly: true, Now: o.Now, Logf: func(string, ...any) {}})
	if err != nil {
		return rep, fmt.Errorf("check the clone: %w", err)
	}
	head := cv.Head()
	cv.Close()
	if head != target {
		err = fmt.Errorf("check the clone: it opens at LSN %d, not at LSN %d", head, target)
		return rep, err
	}

	// rename(2) replaces an empty directory, and fails if dst gained an
	// entry since the check: the clone never mixes with other files.
	// (os.Rename refuses every existing directory.)
	if err = cloneStep("rename"); err != nil {
		return rep, err
	}
	if err = unix.Rename(tmp, dst); err != nil {
		return rep, fmt.Errorf("move the clone into place at %s: %w", dst, err)
	}
	if err = syncDir(filepath.Dir(dst)); err != nil {
		return rep, fmt.Errorf("fsync %s: %w", filepath.Dir(dst), err)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// checkCloneDest refuses a NEWVOLUME that holds anything, or that lies
// inside the parent, or whose directory does not exist.
func checkCloneDest(parent, dst string) error {
	if dst == parent || strings.HasPrefix(dst, parent+string(filepath.Separator)) || strings.HasPrefix(parent, dst+string(filepath.Separator)) {
		return fmt.Errorf("%w: the clone %s and the volume %s may not contain each other; give a directory beside the volume", ErrNotEmpty, dst, parent)
	}
	st, err := os.Stat(filepath.Dir(dst))
	if err != nil || !st.IsDir() {
		return fmt.Errorf("directory %s does not exist: create it first, the clone goes inside it", filepath.Dir(dst))
	}
	ents, err := os.ReadDir(dst)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("NEWVOLUME %s: %w", dst, err)
	}
	if len(ents) > 0 {
		if _, err := os.Stat(filepath.Join(dst, SettingsFile)); err == nil {
			return fmt.Errorf("%w: %s; give a new or empty directory for the clone", ErrExists, dst)
		}
		return fmt.Errorf("%w: %s holds %q; give a new or empty directory for the clone", ErrNotEmpty, dst, ents[0].Name())
	}
	return nil
}

// cloneTarget resolves the target on the parent (open read-only).
func cloneTarget(pv *Volume, t *lsn.Target, mounted bool, durable lsn.LSN) (lsn.LSN, error) {
	head := pv.Head()
	if t == nil {
		if mounted {
			return min(head, durable), nil
		}
		return head, nil
	}
	l, err := pv.Resolve(*t)
	if err != nil {
		return 0, fmt.Errorf("%w: %w; give a target inside the window (rewindfs status %s shows it)", ErrCloneTarget, err, pv.Dir)
	}
	if mounted && l > durable {
		return 0, fmt.Errorf("%w: LSN %d is not durable yet on the mounted volume (durable through LSN %d); give an earlier target or retry", ErrCloneTarget, l, durable)
	}
	return l, nil
}

// cloneLog fills tmp/log with the parent's log through target (see the
// comment at the top).
func cloneLog(pv *Volume, tmp string, target lsn.LSN, id [16]byte, rep *CloneReport) error {
	src := filepath.Join(pv.Dir, LogDir)
	dst := filepath.Join(tmp, LogDir)
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	if target == 0 {
		return nil // an empty parent: the clone's log starts empty too
	}
	base := pv.img.Base
	held := false
	for _, s := range pv.log.Segments() {
		switch {
		case s.FirstLSN > target:
			// After the target: not the clone's history.
		case s.LastLSN < target && s.LastLSN <= base:
			// Folded into the base image the clone copies.
		case s.LastLSN < target:
			n, err := linkOrCopy(filepath.Join(src, s.Name), filepath.Join(dst, s.Name))
			if err == nil {
				// Its index too, if it has one: the clone then opens
				// without scanning the segment (an index is optional).
				ix := pagelog.IndexName(s.Name)
				_ = os.Link(filepath.Join(src, ix), filepath.Join(dst, ix))
			}
			if err != nil {
				return fmt.Errorf("link segment %s: %w", s.Name, err)
			}
			rep.SegmentsLinked++
			rep.BytesLinked += n
		default:
			n, err := pagelog.CopySegmentPrefix(nil, src, s.Name, dst, target, id)
			if err != nil {
				return fmt.Errorf("copy segment %s up to LSN %d: %w", s.Name, target, err)
			}
			rep.SegmentCopied = s.Name
			rep.BytesCopied += n
			held = true
		}
	}
	if !held {
		// The target is the base LSN and compaction deleted the segment
		// of its record: the clone's log starts right after it.
		if target != base {
			return fmt.Errorf("no segment of %s holds LSN %d", pv.Dir, target)
		}
		if err := pagelog.CreateEmptySegment(nil, dst, target+1, id); err != nil {
			return err
		}
	}
	return nil
}

// linkOrCopy hard-links a sealed segment, or copies it when the clone is
// on another file system. It returns the file's size.
func linkOrCopy(src, dst string) (int64, error) {
	st, err := os.Stat(src)
	if err != nil {
		return 0, err
	}
	err = os.Link(src, dst)
	if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EPERM) {
		_, err = copyFile(src, dst)
	}
	return st.Size(), err
}

// cloneBase copies the parent's base image into tmp/base and writes the
// clone's state file with the marks it keeps.
func cloneBase(pv *Volume, tmp string, target lsn.LSN, rep *CloneReport) error {
	img := pv.img
	var marks []baseimage.Mark
	for _, m := range pv.hist.MarkList() {
		// A mark after the target names a state the clone never had; its
		// LSN will be a different record there.
		if m.LSN <= target && m.LSN >= img.Base {
			marks = append(marks, baseimage.Mark{Name: m.Name, LSN: m.LSN, Keep: m.Keep})
			rep.Marks = append(rep.Marks, m.Name)
		}
	}
	if img.Base == 0 && len(marks) == 0 {
		return nil // nothing folded, nothing to carry: no base image yet
	}
	srcPages := filepath.Join(pv.Dir, baseimage.Dir, baseimage.PagesDir)
	dstPages := filepath.Join(tmp, baseimage.Dir, baseimage.PagesDir)
	if err := os.MkdirAll(dstPages, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(srcPages)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list the base image of %s: %w", pv.Dir, err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		// Shared by hard link, like the sealed segments: a fold, in the
		// parent or in the clone, copies a page file that has more than
		// one name before it writes it (baseimage's OpenPages), so the
		// sharing costs nothing until one of them changes a file.
		src, dst := filepath.Join(srcPages, e.Name()), filepath.Join(dstPages, e.Name())
		rep.PageFiles++
		if err := os.Link(src, dst); err == nil {
			rep.PageFilesLinked++
			if info, err := e.Info(); err == nil {
				rep.BytesLinked += info.Size()
			}
			continue
		} else if !errors.Is(err, unix.EXDEV) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("link base image page file %s: %w", e.Name(), err)
		}
		r, err := copyFile(src, dst)
		if err != nil {
			return fmt.Errorf("copy base image page file %s: %w", e.Name(), err)
		}
		rep.BytesCopied += r.bytes
		if r.reflinked {
			rep.Reflinked++
		}
	}
	ci, err := baseimage.Open(pagelog.Disk, tmp, fsstate.New(pv.Settings.PageSize, pv.Settings.Root()), false)
	if err != nil {
		return err
	}
	defer ci.Close()
	if err := ci.Commit(img.Base, img.BaseTime, img.State, marks, img.Aliases); err != nil {
		return fmt.Errorf("write the clone's base state: %w", err)
	}
	return nil
}

// cloneSettings derives the clone's settings from the parent's.
func cloneSettings(ps *Settings, parent string, target lsn.LSN, id string, o CloneOptions) *Settings {
	cs := *ps
	cs.VolumeID = id
	// Created stays: it is the time of state(0)'s root directory, which
	// the clone rebuilds like the parent does.
	cs.Ancestors = append(append([]Ancestor(nil), ps.Ancestors...), Ancestor{
		VolumeID: ps.VolumeID, Path: parent, BranchLSN: target, Cloned: o.Now().UTC().Format(time.RFC3339Nano),
	})
	cs.Archive, cs.ArchiveEndpoint, cs.ArchiveCredentialsFile = "", "", ""
	if o.Window != nil {
		cs.Window = o.Window.String()
	}
	if o.MaxLogBytes != nil {
		cs.MaxLogBytes = *o.MaxLogBytes
	}
	return &cs
}
