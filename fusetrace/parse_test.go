package fusetrace

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Lines as tracefs prints them (from a pgbench run on 2026-12-07), with the
// cases a parser must survive added by hand.
const recorded = `# tracer: nop
#
# entries-in-buffer/entries-written: 60/60   #P:2
        postgres-20534   [000] ...3.  2028.166031: fuse_request_send: connection 40 req 35590 opcode 16 (FUSE_WRITE) len 16464 
        rewindfs-20495   [001] .....  2028.166109: fuse_request_end: connection 40 req 35590 len 24 error 0
 my task: odd-7   [000] ...1.  2028.166131: fuse_request_send: connection 40 req 35592 opcode 4 (FUSE_SETATTR) len 128 
        rewindfs-20492   [001] .....  2028.166161: fuse_request_end: connection 40 req 35592 len 120 error 0
        postgres-20534   [000] ...1.  2028.166200: fuse_request_send: connection 40 req 35594 opcode 20 (FUSE_FSYNC) len 56 
        postgres-20534   [000] ...1.  2028.166210: fuse_request_send: connection 41 req 35594 opcode 1 (FUSE_LOOKUP) len 42 
        rewindfs-20507   [000] .....  2028.166542: fuse_request_end: connection 40 req 35594 len 16 error 0
        rewindfs-20507   [000] .....  2028.166600: fuse_request_end: connection 41 req 35594 len 16 error -2
              dd-21753   [001] ...1.  2028.170000: fuse_request_send: connection 40 req 18 opcode 1 (FUSE_LOOKUP) len 42 
        rewindfs-21659   [001] .....  2028.170100: fuse_request_end: connection 40 req 18 len 16 error -2
        rewindfs-21659   [001] .....  2028.170200: fuse_request_end: connection 40 req 7 len 16 error 0
CPU:1 [LOST 12 EVENTS]
              dd-21753   [001] ...1.  2028.171000: fuse_request_send: connection 40 req 20 opcode 35 (FUSE_CREATE) len 58 
              dd-21753   [001] ...1.  2028.171000: fuse_request_send: connection 40 req 22 opcode 99 len 58 
this line is not an event
        rewindfs-21659   [001] .....  2028.171100: fuse_request_end: connection 40 req 22 len 16 error 0
`

func TestParseRecorded(t *testing.T) {
	r, err := Parse(strings.NewReader(recorded), 40)
	require.NoError(t, err)
	names := []string{}
	for _, o := range r.Ops {
		names = append(names, o.Name)
	}
	// By total time: fsync 342 µs, lookup 100, opcode99 100 (the name breaks the tie), write 78, setattr 30.
	require.Equal(t, []string{"fsync", "lookup", "opcode99", "write", "setattr"}, names)
	require.Equal(t, Op{Name: "fsync", Count: 1, Mean: 342 * time.Microsecond, P50: 342 * time.Microsecond,
		P90: 342 * time.Microsecond, P99: 342 * time.Microsecond, Max: 342 * time.Microsecond, Total: 342 * time.Microsecond}, r.Op("fsync"))
	require.Equal(t, 1, r.Op("lookup").Errors, "LOOKUP answered ENOENT")
	require.Equal(t, 0, r.Op("fsync").Errors)
	require.Equal(t, 78*time.Microsecond, r.Op("write").Total)
	require.Equal(t, 30*time.Microsecond, r.Op("setattr").Total, "a task name with spaces and a colon")
	require.Equal(t, 1, r.Unanswered, "CREATE was sent and not answered")
	require.Equal(t, 12, r.Lost)
	require.Equal(t, Op{Name: "read"}, r.Op("read"))
}

func TestQuantiles(t *testing.T) {
	c := NewCollector(1)
	// Ten WRITEs taking 1..10 ms, their answers in reverse order.
	for i := 1; i <= 10; i++ {
		c.Line(line(0, "fuse_request_send", "connection 1 req %d opcode 16 (FUSE_WRITE) len 4176", i))
	}
	for i := 10; i >= 1; i-- {
		c.Line(line(time.Duration(i)*time.Millisecond, "fuse_request_end", "connection 1 req %d len 24 error 0", i))
	}
	w := c.Report().Op("write")
	require.Equal(t, 10, w.Count)
	require.Equal(t, 5500*time.Microsecond, w.Mean)
	require.Equal(t, 5*time.Millisecond, w.P50)
	require.Equal(t, 9*time.Millisecond, w.P90)
	require.Equal(t, 10*time.Millisecond, w.P99)
	require.Equal(t, 10*time.Millisecond, w.Max)
	require.Equal(t, 55*time.Millisecond, w.Total)
}

func TestParseSeconds(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"2028.166031":    2028*time.Second + 166031*time.Microsecond,
		"1.5":            1500 * time.Millisecond,
		"7":              7 * time.Second,
		"0.123456789123": 123456789,
	} {
		got, err := parseSeconds(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "x.1", "1.y", "-"} {
		_, err := parseSeconds(s)
		require.Error(t, err, s)
	}
}

// line makes a tracefs line of event at time 100 s + at.
func line(at time.Duration, event, format string, args ...any) string {
	ts := 100*time.Second + at
	return fmt.Sprintf("   task-1   [000] .....  %d.%06d: %s: ", int64(ts/time.Second), int64(ts%time.Second/time.Microsecond), event) +
		fmt.Sprintf(format, args...)
}
