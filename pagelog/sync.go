package pagelog

import (
	"fmt"

	"github.com/rewindfs/rewindfs/lsn"
)

// Sync makes every record up to upTo durable (an LSN past the head means
// the head). It fdatasyncs the last segment; the earlier segments were
// synced when the log moved on from them, and each segment's directory
// entry was synced when it was created.
//
// Concurrent callers share syncs (group commit): one caller, the leader,
// runs an fdatasync that covers every record appended before it started;
// callers arriving meanwhile wait for it and, if it did not cover their
// LSN, one of them leads the next. Sync returns at once if upTo is already
// durable.
//
// Sync writes out the write buffer first; if that fails with ENOSPC, Sync
// returns the error and the log stays usable (writebuf.go).
//
// A failed fdatasync breaks the log: the kernel may have dropped the dirty
// pages it could not write, so a later successful fdatasync would prove
// nothing. This and every later Sync and Append return the same error.
func (l *Log) Sync(upTo lsn.LSN) error {
	if b := l.broken.Load(); b != nil {
		return b
	}
	if h := l.Head(); upTo > h {
		upTo = h
	}
	if upTo <= l.Durable() {
		return nil
	}
	l.syncMu.Lock()
	for {
		if b := l.broken.Load(); b != nil {
			l.syncMu.Unlock()
			return b
		}
		if upTo <= l.Durable() {
			l.syncMu.Unlock()
			return nil
		}
		if l.closing {
			l.syncMu.Unlock()
			return ErrClosed
		}
		if !l.syncing {
			break
		}
		l.syncCond.Wait()
	}
	l.syncing = true
	l.syncMu.Unlock()

	// Write out the buffer and take the file and the head together:
	// everything appended up to target is then in seg's file (an older
	// segment is already durable), so one fdatasync of seg covers it.
	// Appends may go on while it runs.
	l.mu.Lock()
	seg, target := l.cur, l.Head()
	werr := l.writeOut()
	l.mu.Unlock()
	if werr != nil {
		// A full disk (the log stays usable; the records wait in the
		// buffer) or a broken log: either way nothing was synced.
		l.syncMu.Lock()
		l.syncing = false
		l.syncCond.Broadcast()
		l.syncMu.Unlock()
		return werr
	}
	var err error
	if seg != nil {
		err = seg.f.Datasync()
		seg.syncs.Add(1)
	}

	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.syncing = false
	// Break the log before waking the waiters, so that none of them runs
	// another fdatasync that might wrongly succeed.
	if err != nil {
		l.broken.CompareAndSwap(nil, &brokenError{
			cause: fmt.Errorf("pagelog: sync lsn %d: fdatasync segment %s: %w", target, seg.name, err),
		})
	} else {
		l.markDurableLocked(target)
	}
	l.syncCond.Broadcast()
	if b := l.broken.Load(); b != nil {
		return b
	}
	return nil
}

// markDurable raises the durable LSN to upTo.
func (l *Log) markDurable(upTo lsn.LSN) {
	l.syncMu.Lock()
	l.markDurableLocked(upTo)
	l.syncMu.Unlock()
}

func (l *Log) markDurableLocked(upTo lsn.LSN) {
	if uint64(upTo) > l.durable.Load() {
		l.durable.Store(uint64(upTo))
	}
}
