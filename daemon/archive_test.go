package daemon

import (
	"testing"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

func TestDueForSeal(t *testing.T) {
	now := time.Unix(1000, 0)
	old := now.Add(-2 * time.Minute).UnixNano()
	recent := now.Add(-10 * time.Second).UnixNano()
	sealed := pagelog.SegmentInfo{FirstLSN: 1, LastLSN: 9, FirstTime: old}
	cases := []struct {
		name     string
		active   pagelog.SegmentInfo
		archived lsn.LSN
		want     bool
	}{
		{"empty active segment: an idle volume seals nothing", pagelog.SegmentInfo{FirstLSN: 10, LastLSN: 9}, 9, false},
		{"old unarchived records", pagelog.SegmentInfo{FirstLSN: 10, LastLSN: 12, FirstTime: old}, 9, true},
		{"records younger than the interval", pagelog.SegmentInfo{FirstLSN: 10, LastLSN: 12, FirstTime: recent}, 9, false},
		{"already archived (cannot happen, but never seal for nothing)", pagelog.SegmentInfo{FirstLSN: 10, LastLSN: 12, FirstTime: old}, 12, false},
	}
	for _, c := range cases {
		if got := dueForSeal([]pagelog.SegmentInfo{sealed, c.active}, c.archived, time.Minute, now); got != c.want {
			t.Errorf("%s: dueForSeal = %v, want %v", c.name, got, c.want)
		}
	}
	if dueForSeal(nil, 0, time.Minute, now) {
		t.Errorf("no segments: dueForSeal = true")
	}
}
