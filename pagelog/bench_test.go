package pagelog

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchLog opens a log as a read-write volume does: segments reserved in
// full and spares written with zeros. Without them every fdatasync into a
// new block also commits ext4's journal, which the volume never pays
// (spare.go), and the sync benchmarks measured that: 240-300 µs an 8 KiB
// append and sync against 125-150 µs for the same pwrite and fdatasync on a
// zeroed file, and 131-150 µs with the spares (BenchmarkCommit8K).
func benchLog(b *testing.B, codec Codec) *Log {
	b.Helper()
	l, _, err := Open(Options{Dir: b.TempDir(), VolumeID: testVolume, Codec: codec, SegmentSize: 256 << 20,
		Preallocate: true, ZeroFill: true}, nil)
	require.NoError(b, err)
	b.Cleanup(func() { l.Close() })
	return l
}

func benchAppend(b *testing.B, size int) {
	for _, codec := range []Codec{CodecNone, CodecS2, CodecZstd} {
		b.Run(codec.String(), func(b *testing.B) {
			l := benchLog(b, codec)
			meta, data := makeRecord(rand.New(rand.NewPCG(1, 1)), 32, size)
			// Warm up: the first Append makes the segment and the buffer.
			_, _, _, err := l.Append(1, meta, data)
			require.NoError(b, err)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := l.Append(1, meta, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppend4K(b *testing.B) { benchAppend(b, 4<<10) }

func BenchmarkAppend128K(b *testing.B) { benchAppend(b, 128<<10) }

// BenchmarkAppendSyncParallel measures group commit: every goroutine
// appends a 4 KiB record and waits until it is durable.
func BenchmarkAppendSyncParallel(b *testing.B) {
	l := benchLog(b, CodecNone)
	_, data := makeRecord(rand.New(rand.NewPCG(1, 1)), 0, 4<<10)
	meta := make([]byte, 32)
	syncedAppend(b, l, meta, data) // the first one waits for the spare's zeros
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n, _, _, err := l.Append(1, meta, data)
			if err == nil {
				err = l.Sync(n)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCommit8K is a SQLite commit in WAL mode as the log sees it:
// one record of two pages, then a sync that waits for it.
func BenchmarkCommit8K(b *testing.B) {
	l := benchLog(b, CodecNone)
	_, data := makeRecord(rand.New(rand.NewPCG(1, 1)), 0, 8<<10)
	meta := make([]byte, 40)
	syncedAppend(b, l, meta, data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		syncedAppend(b, l, meta, data)
	}
}

// syncedAppend appends one record and waits until it is durable.
func syncedAppend(b *testing.B, l *Log, meta, data []byte) {
	n, _, _, err := l.Append(1, meta, data)
	if err == nil {
		err = l.Sync(n)
	}
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkReadData(b *testing.B) {
	for _, codec := range []Codec{CodecNone, CodecS2, CodecZstd} {
		b.Run(codec.String(), func(b *testing.B) {
			l := benchLog(b, codec)
			rng := rand.New(rand.NewPCG(2, 2))
			var locs []Location
			for range 64 {
				_, data := makeRecord(rng, 0, 16<<10)
				_, _, loc, err := l.Append(1, nil, data)
				require.NoError(b, err)
				locs = append(locs, loc)
			}
			buf := make([]byte, 4<<10)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// Read the 4 pages of one record, then move on: the cache
				// turns four decompressions into one.
				loc := locs[(i/4)%len(locs)]
				if _, err := l.ReadData(loc, int64(i%4)*4096, buf); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkDecodeRecord measures what recovery and verify pay per record
// before any I/O: the header checks, the CRC over the record, the split
// into meta and data.
func BenchmarkDecodeRecord(b *testing.B) {
	for _, size := range []int{0, 4 << 10, 128 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			meta, data := makeRecord(rand.New(rand.NewPCG(3, 3)), 32, size)
			rec := encodeRecord(nil, recordHeader{lsn: 7, time: 1, typ: 1, metaLen: uint32(len(meta)),
				rawLen: uint32(len(data)), storedLen: uint32(len(data))}, meta, data)
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, _, why := decodeRecord(rec); why != "" {
					b.Fatal(why)
				}
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
