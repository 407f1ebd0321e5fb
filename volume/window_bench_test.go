package volume

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkMountWithHistory measures what issue #5 asks of the window: a
// 1 GiB database whose initial load has been compacted into the base
// image, plus H of history in the window (random 64 KiB overwrites, H =
// 0.1, 1 and 4 times the database). It reports the time to open the volume
// (what a mount does before it serves) and the space amplification: the
// volume's bytes on disk (log and base image) over the database's size.
// The 4x case runs with REWINDFS_BENCH_BIG=1 (it writes 5 GiB).
//
//	go test ./volume -run '^$' -bench MountWithHistory -benchtime 3x
func BenchmarkMountWithHistory(b *testing.B) {
	const db = 1 << 30
	factors := []float64{0.1, 1}
	if os.Getenv("REWINDFS_BENCH_BIG") != "" {
		factors = append(factors, 4)
	}
	for _, f := range factors {
		b.Run(fmt.Sprintf("history=%.1fx", f), func(b *testing.B) {
			d := newBenchDB(b, db, 1<<20, true)
			dir, clock, v := d.dir, d.clock, d.v
			var err error
			rng := rand.New(rand.NewSource(2))
			piece := d.chunk[:64<<10]
			for n := int64(0); n < int64(f*db); n += int64(len(piece)) {
				if _, err := v.Write(d.ino, rng.Int63n(db/int64(len(piece)))*int64(len(piece)), piece); err != nil {
					b.Fatal(err)
				}
			}
			if err := v.Close(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				v, err = Open(dir, Options{Logf: func(string, ...any) {}, Now: clock.Now})
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				if err := v.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/open")
			b.ReportMetric(float64(diskBytes(b, dir))/db, "space-amp")
		})
	}
}

// diskBytes sums the blocks the files under dir take on disk.
func diskBytes(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() {
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
