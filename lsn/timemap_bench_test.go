package lsn

import "testing"

// BenchmarkTimeMapAdd appends records a microsecond apart, the busy case.
func BenchmarkTimeMapAdd(b *testing.B) {
	b.ReportAllocs()
	var m TimeMap
	tm := t0
	for i := 0; i < b.N; i++ {
		tm += 1_000
		m.Add(LSN(i+1), tm)
	}
}

// BenchmarkTimeMapAddIdle appends records 5 s apart: each starts a run.
func BenchmarkTimeMapAddIdle(b *testing.B) {
	b.ReportAllocs()
	var m TimeMap
	tm := t0
	for i := 0; i < b.N; i++ {
		tm += 5 * sec
		m.Add(LSN(i+1), tm)
	}
}

// BenchmarkTimeMapAtOrBefore searches a map of a million records.
func BenchmarkTimeMapAtOrBefore(b *testing.B) {
	const n = 1_000_000
	m := denseMap(n)
	b.ReportAllocs()
	b.ResetTimer()
	var sink LSN
	for i := 0; i < b.N; i++ {
		// A multiplicative hash spreads the targets over the whole map.
		q := t0 + int64(uint32(i)*2654435761%n)*1_000
		l, _ := m.AtOrBefore(q)
		sink += l
	}
	_ = sink
}

// BenchmarkTimeMapTime looks up a million-record map by LSN.
func BenchmarkTimeMapTime(b *testing.B) {
	const n = 1_000_000
	m := denseMap(n)
	b.ReportAllocs()
	b.ResetTimer()
	var sink int64
	for i := 0; i < b.N; i++ {
		t, _ := m.Time(LSN(uint32(i)*2654435761%n + 1))
		sink += t
	}
	_ = sink
}
