package volume

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"
)

// BenchmarkIndexMemory measures what the daemon keeps in memory for each
// page version in the window: the history entry of the record that wrote
// it, its metadata, the page table's reference, and the active segment's
// index. It writes versions pages of 4 KiB at random into a file of
// fileMiB (the worst case: one record per page version; a 128 KiB write
// is one record for 32 versions), then reports the growth of the live Go
// heap per version as B/version.
//
//	go test ./volume -run '^$' -bench IndexMemory -benchtime 1x
func BenchmarkIndexMemory(b *testing.B) {
	for _, c := range []struct{ fileMiB, versions int }{{64, 200_000}, {1024, 200_000}} {
		b.Run(fmt.Sprintf("file=%dMiB/versions=%d", c.fileMiB, c.versions), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchIndexMemory(b, int64(c.fileMiB)<<20, c.versions)
			}
		})
	}
}

func benchIndexMemory(b *testing.B, fileSize int64, versions int) {
	// One 128 KiB record per chunk lays the file out first; its versions
	// are not counted.
	d := newBenchDB(b, fileSize, 128<<10, false)
	defer d.v.Close()
	page := d.chunk[:4096]
	before := liveHeap()
	rng := rand.New(rand.NewSource(3))
	for n := 0; n < versions; n++ {
		if _, err := d.v.Write(d.ino, rng.Int63n(fileSize/4096)*4096, page); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.v.Sync(); err != nil {
		b.Fatal(err)
	}
	after := liveHeap()
	b.ReportMetric(float64(after-before)/float64(versions), "B/version")
	runtime.KeepAlive(d.v)
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
