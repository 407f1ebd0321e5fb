package volume

import (
	"fmt"
	"math/rand"
	"os"
	"testing"
	"time"
)

// BenchmarkRewind measures a rewind that undoes U bytes of random 4 KiB
// overwrites on a database file of D bytes written in 128 KiB records. A
// rewind replays record metadata only, so it should not read the data.
// The 4 GiB cases run with REWINDFS_BENCH_BIG=1 (they write 4.5 GiB).
// In the "compacted" cases the database's initial load has left the
// window and been folded into the base image, as it would on a volume
// that has run for longer than its window: a rewind then replays only the
// records in the window, whatever the database's size.
//
//	go test ./volume -run '^$' -bench Rewind -benchtime 3x
func BenchmarkRewind(b *testing.B) {
	for _, compacted := range []bool{false, true} {
		b.Run(fmt.Sprintf("compacted=%v", compacted), func(b *testing.B) { benchRewind(b, compacted) })
	}
}

func benchRewind(b *testing.B, compacted bool) {
	sizes := []struct{ db, undo int64 }{{1 << 30, 64 << 20}, {1 << 30, 512 << 20}}
	if os.Getenv("REWINDFS_BENCH_BIG") != "" {
		sizes = append(sizes, struct{ db, undo int64 }{4 << 30, 64 << 20}, struct{ db, undo int64 }{4 << 30, 512 << 20})
	}
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("db=%dMiB/undo=%dMiB", sz.db>>20, sz.undo>>20), func(b *testing.B) {
			d := newBenchDB(b, sz.db, 128<<10, compacted)
			v := d.v
			defer v.Close()
			target := v.Head()
			rng := rand.New(rand.NewSource(2))
			page := d.chunk[:4096]
			for n := int64(0); n < sz.undo; n += 4096 {
				if _, err := v.Write(d.ino, rng.Int63n(sz.db/4096)*4096, page); err != nil {
					b.Fatal(err)
				}
			}
			if err := v.Sync(); err != nil {
				b.Fatal(err)
			}
			undoneHead := v.Head()
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, _, err := v.Rewind(target); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				// Go forward again so that every round undoes the same.
				if _, _, err := v.Rewind(undoneHead); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/rewind")
			b.ReportMetric(float64(v.hist.Len()), "records")
		})
	}
}
