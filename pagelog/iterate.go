package pagelog

// Scan calls fn for every record of the log in LSN order, reading the
// segment files; fn gets the same Scanned as Open's callback, and an error
// from fn ends the scan and is returned.
//
// On a writable log, Scan reads what was appended up to the moment it
// starts (writing out the write buffer first), and any bad record is
// ErrCorrupt. On a read-only log, Scan first looks for segments another
// process has added since, and reads every segment to its current end,
// stopping quietly at an incomplete record at the tail; the records it
// finds become part of the log (Head, Segments, and the Locations ReadData
// takes).
func (l *Log) Scan(fn func(*Scanned) error) error {
	if l.readOnly {
		l.scanMu.Lock()
		defer l.scanMu.Unlock()
		if l.isShut.Load() {
			return ErrClosed
		}
		_, err := l.load(fn)
		return err
	}

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if err := l.writeOut(); err != nil {
		l.mu.Unlock()
		return err
	}
	segs := l.segTable()
	sizes := make([]int64, len(segs))
	for i, s := range segs {
		sizes[i] = s.size.Load()
	}
	l.mu.Unlock()

	w := &walker{fn: fn}
	for i, seg := range segs {
		res, err := w.walkSegment(seg, i, sizes[i])
		if err != nil {
			return err
		}
		if res.tornWhy != "" {
			return corruptAt(ErrCorrupt, seg.name, res.end, uint64(w.next), res.tornWhy)
		}
	}
	return nil
}
