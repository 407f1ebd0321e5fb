package fusefs

import (
	"math"
	"testing"
)

func TestUnixNano(t *testing.T) {
	neg := func(s int64) uint64 { return uint64(s) } // how the kernel sends a time before 1970
	for _, tc := range []struct {
		sec  uint64
		nsec uint32
		want int64
		ok   bool
	}{
		{0, 0, 0, true},
		{1234567890, 123456789, 1234567890123456789, true},
		{neg(-1000), 5, -999999999995, true},
		{9223372035, 999999999, 9223372035999999999, true},
		{9223372036, 0, 0, false}, // 2262-04-11T23:47:16Z: one second too late for int64 nanoseconds
		{10000000000, 1, 0, false},
		{neg(-9223372036), 0, -9223372036000000000, true},
		{neg(-9223372037), 0, 0, false},
		{math.MaxUint64, 0, -1e9, true}, // -1 s
		{1, 1e9, 0, false},
	} {
		got, ok := unixNano(tc.sec, tc.nsec)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("unixNano(%d, %d) = %d, %v; want %d, %v", int64(tc.sec), tc.nsec, got, ok, tc.want, tc.ok)
		}
	}
}
