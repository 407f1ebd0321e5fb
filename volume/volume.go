package volume

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rewindfs/rewindfs/backtrack"
	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// Options say how to open a volume.
type Options struct {
	// ReadOnly opens a view: nothing is written, the lock is not taken, and
	// a log another process is appending to is read up to where it is whole.
	ReadOnly bool
	// At, if set, opens state(At) instead of the head. Read-write, this is a
	// rewind (a rewind record is appended); read-only, a time-travel view.
	At *lsn.Target
	// Purpose names the lock holder in "volume is in use" errors.
	Purpose string
	// Now is the clock (tests inject one); nil means time.Now.
	Now func() time.Time
	// Logf receives what the volume has to say (recovery, purges).
	Logf func(format string, args ...any)
	// FS is the file system under the log; nil means the real disk.
	FS pagelog.FS
}

// Volume is an open volume.
type Volume struct {
	Dir      string
	Settings *Settings
	Recovery pagelog.RecoveryReport

	readOnly bool
	now      func() time.Time
	logf     func(string, ...any)
	lock     *Lock

	// mu orders every change: a record is checked, appended and applied
	// under it, so LSN order is apply order. Readers hold it only to find
	// page locations, never during data I/O.
	mu       sync.RWMutex
	fs       pagelog.FS
	img      *baseimage.Image
	pin      *baseimage.Pin // a view's claim on its state (see baseimage.RegisterView)
	compMu   sync.Mutex     // one compaction at a time
	policy   compactionPolicy
	archived func() lsn.LSN // the archive's confirmed LSN; nil without an archive
	log      *pagelog.Log
	hist     *backtrack.History
	st       *fsstate.State
	lastSync lsn.LSN // newest OpSync record, so idle fsyncs add none
	open     map[uint64]int
	nopen    int
	meta     []byte // scratch for record metadata
	scratch  []byte // scratch for read-modify-write pages
	failed   error  // set when state and log disagree; every later change fails
	damaged  error  // what Scrub found wrong in a sealed segment, nil if nothing
	checking bool   // Scrub is running
}

// Open opens the volume in dir: reads the settings, takes the lock (unless
// read-only), recovers the log, and rebuilds the state.
func Open(dir string, o Options) (*Volume, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s, err := ReadSettings(abs)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	v := &Volume{Dir: abs, Settings: s, readOnly: o.ReadOnly, now: o.Now, logf: o.Logf, open: map[uint64]int{}}
	if !o.ReadOnly {
		purpose := o.Purpose
		if purpose == "" {
			purpose = "rewindfs"
		}
		if v.lock, err = AcquireLock(abs, purpose); err != nil {
			return nil, err
		}
	}
	if err := v.load(o); err != nil {
		if v.pin != nil {
			v.pin.Release()
		}
		v.lock.Release()
		return nil, err
	}
	return v, nil
}

func (v *Volume) load(o Options) (err error) {
	id, _ := v.Settings.ID()
	ancestors, _ := v.Settings.AncestorIDs() // checked by ReadSettings
	codec, _ := pagelog.ParseCodec(v.Settings.Compression)
	v.fs = o.FS
	if v.fs == nil {
		v.fs = pagelog.Disk
	}
	v.policy = policyOf(v.Settings)
	defer func() {
		if err != nil {
			if v.log != nil {
				v.log.Close()
			}
			if v.img != nil {
				v.img.Close()
			}
		}
	}()
	if o.ReadOnly && o.At != nil {
		// A view: no fold may start until its pin is registered.
		unlock, err := baseimage.LockFolds(v.Dir, false)
		if err != nil {
			return err
		}
		defer unlock()
	}
	v.hist = backtrack.New(v.Settings.PageSize, v.Settings.Root())
	img, err := baseimage.Open(v.fs, v.Dir, fsstate.New(v.Settings.PageSize, v.Settings.Root()), o.ReadOnly)
	if err != nil {
		return fmt.Errorf("open base image of %s: %w", v.Dir, err)
	}
	v.img = img
	v.hist.SetBase(img.Base, img.BaseTime, img.State, markInfos(img.Marks), img.Aliases)
	var addErr error
	lg, rep, err := pagelog.Open(pagelog.Options{
		Dir: filepath.Join(v.Dir, LogDir), VolumeID: id, AncestorIDs: ancestors, SegmentSize: v.Settings.SegmentSize,
		Codec: codec, FS: o.FS, Now: o.Now, ReadOnly: o.ReadOnly, Preallocate: !o.ReadOnly, ZeroFill: !o.ReadOnly,
	}, func(r *pagelog.Scanned) error {
		addErr = v.hist.Add(r.LSN, r.Time, r.Type, r.Meta, r.Data)
		return addErr
	})
	if err != nil {
		if addErr != nil && img.Base > 0 {
			return fmt.Errorf("open log of %s: the log does not continue the base image at LSN %d: %w", v.Dir, img.Base, err)
		}
		return fmt.Errorf("open log of %s: %w", v.Dir, err)
	}
	v.log = lg
	v.Recovery = rep
	if lg.Head() < img.Base {
		return fmt.Errorf("open %s: the log ends at LSN %d, before the base image's LSN %d: segments are missing", v.Dir, lg.Head(), img.Base)
	}
	if rep.CutBytes > 0 {
		v.logf("recovery cut %d bytes of torn tail from segment %s after LSN %d (a copy is in %s)",
			rep.CutBytes, rep.CutSegment, rep.Head, rep.CutCopy)
	}
	if img.Folding != 0 {
		// A fold was cut short. Nothing below its target is offered;
		// read-write, the fold is done again now (it is idempotent).
		v.hist.SetFloor(img.Folding)
		if !o.ReadOnly {
			v.logf("a compaction to LSN %d was interrupted; finishing it", img.Folding)
			if _, err := v.fold(img.Folding); err != nil {
				return fmt.Errorf("finish interrupted compaction of %s: %w", v.Dir, err)
			}
		}
	}
	target := v.hist.Head()
	if o.At != nil {
		if target, err = v.hist.Resolve(*o.At, v.hist.Head(), v.now()); err != nil {
			return err
		}
	}
	if v.st, err = v.hist.Build(target); err != nil {
		return fmt.Errorf("rebuild state of %s: %w", v.Dir, err)
	}
	v.lastSync = v.hist.Head()
	if o.ReadOnly {
		if o.At != nil {
			what := fmt.Sprintf("the read-only view of pid %d", os.Getpid())
			if o.Purpose != "" {
				what = "the read-only view " + o.Purpose
			}
			if v.pin, err = baseimage.RegisterView(v.Dir, target, what); err != nil {
				return err
			}
		}
		return nil
	}
	if target != v.hist.Head() {
		v.mu.Lock()
		err = v.appendRewind(target)
		v.mu.Unlock()
		if err != nil {
			return err
		}
	}
	// Files unlinked while open and never closed (the daemon died first)
	// are dropped now: nobody can have them open any more.
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ino := range v.st.Orphans() {
		if _, err := v.commit(&fsstate.Op{Type: fsstate.OpPurge, Ino: ino}, nil); err != nil {
			return err
		}
	}
	return nil
}

// Close syncs and closes the log and releases the lock.
func (v *Volume) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var err error
	if v.log != nil {
		err = v.log.Close()
		v.log = nil
	}
	if v.img != nil {
		v.img.Close()
	}
	if v.pin != nil {
		v.pin.Release()
	}
	if lerr := v.lock.Release(); err == nil {
		err = lerr
	}
	return err
}

// ReadOnly reports whether this is a view.
func (v *Volume) ReadOnly() bool { return v.readOnly }

// PageSize is the volume's page size.
func (v *Volume) PageSize() int { return v.Settings.PageSize }

// commit checks op against the state, appends it, and applies it. The
// caller holds v.mu. data is the record's data part (pages), if any.
func (v *Volume) commit(op *fsstate.Op, data []byte) (lsn.LSN, error) {
	if v.readOnly {
		return 0, syscall.EROFS
	}
	if v.failed != nil {
		return 0, syscall.EIO
	}
	if err := v.st.Check(op); err != nil {
		return 0, err
	}
	v.meta = op.AppendMeta(v.meta[:0])
	l, t, loc, err := v.log.Append(op.Type, v.meta, data)
	if err != nil {
		v.logf("append %s: %v", fsstate.OpName(op.Type), err)
		if errors.Is(err, syscall.ENOSPC) {
			return 0, syscall.ENOSPC
		}
		return 0, syscall.EIO
	}
	if err := v.hist.Add(l, t, op.Type, v.meta, loc); err != nil {
		v.failed = err
		v.logf("history: %v", err)
		return 0, syscall.EIO
	}
	if err := v.st.Apply(&fsstate.Rec{LSN: l, Time: t, Op: op, Data: loc}); err != nil {
		// Check said yes and Apply said no: a bug. Stop taking changes
		// rather than let the log and the state drift apart.
		v.failed = fmt.Errorf("record %d (%s) checked but did not apply: %w", l, fsstate.OpName(op.Type), err)
		v.logf("%v", v.failed)
		return 0, syscall.EIO
	}
	if writtenOutAtOnce(op) {
		if err := v.log.WriteOut(); err != nil && !errors.Is(err, syscall.ENOSPC) {
			// The log is broken and says so to the next change or sync;
			// this one is applied and stays in the buffer.
			v.logf("write out %s: %v", fsstate.OpName(op.Type), err)
		}
	}
	return l, nil
}

// writtenOutAtOnce says whether a record of op goes from the log's write
// buffer to the segment file (the OS, not the disk) before the operation
// returns, so that a kill -9 of the daemon cannot take it back. Without
// this, a daemon killed soon after a commit of SQLite in its default
// rollback-journal mode lost the commit: the commit point is the journal's
// unlink, which SQLite does not fsync, so the hot journal came back and
// SQLite rolled the acknowledged transaction back (TestTorture hit it on
// 2026-12-07; TestCrashSQLiteRollbackJournal lost every commit). A plain
// file system loses no finished unlink, rename, create or truncate when a
// process dies, and neither may this one.
//
// Left in the buffer: data writes, which the kernel's writeback cache
// holds anyway until it sends them (a dead daemon loses what the kernel
// had not sent, whatever the log does), and a SETATTR of times alone,
// which the kernel sends just before an fsync. A full disk leaves the
// record in the buffer, as before: the change has happened and is kept.
func writtenOutAtOnce(op *fsstate.Op) bool {
	switch op.Type {
	case fsstate.OpWrite, fsstate.OpSync:
		return false
	case fsstate.OpSetAttr:
		times := fsstate.SetAtime | fsstate.SetMtime | fsstate.SetAtimeNow | fsstate.SetMtimeNow
		return op.Valid&^times != 0
	}
	return true
}

// View runs fn with the state locked for reading.
func (v *Volume) View(fn func(st *fsstate.State) error) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return fn(v.st)
}

// Head returns the LSN of the live state.
func (v *Volume) Head() lsn.LSN {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.st.Head
}
