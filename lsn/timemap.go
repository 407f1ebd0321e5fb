package lsn

import "math"

// TimeMap maps LSNs to the wall-clock times of their records (unix
// nanoseconds) and back. It is built append-only as records are written or
// recovered; its two cuts follow the log: TruncateAfter when a torn tail is
// cut, DropBefore when retention drops old records. The zero TimeMap is
// empty and ready to use. It is not safe for concurrent use.
//
// A volume holds millions of records, so the map is compact: entries are
// grouped in runs of consecutive LSNs whose times lie within about 4.29 s
// (1<<32 ns) of the run's first. A run stores its first LSN and first time
// once; each entry stores only a uint32 offset from that time. A busy
// volume costs a little over 4 bytes per record; an idle one, whose records
// are seconds apart, costs about 28, but has few.
type TimeMap struct {
	runs   []timeRun
	deltas []uint32 // one per entry: its time minus its run's base
	// origin is the position of deltas[0]. Positions count entries from the
	// first ever added, so DropBefore need not renumber the runs.
	origin int
	// dropped counts entries dropped from the front of deltas since the
	// arrays were last copied; DropBefore copies them when it grows large,
	// so the dropped entries' memory is given back.
	dropped int
}

// timeRun is a stretch of entries with consecutive LSNs starting at first,
// held from position start up to the next run's start. Every entry's time
// is at or after base. The first entry's delta is 0, so base is its time,
// except in the first run once DropBefore has cut into it: cutting does not
// rewrite the deltas left.
type timeRun struct {
	first LSN
	base  int64
	start int
}

// Add records that record l was written at unixNano. LSNs must be strictly
// increasing: Add panics on an LSN at or below the last one, or on LSN 0,
// since that is a broken log. Times must not decrease, so that searches by
// time are valid: a time before the last one (a wall clock stepped back) is
// recorded as the last time.
func (m *TimeMap) Add(l LSN, unixNano int64) {
	if l == 0 {
		panic("lsn: TimeMap.Add of LSN 0")
	}
	n := len(m.runs)
	if n == 0 {
		m.runs = append(m.runs, timeRun{first: l, base: unixNano, start: m.origin})
		m.deltas = append(m.deltas, 0)
		return
	}
	r := &m.runs[n-1]
	last := r.first + LSN(m.endPos()-1-r.start)
	if l <= last {
		panic("lsn: TimeMap.Add of LSN " + l.String() + " after LSN " + last.String())
	}
	lastTime := r.base + int64(m.deltas[len(m.deltas)-1])
	if unixNano < lastTime {
		unixNano = lastTime
	}
	if d := unixNano - r.base; l == last+1 && d <= math.MaxUint32 {
		m.deltas = append(m.deltas, uint32(d))
		return
	}
	m.runs = append(m.runs, timeRun{first: l, base: unixNano, start: m.endPos()})
	m.deltas = append(m.deltas, 0)
}

// Time returns the time of record l, false if the map does not hold l.
func (m *TimeMap) Time(l LSN) (int64, bool) {
	r := m.lastRunAtOrBefore(l)
	if r < 0 {
		return 0, false
	}
	run := m.runs[r]
	off := uint64(l - run.first)
	if off >= uint64(m.end(r)-run.start) {
		return 0, false // in the gap after run r
	}
	return run.base + int64(m.deltas[run.start+int(off)-m.origin]), true
}

// AtOrBefore returns the last LSN whose time is at or before unixNano,
// false if every record is later (or the map is empty).
func (m *TimeMap) AtOrBefore(unixNano int64) (LSN, bool) {
	// The last run whose base is <= unixNano holds the answer: every entry
	// of a later run is later, and the run's first entry qualifies, unless
	// it is the first run and DropBefore cut off its entries that did.
	lo, hi := 0, len(m.runs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.runs[mid].base <= unixNano {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, false
	}
	r := lo - 1
	run := m.runs[r]
	first, end := run.start-m.origin, m.end(r)-m.origin // indexes into deltas
	d := unixNano - run.base
	if d >= math.MaxUint32 {
		return run.first + LSN(end-1-first), true
	}
	// Find the first entry of the run whose delta is > d; the answer is
	// the one before it.
	lo, hi = first, end
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if int64(m.deltas[mid]) <= d {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == first {
		return 0, false // r is 0: only the first run's first delta can be > 0
	}
	return run.first + LSN(lo-1-first), true
}

// First returns the first LSN held and its time, false if the map is empty.
func (m *TimeMap) First() (LSN, int64, bool) {
	if len(m.runs) == 0 {
		return 0, 0, false
	}
	r := m.runs[0]
	return r.first, r.base + int64(m.deltas[0]), true
}

// Last returns the last LSN held and its time, false if the map is empty.
func (m *TimeMap) Last() (LSN, int64, bool) {
	if len(m.runs) == 0 {
		return 0, 0, false
	}
	r := m.runs[len(m.runs)-1]
	p := m.endPos() - 1
	return r.first + LSN(p-r.start), r.base + int64(m.deltas[p-m.origin]), true
}

// Len returns the number of LSNs held.
func (m *TimeMap) Len() int { return len(m.deltas) }

// TruncateAfter drops the entries with an LSN above l, as when a torn tail
// of the log is cut. Later Adds may then reuse those LSNs.
func (m *TimeMap) TruncateAfter(l LSN) {
	r := m.lastRunAtOrBefore(l)
	if r < 0 {
		*m = TimeMap{runs: m.runs[:0], deltas: m.deltas[:0]}
		return
	}
	run := m.runs[r]
	count := m.end(r) - run.start
	keep := count // entries of run r to keep
	if off := uint64(l - run.first); off < uint64(count) {
		keep = int(off) + 1
	}
	m.runs = m.runs[:r+1]
	m.deltas = m.deltas[:run.start+keep-m.origin]
}

// DropBefore drops the entries with an LSN below l, as when retention drops
// old records.
func (m *TimeMap) DropBefore(l LSN) {
	r := m.lastRunAtOrBefore(l)
	if r < 0 {
		return // every entry is at or after l
	}
	// Drop the runs before r and the entries of run r below l; if l is
	// past run r, all of run r too.
	run := m.runs[r]
	end := m.end(r)
	cut := end // the position of the first entry kept
	if off := uint64(l - run.first); off < uint64(end-run.start) {
		cut = run.start + int(off)
	}
	if cut == end {
		r++
	} else {
		// Run r becomes the first run, starting at l. Its base stays, so
		// the deltas left stay right.
		m.runs[r].first, m.runs[r].start = l, cut
	}
	n := cut - m.origin
	m.runs = m.runs[r:]
	m.deltas = m.deltas[n:]
	m.origin = cut
	m.dropped += n
	// Copy into new arrays once a quarter of the memory is dropped
	// entries: each entry is then copied a bounded number of times.
	if m.dropped > len(m.deltas)/4 {
		m.runs = append(make([]timeRun, 0, len(m.runs)+len(m.runs)/4+1), m.runs...)
		m.deltas = append(make([]uint32, 0, len(m.deltas)+len(m.deltas)/4+1), m.deltas...)
		m.dropped = 0
	}
}

// lastRunAtOrBefore returns the index of the last run whose first LSN is at
// or before l, -1 if none.
func (m *TimeMap) lastRunAtOrBefore(l LSN) int {
	lo, hi := 0, len(m.runs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.runs[mid].first <= l {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

// end returns the position just past run r.
func (m *TimeMap) end(r int) int {
	if r+1 < len(m.runs) {
		return m.runs[r+1].start
	}
	return m.endPos()
}

// endPos returns the position just past the last entry.
func (m *TimeMap) endPos() int { return m.origin + len(m.deltas) }

// sizeBytes is the memory the map holds in its arrays, for tests.
func (m *TimeMap) sizeBytes() int {
	const runSize = 24 // first, base, start
	return cap(m.runs)*runSize + cap(m.deltas)*4
}
