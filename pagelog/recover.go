package pagelog

import (
	"errors"
	"fmt"
	"os"

	"github.com/rewindfs/rewindfs/lsn"
)

// loadResult is what load found.
type loadResult struct {
	records   int64
	tornAt    int64 // offset of the bad tail of the last segment
	tornBytes int64 // length of the bad tail, 0 if the log ends cleanly
	tornWhy   string
}

// load reads the segment directory, opens the segments not yet in the
// table, walks every segment from the first (calling fn for each record)
// and then installs the new segments and the new head. Nothing is changed
// if it fails; the caller closes what it must. A bad tail of the last
// segment is reported, not cut. The caller serializes calls.
func (l *Log) load(fn func(*Scanned) error) (loadResult, error) {
	return l.loadWith(&walker{fn: fn})
}

// loadWith is load with a walker set up by the caller.
func (l *Log) loadWith(w *walker) (loadResult, error) {
	var res loadResult
	names, err := l.listSegments()
	if err != nil {
		return res, err
	}
	known := l.segTable()
	// The writer's compaction may have removed a prefix of the segments a
	// read-only log already knows; it goes on reading them through the
	// files it holds open. Any other difference is an error.
	gone := 0
	for gone < len(known) && (len(names) == 0 || known[gone].name < names[0]) {
		gone++
	}
	if gone > 0 && !l.readOnly {
		return res, fmt.Errorf("pagelog: segment %s is gone from %s", known[0].name, l.dir)
	}
	if len(names) < len(known)-gone {
		return res, fmt.Errorf("pagelog: %d segments in %s, %d known: segments were removed", len(names), l.dir, len(known)-gone)
	}
	for i, s := range known[gone:] {
		if names[i] != s.name {
			return res, fmt.Errorf("pagelog: segment %s is gone from %s", s.name, l.dir)
		}
	}
	segs := append([]*segment(nil), known...)
	for i := len(known) - gone; i < len(names); i++ {
		seg, err := l.openSegment(names[i], i == len(names)-1 && !l.readOnly)
		if err != nil {
			closeSegments(segs[len(known):])
			return res, err
		}
		segs = append(segs, seg)
	}
	fail := func(err error) (loadResult, error) {
		closeSegments(segs[len(known):])
		return loadResult{}, err
	}

	walks := make([]segWalk, len(segs))
	var unindexed []indexJob // sealed segments scanned, whose index to write
	var lastIx *indexBuf     // the last segment's entries, which appends extend
	for i, seg := range segs {
		size, err := seg.f.Size()
		if err != nil {
			return fail(fmt.Errorf("pagelog: size of segment %s: %w", seg.name, err))
		}
		// A sealed segment is read from its index when it has a good one
		// (index.go); the last one, which may still grow or have a torn
		// tail, is always scanned.
		var es []indexEntry
		if i < len(segs)-1 && !w.checkData { // Verify reads everything
			es, _ = l.readIndex(seg, size)
		}
		if es != nil {
			walks[i], err = w.walkIndex(seg, i, size, es)
		} else {
			if !l.readOnly {
				w.ix = newIndexBuf()
			}
			walks[i], err = w.walkSegment(seg, i, size)
			if i < len(segs)-1 {
				unindexed = append(unindexed, indexJob{seg: seg, x: w.ix})
			} else {
				lastIx = w.ix
			}
			w.ix = nil
		}
		if err != nil {
			return fail(err)
		}
		if why := walks[i].tornWhy; why != "" {
			if i < len(segs)-1 {
				return fail(corruptAt(ErrCorrupt, seg.name, walks[i].end, uint64(w.next),
					why+", in a segment that is not the last"))
			}
			res.tornAt, res.tornBytes, res.tornWhy = walks[i].end, size-walks[i].end, why
		}
	}
	res.records = w.records

	l.mu.Lock()
	defer l.mu.Unlock()
	next := w.next
	for i, seg := range segs {
		seg.firstTime, seg.lastTime = walks[i].firstTime, walks[i].lastTime
		seg.last = seg.first + lsn.LSN(walks[i].records) - 1
		seg.size.Store(walks[i].end)
	}
	if next == 0 {
		next = 1 // an empty log starts at LSN 1
	}
	l.next, l.lastTime = next, max(l.lastTime, w.lastTime)
	if len(segs) > 0 {
		l.cur = segs[len(segs)-1]
	}
	l.segs.Store(&segs)
	l.head.Store(uint64(next - 1))
	l.durable.Store(uint64(next - 1))
	for _, job := range unindexed {
		l.queueIndex(job.seg, job.x) // a log written before indexes, or a crash before one was written
	}
	if l.cur != nil && !l.readOnly {
		l.cur.ix = lastIx
	}
	return res, nil
}

// cutTail cuts the torn tail [end, size) of the last segment and returns
// the path of the copy it keeps. The order matters: first the copy of the
// cut bytes is written and synced together with its directory entry, then
// the segment is truncated and synced. A crash in between leaves the tail
// in place, and the next Open cuts it again (into a second copy).
//
// A preallocated segment ends in zeros: only the bytes up to the last
// non-zero one are worth a copy, and after the cut the space is reserved
// again so that appends keep writing into allocated blocks.
//
// It returns the copy's path and how many bytes were cut: up to the last
// non-zero byte of a preallocated segment, not its reserved zeros.
func (l *Log) cutTail(seg *segment, end, size int64) (string, int64, error) {
	used := size
	if l.prealloc {
		var err error
		if used, err = lastNonZero(seg.f, end, size); err != nil {
			return "", 0, fmt.Errorf("pagelog: read tail of segment %s: %w", seg.name, err)
		}
	}
	cp, err := l.copyTail(seg, end, used)
	if err != nil {
		return "", 0, err
	}
	if err := seg.f.Truncate(end); err != nil {
		return "", 0, fmt.Errorf("pagelog: cut segment %s at offset %d: %w", seg.name, end, err)
	}
	if l.prealloc && size > end {
		_ = seg.f.Allocate(size) // only an optimization; appends work without it
	}
	if err := seg.f.Sync(); err != nil {
		return "", 0, fmt.Errorf("pagelog: fsync segment %s after cut at offset %d: %w", seg.name, end, err)
	}
	return cp, used - end, nil
}

// lastNonZero returns the offset just past the last non-zero byte in
// [start, end) of f, or start if they are all zero.
func lastNonZero(f File, start, end int64) (int64, error) {
	last := start
	buf := make([]byte, min(end-start, readWindow))
	for off := start; off < end; {
		b := buf[:min(int64(len(buf)), end-off)]
		if _, err := f.ReadAt(b, off); err != nil {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				last = off + int64(i) + 1
				break
			}
		}
		off += int64(len(b))
	}
	return last, nil
}

// copyTail writes the bytes [end, size) of seg to a new file next to the
// segments, syncs it and the directory, and returns its path. The file is
// named cut-<segment>-<offset>, with a suffix .1, .2, ... if an earlier cut
// at the same place already left one: a copy is never overwritten.
func (l *Log) copyTail(seg *segment, end, size int64) (string, error) {
	var f File
	var cp string
	for i := 0; ; i++ {
		cp = l.path(cutName(seg.name, end))
		if i > 0 {
			cp = fmt.Sprintf("%s.%d", cp, i)
		}
		var err error
		f, err = l.fs.OpenFile(cp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i == 1000 {
			return "", fmt.Errorf("pagelog: create copy of the cut tail of segment %s: %w", seg.name, err)
		}
	}
	defer f.Close()
	buf := make([]byte, min(size-end, readWindow))
	for off := end; off < size; {
		b := buf[:min(int64(len(buf)), size-off)]
		if _, err := seg.f.ReadAt(b, off); err != nil {
			return "", fmt.Errorf("pagelog: read tail of segment %s offset %d: %w", seg.name, off, err)
		}
		if _, err := f.WriteAt(b, off-end); err != nil {
			return "", fmt.Errorf("pagelog: write copy of the cut tail of segment %s: %w", seg.name, err)
		}
		off += int64(len(b))
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("pagelog: fsync copy of the cut tail of segment %s: %w", seg.name, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return "", fmt.Errorf("pagelog: fsync log directory: %w", err)
	}
	return cp, nil
}
