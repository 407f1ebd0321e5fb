package volume

import (
	"math/rand"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rewindfs/rewindfs/fsstate"
)

// benchDB is a volume the benchmarks start from: one file "db" of size
// bytes written in chunk-byte records of random data and synced, under a
// one-hour window on a fake clock. With compacted, the clock moves two
// hours on and the whole load is folded into the base image, as on a
// volume that has run for longer than its window.
type benchDB struct {
	dir   string
	v     *Volume
	clock *fakeClock
	ino   uint64
	chunk []byte // the data written, reused by the benchmarks
}

func newBenchDB(b *testing.B, size int64, chunk int, compacted bool) *benchDB {
	b.Helper()
	d := &benchDB{dir: filepath.Join(b.TempDir(), "vol"), clock: &fakeClock{t: time.Now()}}
	if _, err := Init(d.dir, InitOptions{Window: time.Hour}); err != nil {
		b.Fatal(err)
	}
	var err error
	d.v, err = Open(d.dir, Options{Logf: func(string, ...any) {}, Now: d.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	a, err := d.v.Create(fsstate.RootIno, "db", syscall.S_IFREG|0o600, 0, 0, 0, false)
	if err != nil {
		b.Fatal(err)
	}
	d.ino = a.Ino
	d.chunk = make([]byte, chunk)
	rand.New(rand.NewSource(1)).Read(d.chunk)
	for off := int64(0); off < size; off += int64(chunk) {
		if _, err := d.v.Write(d.ino, off, d.chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.v.Sync(); err != nil {
		b.Fatal(err)
	}
	if compacted {
		d.clock.Add(2 * time.Hour)
		for {
			r, err := d.v.Compact()
			if err != nil {
				b.Fatal(err)
			}
			if r.Done() || r.ToLSN == r.FromLSN {
				break
			}
		}
	}
	return d
}
