// Package fusetrace measures a FUSE mount's requests as the kernel sees
// them: from the moment a request is queued for the daemon (tracepoint
// fuse:fuse_request_send) until its answer arrives (fuse:fuse_request_end).
//
// That is the latency an application on the mount pays for each request,
// queueing and the round trip included. A daemon's own timers (rewindfs's
// metrics) see only the time between reading a request and answering it.
// On 2026-12-07 the difference was most of the gap between PostgreSQL on
// rewindfs and on a plain directory: the daemon's fdatasync took what plain
// PostgreSQL's took, and each commit spent about 290 µs more in FUSE.
//
// Session (session.go) collects events in a tracefs instance of its own,
// so it never disturbs other users of the kernel's tracing. Parse and
// Collector turn the events into a Report; they are separate so that tests
// can feed them recorded lines.
package fusetrace

import (
	"bufio"
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Op is what one kind of request cost over the measured interval.
type Op struct {
	Name   string        // the FUSE opcode in lower case without FUSE_: "write", "fsync"
	Count  int           // requests answered
	Errors int           // of those, answered with an error (ENOENT from LOOKUP counts)
	Mean   time.Duration // send to answer
	P50    time.Duration
	P90    time.Duration
	P99    time.Duration
	Max    time.Duration
	Total  time.Duration // the sum: where the time went
}

// Report is the result of a measurement.
type Report struct {
	Ops []Op // by total time, largest first
	// Unanswered counts requests sent but not answered when the
	// measurement stopped (in flight, or blocked: a lock wait, a hung
	// daemon). Answers to requests sent before it started are ignored.
	Unanswered int
	// Lost counts events the kernel dropped because the trace buffer was
	// full; a report with lost events undercounts.
	Lost int
}

// Op returns the named op's figures, or a zero Op.
func (r Report) Op(name string) Op {
	for _, o := range r.Ops {
		if o.Name == name {
			return o
		}
	}
	return Op{Name: name}
}

// Collector pairs send and end events of one FUSE connection.
type Collector struct {
	conn    uint64
	pending map[uint64]sent // by the request's unique ID
	durs    map[string][]time.Duration
	errs    map[string]int
	lost    int
}

type sent struct {
	op string
	at time.Duration // the trace clock's time
}

// NewCollector returns a collector of the connection conn: the kernel's
// device number of the mount (see Connection).
func NewCollector(conn uint64) *Collector {
	return &Collector{conn: conn, pending: map[uint64]sent{}, durs: map[string][]time.Duration{}, errs: map[string]int{}}
}

// Line takes one line of tracefs output; lines that are not FUSE request
// events of the collector's connection are ignored.
func (c *Collector) Line(line string) {
	if n, ok := lostEvents(line); ok {
		c.lost += n
		return
	}
	at, ev, args, ok := splitEvent(line)
	if !ok {
		return
	}
	f := fields(args)
	conn, ok1 := f.uint("connection")
	id, ok2 := f.uint("req")
	if !ok1 || !ok2 || conn != c.conn {
		return
	}
	switch ev {
	case "fuse_request_send":
		if op, ok := opName(args); ok {
			c.pending[id] = sent{op: op, at: at}
		}
	case "fuse_request_end":
		s, ok := c.pending[id]
		if !ok {
			return // sent before the measurement began
		}
		delete(c.pending, id)
		c.durs[s.op] = append(c.durs[s.op], max(at-s.at, 0))
		if e, ok := f.int("error"); ok && e != 0 {
			c.errs[s.op]++
		}
	}
}

// Report summarizes what the collector has seen so far.
func (c *Collector) Report() Report {
	r := Report{Unanswered: len(c.pending), Lost: c.lost}
	for name, d := range c.durs {
		d = slices.Clone(d)
		slices.Sort(d)
		var total time.Duration
		for _, x := range d {
			total += x
		}
		r.Ops = append(r.Ops, Op{
			Name: name, Count: len(d), Errors: c.errs[name],
			Mean: total / time.Duration(len(d)), P50: quantile(d, 0.50), P90: quantile(d, 0.90),
			P99: quantile(d, 0.99), Max: d[len(d)-1], Total: total,
		})
	}
	slices.SortFunc(r.Ops, func(a, b Op) int {
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return r
}

// Parse reads tracefs output for the connection conn.
func Parse(r io.Reader, conn uint64) (Report, error) {
	c := NewCollector(conn)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		c.Line(sc.Text())
	}
	return c.Report(), sc.Err()
}

// quantile returns the nearest-rank q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// splitEvent takes apart a line of tracefs's text format:
//
//	postgres-20534   [000] ...3.  2028.166031: fuse_request_send: connection 40 req 35590 opcode 16 (FUSE_WRITE) len 16464
//
// A task's name may hold spaces and colons, so the line is split at the
// event's name, and the time is the word just before it.
func splitEvent(line string) (at time.Duration, event, args string, ok bool) {
	for _, ev := range [...]string{"fuse_request_send", "fuse_request_end"} {
		head, rest, found := strings.Cut(line, ": "+ev+": ")
		if !found {
			continue
		}
		words := strings.Fields(head)
		if len(words) == 0 {
			return 0, "", "", false
		}
		t, err := parseSeconds(words[len(words)-1])
		if err != nil {
			return 0, "", "", false
		}
		return t, ev, rest, true
	}
	return 0, "", "", false
}

// parseSeconds reads "2028.166031" (seconds and a fraction, as tracefs
// prints its clocks) without the rounding of a float.
func parseSeconds(s string) (time.Duration, error) {
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	ns := int64(0)
	if frac != "" {
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return 0, err
		}
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	return time.Duration(sec)*time.Second + time.Duration(ns), nil
}

// opName takes "(FUSE_WRITE)" from a send event's arguments: "write".
func opName(args string) (string, bool) {
	_, rest, ok := strings.Cut(args, "(FUSE_")
	if !ok {
		// A kernel that prints only the number: keep the number.
		if n, ok := fields(args).uint("opcode"); ok {
			return "opcode" + strconv.FormatUint(n, 10), true
		}
		return "", false
	}
	name, _, ok := strings.Cut(rest, ")")
	return strings.ToLower(name), ok && name != ""
}

// lostEvents recognizes trace_pipe's "CPU:1 [LOST 123 EVENTS]".
func lostEvents(line string) (int, bool) {
	_, rest, ok := strings.Cut(line, "[LOST ")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, " EVENTS]")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// fields reads "name value name value ..." pairs.
type fields string

func (f fields) value(name string) (string, bool) {
	w := strings.Fields(string(f))
	for i := 0; i+1 < len(w); i++ {
		if w[i] == name {
			return w[i+1], true
		}
	}
	return "", false
}

func (f fields) uint(name string) (uint64, bool) {
	v, ok := f.value(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}

func (f fields) int(name string) (int64, bool) {
	v, ok := f.value(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}
