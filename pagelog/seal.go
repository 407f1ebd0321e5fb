package pagelog

// Seal ends the segment being appended to, if it holds a record: it is cut
// to its last record and synced, and the log moves on to a new segment (see
// roll for the order of the steps, the same as when a record does not fit).
// From then on the old segment is immutable, which is what the archive
// needs before it uploads it. It reports whether it sealed anything: a log
// whose current segment holds no record changes nothing and makes no new
// file, so that an idle volume stays idle.
//
// A failure breaks the log, as a failed roll during Append does.
func (l *Log) Seal() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return false, ErrClosed
	case l.readOnly:
		return false, ErrReadOnly
	}
	if b := l.broken.Load(); b != nil {
		return false, b
	}
	if l.cur == nil || l.cur.last < l.cur.first {
		return false, nil
	}
	now := l.now().UnixNano()
	if now < l.lastTime {
		now = l.lastTime
	}
	if err := l.roll(now); err != nil {
		return false, err
	}
	return true, nil
}
