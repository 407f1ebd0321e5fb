package main

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProgressLines: without a terminal, a long job prints a line every
// so often and one when done; a short one prints nothing; a quiet one
// nothing at all.
func TestProgressLines(t *testing.T) {
	start := func(out *syncBuffer, total int64) *progress {
		p := &progress{what: "checking records", total: total, bytes: true, out: out, began: time.Now(),
			delay: 10 * time.Millisecond, every: 300 * time.Millisecond}
		p.start()
		return p
	}
	var out syncBuffer
	var n atomic.Int64
	p := start(&out, 4<<20).track(&n)
	n.Store(1 << 20)
	time.Sleep(time.Second)
	n.Store(3 << 20)
	p.println("a message of its own")
	p.done()
	p.done() // again: nothing
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 3, out.String())
	require.Regexp(t, `^rewindfs: checking records: 25% \(1\.0 MiB of 4\.0 MiB\), [01]s$`, lines[0])
	require.Contains(t, out.String(), "a message of its own\n")
	require.Regexp(t, `^rewindfs: checking records: done in [0-9.]+s$`, lines[len(lines)-1])

	var short syncBuffer
	p = start(&short, 0)
	p.done()
	require.Empty(t, short.String(), "a job done before the first line prints nothing")

	q := newProgress(true, "quiet", 10, false)
	q.add(5)
	q.println("x") // a quiet progress still prints messages of their own
	q.done()
}
