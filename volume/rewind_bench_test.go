package volume

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rewindfs/rewindfs/fsstate"
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
			dir := filepath.Join(b.TempDir(), "vol")
			clock := &fakeClock{t: time.Now()}
			if _, err := Init(dir, InitOptions{Window: time.Hour}); err != nil {
				b.Fatal(err)
			}
			v, err := Open(dir, Options{Logf: func(string, ...any) {}, Now: clock.Now})
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			a, err := v.Create(fsstate.RootIno, "db", syscall.S_IFREG|0o600, 0, 0, 0, false)
			if err != nil {
				b.Fatal(err)
			}
			chunk := make([]byte, 128<<10)
			rand.New(rand.NewSource(1)).Read(chunk)
			for off := int64(0); off < sz.db; off += int64(len(chunk)) {
				if _, err := v.Write(a.Ino, off, chunk); err != nil {
					b.Fatal(err)
				}
			}
			if err := v.Sync(); err != nil {
				b.Fatal(err)
			}
			if compacted {
				clock.Add(2 * time.Hour)
				for {
					r, err := v.Compact()
					if err != nil {
						b.Fatal(err)
					}
					if r.Done() || r.ToLSN == r.FromLSN {
						break
					}
				}
			}
			target := v.Head()
			rng := rand.New(rand.NewSource(2))
			page := chunk[:4096]
			for n := int64(0); n < sz.undo; n += 4096 {
				if _, err := v.Write(a.Ino, rng.Int63n(sz.db/4096)*4096, page); err != nil {
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
