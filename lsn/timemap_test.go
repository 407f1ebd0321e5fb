package lsn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sec is a second in unix nanoseconds.
const sec = int64(1e9)

// t0 is an arbitrary start time, 2026-11-24T10:00:00Z.
const t0 = int64(1795514400) * sec

// entry is one LSN and its time, as the reference model holds it.
type entry struct {
	l LSN
	t int64
}

func mapOf(es ...entry) *TimeMap {
	var m TimeMap
	for _, e := range es {
		m.Add(e.l, e.t)
	}
	return &m
}

func TestTimeMapEmpty(t *testing.T) {
	var m TimeMap
	assert.Equal(t, 0, m.Len())
	_, _, ok := m.First()
	assert.False(t, ok)
	_, _, ok = m.Last()
	assert.False(t, ok)
	_, ok = m.Time(1)
	assert.False(t, ok)
	_, ok = m.AtOrBefore(math.MaxInt64)
	assert.False(t, ok)
	m.TruncateAfter(5)
	m.DropBefore(5)
	assert.Equal(t, 0, m.Len())
}

func TestTimeMapTime(t *testing.T) {
	// Runs break at the gap after 3, at the 5 s jump before 7 (past a
	// uint32 of nanoseconds), and the clock steps back at 8.
	m := mapOf(
		entry{1, t0}, entry{2, t0 + 10}, entry{3, t0 + 10},
		entry{5, t0 + 20}, entry{6, t0 + 30}, entry{7, t0 + 5*sec},
		entry{8, t0}, entry{9, t0 + 5*sec + 1},
	)
	tests := []struct {
		l    LSN
		want int64
		ok   bool
	}{
		{0, 0, false},
		{1, t0, true},
		{2, t0 + 10, true},
		{3, t0 + 10, true},
		{4, 0, false},
		{5, t0 + 20, true},
		{6, t0 + 30, true},
		{7, t0 + 5*sec, true},
		{8, t0 + 5*sec, true}, // clamped to the time before it
		{9, t0 + 5*sec + 1, true},
		{10, 0, false},
		{math.MaxUint64, 0, false},
	}
	for _, tt := range tests {
		got, ok := m.Time(tt.l)
		assert.Equal(t, tt.ok, ok, "LSN %d", tt.l)
		assert.Equal(t, tt.want, got, "LSN %d", tt.l)
	}
	assert.Equal(t, 8, m.Len())
	l, tm, ok := m.First()
	assert.Equal(t, []any{LSN(1), t0, true}, []any{l, tm, ok})
	l, tm, ok = m.Last()
	assert.Equal(t, []any{LSN(9), t0 + 5*sec + 1, true}, []any{l, tm, ok})
}

func TestTimeMapAtOrBefore(t *testing.T) {
	m := mapOf(
		entry{10, t0}, entry{11, t0 + 10}, entry{12, t0 + 10}, entry{13, t0 + 20},
		entry{20, t0 + 20}, entry{21, t0 + 30},
		entry{22, t0 + 10*sec},
	)
	tests := []struct {
		t    int64
		want LSN
		ok   bool
	}{
		{math.MinInt64, 0, false},
		{t0 - 1, 0, false},
		{t0, 10, true},
		{t0 + 9, 10, true},
		{t0 + 10, 12, true}, // the last of equal times
		{t0 + 19, 12, true},
		{t0 + 20, 20, true}, // equal times across a gap in LSNs
		{t0 + 29, 20, true},
		{t0 + 30, 21, true},
		{t0 + 10*sec - 1, 21, true},
		{t0 + 10*sec, 22, true},
		{math.MaxInt64, 22, true},
	}
	for _, tt := range tests {
		got, ok := m.AtOrBefore(tt.t)
		assert.Equal(t, tt.ok, ok, "time %d", tt.t-t0)
		assert.Equal(t, tt.want, got, "time %d", tt.t-t0)
	}
}

func TestTimeMapAtOrBeforeLongRun(t *testing.T) {
	// One run whose last delta is near the uint32 limit, searched with a
	// time past the limit.
	m := mapOf(entry{1, t0}, entry{2, t0 + math.MaxUint32}, entry{3, t0 + math.MaxUint32 + 1})
	require.Equal(t, 2, len(m.runs))
	got, ok := m.AtOrBefore(t0 + math.MaxUint32)
	assert.True(t, ok)
	assert.Equal(t, LSN(2), got)
	got, _ = m.AtOrBefore(t0 + math.MaxUint32 - 1)
	assert.Equal(t, LSN(1), got)
}

func TestTimeMapTruncateAfter(t *testing.T) {
	es := []entry{{3, t0}, {4, t0 + 1}, {5, t0 + 2}, {8, t0 + 3}, {9, t0 + 4}}
	tests := []struct {
		l    LSN
		want []LSN
	}{
		{0, nil},
		{2, nil},
		{3, []LSN{3}},
		{4, []LSN{3, 4}},
		{5, []LSN{3, 4, 5}},
		{7, []LSN{3, 4, 5}},
		{8, []LSN{3, 4, 5, 8}},
		{9, []LSN{3, 4, 5, 8, 9}},
		{100, []LSN{3, 4, 5, 8, 9}},
	}
	for _, tt := range tests {
		m := mapOf(es...)
		m.TruncateAfter(tt.l)
		assert.Equal(t, tt.want, lsnsOf(m), "TruncateAfter(%d)", tt.l)
		// The cut LSNs can be written again.
		m.Add(tt.l+1, t0+10)
		tm, ok := m.Time(tt.l + 1)
		assert.True(t, ok)
		assert.Equal(t, t0+10, tm)
	}
}

func TestTimeMapDropBefore(t *testing.T) {
	es := []entry{{3, t0}, {4, t0 + 1}, {5, t0 + 2}, {8, t0 + 3}, {9, t0 + 4}}
	tests := []struct {
		l    LSN
		want []LSN
	}{
		{0, []LSN{3, 4, 5, 8, 9}},
		{3, []LSN{3, 4, 5, 8, 9}},
		{4, []LSN{4, 5, 8, 9}},
		{5, []LSN{5, 8, 9}},
		{6, []LSN{8, 9}},
		{8, []LSN{8, 9}},
		{9, []LSN{9}},
		{10, nil},
	}
	for _, tt := range tests {
		m := mapOf(es...)
		m.DropBefore(tt.l)
		assert.Equal(t, tt.want, lsnsOf(m), "DropBefore(%d)", tt.l)
		for _, e := range es {
			tm, ok := m.Time(e.l)
			assert.Equal(t, e.l >= tt.l, ok, "DropBefore(%d) Time(%d)", tt.l, e.l)
			if ok {
				assert.Equal(t, e.t, tm, "DropBefore(%d) Time(%d)", tt.l, e.l)
			}
		}
		if len(tt.want) > 0 {
			// Searching before the first entry left finds nothing.
			first, ft, _ := m.First()
			assert.Equal(t, tt.want[0], first)
			_, ok := m.AtOrBefore(ft - 1)
			assert.False(t, ok)
			got, _ := m.AtOrBefore(ft)
			assert.Equal(t, first, got)
		}
		m.Add(20, t0+100)
		l, tm, _ := m.Last()
		assert.Equal(t, []any{LSN(20), t0 + 100}, []any{l, tm})
	}
}

func TestTimeMapAddPanics(t *testing.T) {
	m := mapOf(entry{5, t0})
	assert.PanicsWithValue(t, "lsn: TimeMap.Add of LSN 5 after LSN 5", func() { m.Add(5, t0) })
	assert.PanicsWithValue(t, "lsn: TimeMap.Add of LSN 4 after LSN 5", func() { m.Add(4, t0) })
	assert.PanicsWithValue(t, "lsn: TimeMap.Add of LSN 0", func() { new(TimeMap).Add(0, t0) })
}

// TestTimeMapModel runs random Adds, cuts and searches against a plain
// slice of entries, including long idle gaps, LSN gaps and clock steps.
func TestTimeMapModel(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for round := 0; round < 50; round++ {
		var m TimeMap
		var model []entry
		next, now := LSN(1+rng.IntN(10)), t0
		for op := 0; op < 2000; op++ {
			switch x := rng.IntN(100); {
			case x < 85:
				if rng.IntN(20) == 0 {
					next += LSN(rng.IntN(5)) // a gap in LSNs
				}
				switch y := rng.IntN(100); {
				case y < 3:
					now += int64(rng.IntN(20)) * sec // idle
				case y < 5:
					now -= int64(rng.IntN(1000)) // the clock steps back
				default:
					now += int64(rng.IntN(5_000_000))
				}
				m.Add(next, now)
				tm := now
				if n := len(model); n > 0 && tm < model[n-1].t {
					tm = model[n-1].t
				}
				model = append(model, entry{next, tm})
				next++
			case x < 88 && len(model) > 0:
				l := model[rng.IntN(len(model))].l + LSN(rng.IntN(3)) - 1
				m.TruncateAfter(l)
				for len(model) > 0 && model[len(model)-1].l > l {
					model = model[:len(model)-1]
				}
				if len(model) > 0 {
					next = model[len(model)-1].l + 1
					now = model[len(model)-1].t
				}
			case x < 92 && len(model) > 0:
				l := model[rng.IntN(len(model))].l + LSN(rng.IntN(3)) - 1
				m.DropBefore(l)
				i := 0
				for i < len(model) && model[i].l < l {
					i++
				}
				model = model[i:]
			default:
				checkModel(t, rng, &m, model)
			}
		}
		checkModel(t, rng, &m, model)
	}
}

func checkModel(t *testing.T, rng *rand.Rand, m *TimeMap, model []entry) {
	t.Helper()
	require.Equal(t, len(model), m.Len())
	fl, ft, fok := m.First()
	ll, lt, lok := m.Last()
	if len(model) == 0 {
		require.False(t, fok)
		require.False(t, lok)
		return
	}
	require.Equal(t, []any{model[0].l, model[0].t, true}, []any{fl, ft, fok})
	require.Equal(t, []any{model[len(model)-1].l, model[len(model)-1].t, true}, []any{ll, lt, lok})
	for i, e := range model {
		tm, ok := m.Time(e.l)
		require.True(t, ok, "Time(%d)", e.l)
		require.Equal(t, e.t, tm, "Time(%d)", e.l)
		if i > 0 && model[i-1].l+1 < e.l {
			_, ok := m.Time(e.l - 1)
			require.False(t, ok, "Time(%d) in a gap", e.l-1)
		}
	}
	for k := 0; k < 50; k++ {
		q := model[rng.IntN(len(model))].t + int64(rng.IntN(3)) - 1
		if rng.IntN(10) == 0 {
			q = model[0].t + rng.Int64N(model[len(model)-1].t-model[0].t+2*sec) - sec
		}
		want, wok := LSN(0), false
		for _, e := range model {
			if e.t <= q {
				want, wok = e.l, true
			}
		}
		got, ok := m.AtOrBefore(q)
		require.Equal(t, wok, ok, "AtOrBefore(%d)", q)
		require.Equal(t, want, got, "AtOrBefore(%d)", q)
	}
}

// TestTimeMapCompact checks the memory a busy volume's map takes: records
// a few microseconds apart cost a little over 4 bytes each.
func TestTimeMapCompact(t *testing.T) {
	const n = 1_000_000
	var m TimeMap
	tm := t0
	for l := LSN(1); l <= n; l++ {
		tm += 3_000 + int64(l%7)*1_000
		m.Add(l, tm)
	}
	perEntry := float64(m.sizeBytes()) / n
	t.Logf("%d entries in %d runs: %.2f bytes each", m.Len(), len(m.runs), perEntry)
	assert.Less(t, perEntry, 6.0)

	// Retention drops most of it: the memory goes with it.
	m.DropBefore(n - n/10)
	assert.Equal(t, n/10+1, m.Len())
	assert.Less(t, float64(m.sizeBytes())/float64(m.Len()), 6.0)
}

// TestTimeMapSearchAllocs checks that lookups allocate nothing.
func TestTimeMapSearchAllocs(t *testing.T) {
	m := denseMap(10_000)
	allocs := testing.AllocsPerRun(100, func() {
		m.AtOrBefore(t0 + 5_000_000)
		m.Time(5_000)
		m.First()
		m.Last()
	})
	assert.Zero(t, allocs)
}

// TestTimeMapDropBeforeSliding keeps a window of entries while adding and
// dropping one at a time: the memory stays bounded by the window.
func TestTimeMapDropBeforeSliding(t *testing.T) {
	const window = 10_000
	var m TimeMap
	tm := t0
	for l := LSN(1); l <= 20*window; l++ {
		tm += 1_000
		m.Add(l, tm)
		if l > window {
			m.DropBefore(l - window + 1)
		}
	}
	assert.Equal(t, window, m.Len())
	assert.LessOrEqual(t, cap(m.deltas), 2*window)
	first, _, _ := m.First()
	assert.Equal(t, LSN(19*window+1), first)
}

func denseMap(n int) *TimeMap {
	var m TimeMap
	tm := t0
	for l := LSN(1); l <= LSN(n); l++ {
		tm += 1_000
		m.Add(l, tm)
	}
	return &m
}

// lsnsOf lists the LSNs m holds, in order.
func lsnsOf(m *TimeMap) []LSN {
	var out []LSN
	for r, run := range m.runs {
		for p := run.start; p < m.end(r); p++ {
			out = append(out, run.first+LSN(p-run.start))
		}
	}
	return out
}
