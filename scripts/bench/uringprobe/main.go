// Command uringprobe measures a FUSE round trip over /dev/fuse against
// FUSE-over-io_uring, with the same trivial in-memory file system behind
// both (see README.md). "serve" mounts and serves; "client" times stat or
// 4 KiB pwrite+fdatasync loops on the mount. A probe for a decision, not
// part of rewindfs.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: uringprobe serve|client ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		cmdServe(os.Args[2:])
	case "client":
		cmdClient(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}

func cmdClient(args []string) {
	fl := flag.NewFlagSet("client", flag.ExitOnError)
	dir := fl.String("dir", "", "directory (the mount)")
	threads := fl.Int("threads", 1, "goroutines")
	secs := fl.Float64("secs", 10, "duration")
	op := fl.String("op", "stat", "stat|writesync")
	fl.Parse(args)
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "-dir required")
		os.Exit(2)
	}
	type res struct {
		ops uint64
		dur time.Duration
		err error
	}
	results := make([]res, *threads)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(time.Duration(*secs * float64(time.Second)))
	for t := 0; t < *threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			var r res
			switch *op {
			case "stat":
				// stat of the mount root: with attr_valid=0 each one is one GETATTR
				var st unix.Stat_t
				for time.Now().Before(deadline) {
					t0 := time.Now()
					if err := unix.Stat(*dir, &st); err != nil {
						r.err = err
						break
					}
					r.dur += time.Since(t0)
					r.ops++
				}
			case "writesync":
				p := filepath.Join(*dir, fmt.Sprintf("f%d", t))
				fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
				if err != nil {
					r.err = err
					break
				}
				buf := make([]byte, 4096)
				for i := range buf {
					buf[i] = byte(i)
				}
				var k int64
				for time.Now().Before(deadline) {
					t0 := time.Now()
					if _, err := unix.Pwrite(fd, buf, (k%256)*4096); err != nil {
						r.err = err
						break
					}
					if err := unix.Fdatasync(fd); err != nil {
						r.err = err
						break
					}
					r.dur += time.Since(t0)
					r.ops++
					k++
				}
				unix.Close(fd)
			default:
				r.err = fmt.Errorf("unknown op %q", *op)
			}
			results[t] = r
		}(t)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var ops uint64
	var dur time.Duration
	for t, r := range results {
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "thread %d: %v\n", t, r.err)
			os.Exit(1)
		}
		ops += r.ops
		dur += r.dur
	}
	lat := 0.0
	if ops > 0 {
		lat = float64(dur.Microseconds()) / float64(ops)
	}
	fmt.Printf("RESULT op=%s threads=%d ops=%d secs=%.2f ops_per_s=%.0f mean_lat_us=%.2f\n",
		*op, *threads, ops, elapsed.Seconds(), float64(ops)/elapsed.Seconds(), lat)
}
