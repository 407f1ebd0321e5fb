package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Progress of long jobs (recovery on mount, rewinds, compact, verify,
// bisect) goes to stderr, so that stdout keeps only the result: a bar on a
// terminal, a line every progressEvery otherwise (a log, the journal),
// nothing with --quiet, and nothing at all for a job done within
// progressDelay (progressEvery without a terminal, so that a short job
// leaves no line in a log).
const (
	progressDelay = 2 * time.Second
	progressEvery = 5 * time.Second
	progressTick  = 200 * time.Millisecond
)

// quietFlag is the --quiet flag of the commands that show progress.
var quietFlag = &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "show no progress on stderr"}

// progress shows how far one job is. A total of 0 or less means unknown:
// a spinner with the elapsed time. Its methods are safe for concurrent use
// and do nothing on a progress made quiet.
type progress struct {
	mu       sync.Mutex
	what     string
	cur      int64
	total    int64
	bytes    bool          // cur and total are bytes
	src      *atomic.Int64 // if set, cur is read from it at every tick
	held     bool          // the bar is cleared and not drawn (hold)
	out      io.Writer
	tty      bool
	quiet    bool
	began    time.Time
	delay    time.Duration // progressDelay; tests shorten these
	every    time.Duration // progressEvery
	bar      *progressbar.ProgressBar
	lastLine time.Time // when the last line was printed (not a terminal)
	lines    int
	stop     chan struct{}
	stopped  chan struct{}
}

// newProgress starts showing the progress of what (unless quiet).
func newProgress(quiet bool, what string, total int64, bytes bool) *progress {
	p := &progress{what: what, total: total, bytes: bytes, out: os.Stderr, quiet: quiet, began: time.Now(),
		delay: progressDelay, every: progressEvery}
	if quiet {
		return p
	}
	p.tty = term.IsTerminal(int(os.Stderr.Fd()))
	p.start()
	return p
}

// start draws the progress every progressTick until done.
func (p *progress) start() {
	stop, stopped := make(chan struct{}), make(chan struct{})
	p.stop, p.stopped = stop, stopped
	go func() {
		defer close(stopped)
		t := time.NewTicker(progressTick)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.render()
				p.mu.Unlock()
			}
		}
	}()
}

// set says how far the job is; a total > 0 replaces the one given before.
func (p *progress) set(cur, total int64) {
	p.mu.Lock()
	p.cur = cur
	if total > 0 {
		p.total = total
	}
	p.mu.Unlock()
}

// track makes the progress read how far the job is from n.
func (p *progress) track(n *atomic.Int64) *progress {
	p.mu.Lock()
	p.src = n
	p.mu.Unlock()
	return p
}

// hold clears the bar and stops drawing it (true) until hold(false): for
// output of another program that goes to the same terminal.
func (p *progress) hold(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = on
	if on && p.bar != nil {
		_ = p.bar.Clear()
	}
}

// add moves the job on by n.
func (p *progress) add(n int64) {
	p.mu.Lock()
	p.cur += n
	p.mu.Unlock()
}

// println prints a line of its own on stderr without garbling the bar.
func (p *progress) println(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.out, format+"\n", args...)
	if p.bar != nil && !p.held {
		_ = p.bar.Set64(p.cur)
	}
}

// done ends the progress: the bar is cleared (the result follows on
// stdout); where lines were printed, a last one says how long it took.
// Calling it again does nothing.
func (p *progress) done() {
	p.mu.Lock()
	stop := p.stop
	p.stop = nil
	p.mu.Unlock()
	if p.quiet || stop == nil {
		return
	}
	close(stop)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Exit()
		_ = p.bar.Clear()
		p.bar = nil
	}
	if p.lines > 0 {
		fmt.Fprintf(p.out, "rewindfs: %s: done in %s\n", p.what, time.Since(p.began).Round(100*time.Millisecond))
	}
}

// render draws the bar or prints a line, if it is time to; p.mu is held.
func (p *progress) render() {
	if p.src != nil {
		p.cur = p.src.Load()
	}
	elapsed := time.Since(p.began)
	if elapsed < p.delay || p.held {
		return
	}
	if !p.tty {
		if elapsed < p.every || time.Since(p.lastLine) < p.every {
			return
		}
		p.lastLine = time.Now()
		p.lines++
		fmt.Fprintf(p.out, "rewindfs: %s: %s\n", p.what, p.describe(elapsed))
		return
	}
	if p.bar == nil {
		p.bar = p.newBar()
		p.bar.StartWithoutRender()
	}
	if p.total > 0 && p.bar.GetMax64() != p.total {
		p.bar.ChangeMax64(p.total)
	}
	cur := p.cur
	if p.total > 0 && cur >= p.total {
		cur = p.total - 1 // the job is done when done is called, not before
	}
	// The bar starts late (progressDelay), so the elapsed time and the
	// estimate are ours, not the bar's.
	desc := fmt.Sprintf("%s %s", p.what, elapsed.Round(time.Second))
	if p.total > 0 && p.cur > 0 && p.cur < p.total {
		left := time.Duration(float64(elapsed) * float64(p.total-p.cur) / float64(p.cur))
		desc += fmt.Sprintf(", about %s left", left.Round(time.Second))
	}
	p.bar.Describe(desc) // draws the bar (with the number it had)
	_ = p.bar.Set64(cur) // and again with the new number
}

func (p *progress) newBar() *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(p.out),
		progressbar.OptionSetDescription(p.what),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetSpinnerChangeInterval(0), // drawn at our ticks only
		progressbar.OptionClearOnFinish(),
		progressbar.OptionShowBytes(p.bytes),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionSetPredictTime(false),
	}
	if p.total > 0 {
		return progressbar.NewOptions64(p.total, append(opts, progressbar.OptionShowCount())...)
	}
	return progressbar.NewOptions64(-1, append(opts, progressbar.OptionSpinnerType(14))...)
}

// describe is the text of a progress line.
func (p *progress) describe(elapsed time.Duration) string {
	el := elapsed.Round(time.Second).String()
	switch {
	case p.total > 0 && p.bytes:
		return fmt.Sprintf("%d%% (%s of %s), %s", min(100, p.cur*100/p.total), humanBytes(p.cur), humanBytes(p.total), el)
	case p.total > 0:
		return fmt.Sprintf("%d of %d, %s", p.cur, p.total, el)
	case p.bytes && p.cur > 0:
		return fmt.Sprintf("%s, %s", humanBytes(p.cur), el)
	}
	return el + " so far"
}

// withProgress runs fn with a spinner that shows the elapsed time: for
// work done elsewhere (the daemon) that says nothing of how far it is.
func withProgress[T any](quiet bool, what string, fn func() (T, error)) (T, error) {
	p := newProgress(quiet, what, 0, false)
	defer p.done()
	return fn()
}
