package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkClone measures `rewindfs clone` of a volume holding a 1 GiB
// file written in 128 KiB records. Uncompacted, the 1 GiB is history in
// the log: the sealed segments are hard-linked and only the last one is
// copied, so the time is mostly the two scans of the log's metadata (the
// parent opened read-only to resolve the target, the clone opened as a
// check). Compacted, the 1 GiB has been folded into the base image, which
// is copied (reflinked where the file system can).
//
//	go test ./volume -run '^$' -bench Clone -benchtime 3x
func BenchmarkClone(b *testing.B) {
	for _, compacted := range []bool{false, true} {
		b.Run(fmt.Sprintf("compacted=%v", compacted), func(b *testing.B) { benchClone(b, compacted) })
	}
}

func benchClone(b *testing.B, compacted bool) {
	d := newBenchDB(b, 1<<30, 128<<10, compacted)
	root, dir, clock, v := b.TempDir(), d.dir, d.clock, d.v
	var err error
	if compacted {
		// A little history after the base, as a volume in use has.
		if _, err := v.Write(d.ino, 0, d.chunk); err != nil {
			b.Fatal(err)
		}
		if err := v.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var total time.Duration
	var rep CloneReport
	for i := 0; i < b.N; i++ {
		dst := filepath.Join(root, fmt.Sprintf("clone%d", i))
		start := time.Now()
		rep, err = Clone(dir, dst, CloneOptions{Now: clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/clone")
	b.ReportMetric(float64(rep.BytesCopied)/(1<<20), "MiB-copied")
	b.ReportMetric(float64(rep.BytesLinked)/(1<<20), "MiB-linked")
	b.ReportMetric(float64(rep.SegmentsLinked), "segments-linked")
}
