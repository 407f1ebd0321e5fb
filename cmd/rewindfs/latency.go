package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/fusetrace"
)

func latencyCommand() *cli.Command {
	return &cli.Command{
		Name:      "latency",
		Usage:     "time a mount's FUSE requests as the kernel sees them",
		ArgsUsage: "MOUNTPOINT|VOLUME",
		Description: "Measures every FUSE request the kernel sends to the daemon for --for (or until Ctrl-C):\n" +
			"from the moment it is queued until its answer arrives. That is what an application on the\n" +
			"mount pays per request, the kernel's queue and the round trip included; the daemon's\n" +
			"metrics time only its own part. For each kind of request it prints the count, errors,\n" +
			"mean, p50, p90, p99, max and total time, the largest total first. A commit on a database\n" +
			"is typically a write (the WAL page) and an fsync; compare the fsync row with the same\n" +
			"database's fdatasync on a plain directory.\n\n" +
			"It uses the kernel's FUSE tracepoints in a tracefs instance of its own, so it needs root\n" +
			"and a kernel that has them; it changes nothing on the volume and does not disturb other\n" +
			"tracing.\n\n" +
			"Examples:\n" +
			"  rewindfs latency /srv/pg\n" +
			"  rewindfs latency /srv/pg --for 1m --json | jq '.ops[] | select(.op == \"fsync\")'",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "for", Value: 10 * time.Second, Usage: "how long to measure; Ctrl-C stops early and still reports"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		},
		Action: func(c *cli.Context) error {
			t, err := resolveArg(c, "MOUNTPOINT|VOLUME")
			if err != nil {
				return err
			}
			if t.mountpoint == "" {
				return fmt.Errorf("volume %s is not mounted: latency measures a mount's requests (rewindfs mount %s MOUNTPOINT first)", t.volume, t.volume)
			}
			d := c.Duration("for")
			if d <= 0 {
				return fmt.Errorf("--for %s: give a positive duration, such as 10s or 1m", d)
			}
			conn, err := fusetrace.Connection(t.mountpoint)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := fusetrace.Start(conn)
			if err != nil {
				return err
			}
			if !c.Bool("json") {
				fmt.Fprintf(os.Stderr, "measuring %s for %s (Ctrl-C stops early)\n", t.mountpoint, d)
			}
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
			timer.Stop()
			r, took, err := s.Stop()
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(latencyJSON(t, conn, took, r))
			}
			printLatency(t.mountpoint, took, r)
			return nil
		},
	}
}

type latencyOp struct {
	Op           string  `json:"op"`
	Count        int     `json:"count"`
	Errors       int     `json:"errors"`
	MeanUS       float64 `json:"mean_us"`
	P50US        float64 `json:"p50_us"`
	P90US        float64 `json:"p90_us"`
	P99US        float64 `json:"p99_us"`
	MaxUS        float64 `json:"max_us"`
	TotalSeconds float64 `json:"total_seconds"`
}

type latencyReport struct {
	Mountpoint string      `json:"mountpoint"`
	Volume     string      `json:"volume"`
	Connection uint64      `json:"connection"`
	Seconds    float64     `json:"seconds"`
	Unanswered int         `json:"unanswered"`
	LostEvents int         `json:"lost_events"`
	Ops        []latencyOp `json:"ops"`
}

func latencyJSON(t target, conn uint64, took time.Duration, r fusetrace.Report) latencyReport {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	out := latencyReport{Mountpoint: t.mountpoint, Volume: t.volume, Connection: conn, Seconds: took.Seconds(),
		Unanswered: r.Unanswered, LostEvents: r.Lost, Ops: []latencyOp{}}
	for _, o := range r.Ops {
		out.Ops = append(out.Ops, latencyOp{Op: o.Name, Count: o.Count, Errors: o.Errors, MeanUS: us(o.Mean),
			P50US: us(o.P50), P90US: us(o.P90), P99US: us(o.P99), MaxUS: us(o.Max), TotalSeconds: o.Total.Seconds()})
	}
	return out
}

func printLatency(mnt string, took time.Duration, r fusetrace.Report) {
	fmt.Printf("FUSE requests on %s over %.1f s, from queued to answered:\n", mnt, took.Seconds())
	if len(r.Ops) == 0 {
		fmt.Println("no requests in that time")
	} else {
		fmt.Printf("%-14s %8s %7s %9s %9s %9s %9s %9s %9s\n", "op", "count", "errors", "mean", "p50", "p90", "p99", "max", "total")
		for _, o := range r.Ops {
			fmt.Printf("%-14s %8d %7d %9s %9s %9s %9s %9s %9s\n", o.Name, o.Count, o.Errors, fmtLatency(o.Mean),
				fmtLatency(o.P50), fmtLatency(o.P90), fmtLatency(o.P99), fmtLatency(o.Max), fmtLatency(o.Total))
		}
	}
	if r.Unanswered > 0 {
		fmt.Printf("%d request(s) were still unanswered when the measurement ended\n", r.Unanswered)
	}
	if r.Lost > 0 {
		fmt.Printf("the kernel dropped %d event(s) from a full trace buffer: the counts above are short\n", r.Lost)
	}
}

// fmtLatency prints a duration with three significant digits in the unit
// that fits: 342 µs, 1.20 ms, 10.1 s.
func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d/time.Microsecond)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}
