package archive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
)

// Archive retention
//
// With a window W (UploaderOptions.Window; 0 keeps everything), a restore
// must still reach every state from now-W on, and every kept mark. The
// archive keeps the newest base image at or before that edge (by its
// record time, and at or below every kept mark inside the archive) and
// every segment that holds a record after it; older base images and the
// segments before it leave. They leave in two steps: first a manifest that
// no longer names them is written (from then on they are not part of the
// archive), then they are deleted. The keys to delete are kept in the
// volume's archive.json until the deletes succeed, so a crash or a failing
// store between the two steps only delays them; deleting a key that is
// gone is success. Manifests are never deleted: they are small, and the
// newest is found by probing numbers from 1 (see FindLatest).

// retain returns the manifest m would become under the window: the same
// objects less those no longer needed, and the keys it drops. edge is
// now-W; kept are the kept marks' LSNs. It returns nil when nothing
// would be dropped.
func retain(m *Manifest, edge time.Time, kept []lsn.LSN) (*Manifest, []string) {
	limit := m.ArchivedThrough
	start := m.BaseLSN
	for _, k := range kept {
		if k >= start && k < limit {
			limit = k
		}
	}
	keep := -1
	for i, b := range m.Bases {
		if !b.Time.After(edge) && b.LSN <= limit {
			keep = i
		}
	}
	if keep < 0 {
		return nil, nil
	}
	base := m.Bases[keep].LSN
	var dropped []string
	next := *m
	next.Bases = append([]Base(nil), m.Bases[keep:]...)
	next.BaseLSN = base
	next.Objects = nil
	for _, b := range m.Bases[:keep] {
		for _, o := range b.Objects {
			dropped = append(dropped, o.Key)
		}
	}
	for _, o := range m.Objects {
		if o.LastLSN <= base {
			dropped = append(dropped, o.Key)
			continue
		}
		next.Objects = append(next.Objects, o)
	}
	if len(dropped) == 0 && next.BaseLSN == m.BaseLSN {
		return nil, nil
	}
	return &next, dropped
}

// namedKeys is the set of keys m names (none for nil).
func namedKeys(m *Manifest) map[string]bool {
	have := map[string]bool{}
	if m == nil {
		return have
	}
	for _, o := range m.Objects {
		have[o.Key] = true
	}
	for _, b := range m.Bases {
		for _, o := range b.Objects {
			have[o.Key] = true
		}
	}
	return have
}

// droppedKeys returns the keys prev names and m does not.
func droppedKeys(prev, m *Manifest) []string {
	have := namedKeys(m)
	var out []string
	add := func(o Object) {
		if !have[o.Key] {
			out = append(out, o.Key)
		}
	}
	for _, o := range prev.Objects {
		add(o)
	}
	for _, b := range prev.Bases {
		for _, o := range b.Objects {
			add(o)
		}
	}
	return out
}

// deletePending deletes the objects the newest manifest no longer names.
// What fails stays pending and is tried again on the next pass.
func (u *Uploader) deletePending(ctx context.Context) error {
	u.mu.Lock()
	keys := append([]string(nil), u.pendingDeletes...)
	named := namedKeys(u.m)
	u.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	var left []string
	var firstErr error
	for _, k := range keys {
		if named[k] {
			// Never delete what the newest manifest names: a base image
			// whose upload was cut short (its keys are pending from
			// then) and that a later manifest took in after all.
			continue
		}
		err := u.o.Bucket.Delete(ctx, k)
		if err != nil && !errors.Is(err, ErrNotFound) {
			left = append(left, k)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	u.mu.Lock()
	u.pendingDeletes = left
	u.deletedObjects += int64(len(keys) - len(left))
	u.mu.Unlock()
	u.saveState()
	if firstErr != nil {
		return fmt.Errorf("archive: delete %d object(s) no manifest names any more (retried later): %w", len(left), firstErr)
	}
	u.o.Logf("archive: deleted %d object(s) that left the archive window", len(keys))
	return nil
}

// saveState records the newest manifest and the pending deletes in the
// volume's archive.json.
func (u *Uploader) saveState() {
	u.mu.Lock()
	st := State{URL: u.o.Bucket.String(), Manifest: u.ref, ArchivedThrough: u.ArchivedThrough(), PendingDeletes: append([]string(nil), u.pendingDeletes...)}
	u.mu.Unlock()
	if err := writeState(u.o.VolumeDir, st); err != nil {
		u.o.Logf("archive: %v", err)
	}
}

// housekeep runs when no segment is waiting: it uploads a base image when
// one is due, applies the archive window, and deletes what left it.
func (u *Uploader) housekeep(ctx context.Context) error {
	u.mu.Lock()
	m := u.m
	u.mu.Unlock()
	if m == nil {
		return nil
	}
	next := m
	b, err := u.uploadBase(ctx, m)
	if err != nil {
		return err
	}
	if b != nil {
		n := *m
		n.Bases = append(append([]Base(nil), m.Bases...), *b)
		next = &n
	}
	var dropped []string
	if u.o.Window > 0 {
		edge := u.o.Now().Add(-u.o.Window)
		// Kept marks are only asked for when something would leave.
		if r, _ := retain(next, edge, nil); r != nil && u.o.KeptMarks != nil {
			if r, d := retain(next, edge, u.o.KeptMarks()); r != nil {
				next, dropped = r, d
			}
		} else if r != nil {
			next, dropped = retain(next, edge, nil)
		}
	}
	if next != m {
		if _, err := u.publish(ctx, next, dropped); err != nil {
			return err
		}
		if len(dropped) > 0 {
			u.o.Logf("archive: manifest %d drops %d object(s) older than the archive window of %s; restorable from LSN %d",
				next.Seq, len(dropped), u.o.Window, next.BaseLSN)
		}
	}
	return u.deletePending(ctx)
}
