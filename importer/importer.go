// Package importer copies an existing directory tree (the data directory of
// a stopped database, or any tree) into a new volume, so that the copy is
// the volume's first restorable point.
//
// The new volume is built in a hidden sibling directory of its final name
// and renamed into place only once it is complete, synced, marked and
// compacted: whatever fails (an unreadable file, a full disk, Ctrl-C)
// leaves nothing at the final name.
//
// What is copied, through the volume's own operations (each one a record,
// as if a program had made the tree on a mount): directories, regular files
// with their holes (found with SEEK_DATA/SEEK_HOLE and never written as
// zeros), symbolic links with their targets byte for byte, hard links (one
// inode for every name inside the tree), FIFOs, sockets and device nodes;
// for each, its mode (set-ID and sticky bits too), owner, group, access and
// modification times (to the nanosecond) and extended attributes. The
// change time cannot be set: it is the time of the import.
//
// POSIX ACLs (system.posix_acl_access, system.posix_acl_default) are not
// supported by the volume: they are skipped with a warning, and access on
// the volume is decided by the mode bits alone (which for a file with an
// ACL hold the ACL's mask in the group bits). Other system.* attributes are
// skipped the same way.
//
// The order of operations on each inode matters, because the volume does
// what Linux does: a write or a change of owner drops security.capability,
// and creating a name in a directory changes the directory's times. So a
// file gets its data first, then its size, mode, owner and times in one
// setattr, then its extended attributes (which change only the ctime); a
// directory gets its mode, owner and times after everything inside it
// exists.
//
// Then the volume is synced, the import point is named with a mark (kept,
// by default, so it stays restorable after it leaves the window), and the
// records up to it are folded into the base image (volume.CompactThrough):
// the imported data lives in the base image, in order, and the log starts
// empty.
package importer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// DefaultMark is the name of the mark at the import point.
const DefaultMark = "import"

// Options say what to import where.
type Options struct {
	// Source is the directory to copy. It is not changed.
	Source string
	// Volume is the new volume's directory: it must not exist, or be empty.
	Volume string
	// Init are the new volume's settings, as for `rewindfs init`.
	Init volume.InitOptions
	// Mark names the import point (DefaultMark if empty); KeepMark makes it
	// a kept mark, which holds compaction so it stays restorable.
	Mark     string
	KeepMark bool
	// Force imports a directory that looks like a running PostgreSQL.
	Force bool
	// Started, if set, is called once the source has been scanned, with the
	// bytes of regular files to copy (holes included); Progress with every
	// step of bytes done (holes skipped count as done).
	Started  func(total int64)
	Progress func(n int64)
	// Folding, if set, is called when the copy is done and the fold into
	// the base image begins (it reports no progress of its own).
	Folding func()
	// Warn receives what the import skipped (ACLs) or found doubtful.
	Warn func(format string, args ...any)
}

// Report says what was imported.
type Report struct {
	Source       string  `json:"source"`
	Volume       string  `json:"volume"`
	Files        int     `json:"files"`     // regular files (inodes, not names)
	Dirs         int     `json:"dirs"`      // directories, the root included
	Symlinks     int     `json:"symlinks"`  // symbolic links
	HardLinks    int     `json:"hardlinks"` // names added to an inode that already had one
	Specials     int     `json:"specials"`  // FIFOs, sockets, device nodes
	Xattrs       int     `json:"xattrs"`    // extended attributes copied
	ACLsSkipped  int     `json:"acls_skipped"`
	Bytes        int64   `json:"bytes"`          // data bytes copied
	Size         int64   `json:"size"`           // sum of regular file sizes
	Holes        int     `json:"holes"`          // holes not written
	HoleBytes    int64   `json:"hole_bytes"`     // bytes of those holes
	Seconds      float64 `json:"seconds"`        // the whole import
	MiBPerSecond float64 `json:"mib_per_second"` // Bytes over Seconds
	Mark         string  `json:"mark"`
	MarkKept     bool    `json:"mark_kept"`
	MarkLSN      lsn.LSN `json:"mark_lsn"`
	BaseLSN      lsn.LSN `json:"base_lsn"`
	HeadLSN      lsn.LSN `json:"head_lsn"`
}

// ErrRunning is returned when the source looks like the data directory of
// a running PostgreSQL and Options.Force is not set.
var ErrRunning = errors.New("importer: the database looks running")

// Import copies o.Source into the new volume o.Volume. On error nothing is
// left at o.Volume (or it stays the empty directory it was), and the error
// names the file that failed and what to do about it.
func Import(ctx context.Context, o Options) (rep Report, err error) {
	began := time.Now()
	if o.Mark == "" {
		o.Mark = DefaultMark
	}
	if err := lsn.ValidMarkName(o.Mark); err != nil {
		return rep, err
	}
	if o.Warn == nil {
		o.Warn = func(string, ...any) {}
	}
	src, dst, err := checkPaths(o.Source, o.Volume)
	if err != nil {
		return rep, err
	}
	rep.Source, rep.Volume, rep.Mark, rep.MarkKept = src, dst, o.Mark, o.KeepMark
	entries, total, err := scan(src)
	if err != nil {
		return rep, err
	}
	if pid, where := runningPostgres(entries); pid != 0 {
		if !o.Force {
			return rep, fmt.Errorf("%w: %s names pid %d, a live PostgreSQL: stop it first (pg_ctl stop), or give --force to copy it anyway (the copy will need crash recovery and may be inconsistent)", ErrRunning, where, pid)
		}
		o.Warn("%s names pid %d, a live PostgreSQL: importing anyway (--force); the copy may be inconsistent", where, pid)
	}
	if o.Started != nil {
		o.Started(total)
	}

	// Build beside the final name, so that a failure leaves nothing there
	// and the last step is one rename.
	removeStale(dst)
	tmp := filepath.Join(filepath.Dir(dst), fmt.Sprintf(".%s.importing-%d", filepath.Base(dst), os.Getpid()))
	if err := os.RemoveAll(tmp); err != nil {
		return rep, err
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(tmp)
		}
	}()
	if _, err := volume.Init(tmp, o.Init); err != nil {
		return rep, volumeError("create the new volume", err)
	}
	v, err := volume.Open(tmp, volume.Options{Purpose: "rewindfs import", Logf: func(string, ...any) {}})
	if err != nil {
		return rep, volumeError("open the new volume", err)
	}
	defer func() {
		if v != nil {
			_ = v.Close()
		}
	}()

	c := &copier{ctx: ctx, v: v, o: &o, rep: &rep, inos: make([]uint64, len(entries)), links: map[devIno]uint64{}}
	c.chunk = chunkSize(v.Settings)
	if err := c.copyAll(entries); err != nil {
		return rep, err
	}
	// Mark syncs first: the import point is a durable sync point.
	if rep.MarkLSN, err = v.Mark(o.Mark, o.KeepMark); err != nil {
		return rep, volumeError("mark the import point", err)
	}
	if o.Folding != nil {
		o.Folding()
	}
	if _, err := v.CompactThrough(rep.MarkLSN); err != nil {
		return rep, volumeError("fold the import into the base image", err)
	}
	st := v.Status()
	rep.BaseLSN, rep.HeadLSN = st.BaseLSN, st.HeadLSN
	err = v.Close()
	v = nil
	if err != nil {
		return rep, volumeError("close the new volume", err)
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("interrupted after the copy, before the rename (nothing is left at %s): %w", dst, err)
	}
	// rename(2) itself, not os.Rename, which refuses to replace an empty
	// directory.
	if err := syscall.Rename(tmp, dst); err != nil {
		return rep, fmt.Errorf("move the new volume to %s: %w", dst, err)
	}
	done = true
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return rep, err
	}
	rep.Seconds = time.Since(began).Seconds()
	rep.MiBPerSecond = float64(rep.Bytes) / (1 << 20) / max(rep.Seconds, 1e-6)
	return rep, nil
}

// removeStale removes what an import into dst that was killed (SIGKILL, a
// crash: no chance to clean up) left beside it: .NAME.importing-PID where
// no process PID is alive any more.
func removeStale(dst string) {
	prefix := "." + filepath.Base(dst) + ".importing-"
	ents, err := os.ReadDir(filepath.Dir(dst))
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, err := strconv.Atoi(rest)
		if err != nil || pid <= 0 || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		_ = os.RemoveAll(filepath.Join(filepath.Dir(dst), e.Name()))
	}
}

// volumeError wraps an error of the new volume; a full disk gets its fix.
func volumeError(what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%s: %w (%s)", what, err, fixFor(unix.ENOSPC))
	}
	return fmt.Errorf("%s: %w", what, err)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// chunkSize is the most data one write record carries: 1 MiB (as much as
// a FUSE write), less on a volume with small segments, whole pages.
func chunkSize(s *volume.Settings) int {
	n := int64(1 << 20)
	n = min(n, s.SegmentSize/4)
	n -= n % int64(s.PageSize)
	return int(max(n, int64(s.PageSize)))
}

// root is the inode number the source root becomes.
const root = fsstate.RootIno
