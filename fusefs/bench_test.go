package fusefs

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rewindfs/rewindfs/volume"
)

// The benchmarks here drive a mount in this process through the kernel,
// so a CPU profile (go test -bench X -cpuprofile cpu.out) shows the
// daemon's side of each request: where the time of a FUSE write or fsync
// goes. They measure the same shapes as scripts/bench.sh's fio jobs, at a
// smaller size; bench.sh is where rewindfs is compared with a plain
// directory.

// BenchmarkSeqWrite writes a file in 1 MiB writes, like fio's sequential
// job, and fsyncs it at the end.
func BenchmarkSeqWrite(b *testing.B) {
	mnt, _, _ := mountWith(b, volume.InitOptions{}, volume.Options{Logf: b.Logf}, Options{}, nil)
	buf := make([]byte, 1<<20)
	fillRandom(buf)
	const fileSize = 256 << 20
	b.SetBytes(fileSize)
	b.ResetTimer()
	for i := range b.N {
		f, err := os.Create(filepath.Join(mnt, "seq"))
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < fileSize; off += int64(len(buf)) {
			buf[0] = byte(i) // a different page each round, so compression cannot cheat
			if _, err := f.WriteAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRandWriteSync writes 4 KiB pages at random offsets of a 64 MiB
// file with an fdatasync after every 8, like fio's random write job and
// like a database's page writes between checkpoints.
func BenchmarkRandWriteSync(b *testing.B) {
	mnt, _, _ := mountWith(b, volume.InitOptions{}, volume.Options{Logf: b.Logf}, Options{}, nil)
	const fileSize = 64 << 20
	f, err := os.Create(filepath.Join(mnt, "rand"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(fileSize); err != nil {
		b.Fatal(err)
	}
	page := make([]byte, 4096)
	fillRandom(page)
	r := rand.New(rand.NewPCG(1, 2))
	b.SetBytes(int64(len(page)))
	b.ResetTimer()
	for i := range b.N {
		off := r.Int64N(fileSize/4096) * 4096
		page[0] = byte(i)
		if _, err := f.WriteAt(page, off); err != nil {
			b.Fatal(err)
		}
		if i%8 == 7 {
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func fillRandom(b []byte) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// BenchmarkRandReadDirect reads 4 KiB pages at random offsets of a 64 MiB
// file with O_DIRECT, so that every read is a FUSE READ answered by the
// daemon (the log's segments stay in the host's page cache): what the
// daemon adds to a cold random read, without the disk.
func BenchmarkRandReadDirect(b *testing.B) {
	mnt, _, _ := mountWith(b, volume.InitOptions{}, volume.Options{Logf: b.Logf}, Options{}, nil)
	const fileSize = 64 << 20
	path := filepath.Join(mnt, "rand")
	buf := make([]byte, 1<<20)
	fillRandom(buf)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for off := int64(0); off < fileSize; off += int64(len(buf)) {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	f, err = os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := alignedPage()
	r := rand.New(rand.NewPCG(5, 6))
	b.SetBytes(int64(len(page)))
	b.ResetTimer()
	for range b.N {
		if _, err := f.ReadAt(page, r.Int64N(fileSize/4096)*4096); err != nil {
			b.Fatal(err)
		}
	}
}

// alignedPage returns 4 KiB aligned for O_DIRECT.
func alignedPage() []byte {
	b := make([]byte, 8192)
	off := 4096 - int(uintptr(unsafe.Pointer(&b[0]))&4095)
	if off == 4096 {
		off = 0
	}
	return b[off : off+4096]
}
