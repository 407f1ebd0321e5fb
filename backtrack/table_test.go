package backtrack

import (
	"bytes"
	"math/rand"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

func TestPackMetaRoundTrip(t *testing.T) {
	write := (&fsstate.Op{Type: fsstate.OpWrite, Ino: 70001, Off: 123 << 12, Len: 4096, FirstPage: 123, NPages: 1}).AppendMeta(nil)
	cases := map[string][]byte{
		"empty":     {},
		"zeros":     make([]byte, 13),
		"ones":      bytes.Repeat([]byte{0xff}, 9),
		"one byte":  {7},
		"write":     write,
		"a name":    []byte("\x05\x00hello"),
		"large":     bytes.Repeat([]byte{0, 1, 0, 0, 2}, 70000),
		"max":       make([]byte, pagelog.MaxMetaLen),
		"not div 8": {0, 0, 0, 0, 0, 0, 0, 0, 9},
	}
	for name, meta := range cases {
		t.Run(name, func(t *testing.T) {
			p := packMeta([]byte("prefix"), meta)
			require.Equal(t, len("prefix")+packedLen(meta), len(p))
			got, err := unpackMeta(p[len("prefix"):], nil)
			require.NoError(t, err)
			require.Equal(t, len(meta), len(got))
			require.True(t, bytes.Equal(meta, got))
		})
	}
	// The point of packing: a 4 KiB write's metadata takes about half.
	require.Less(t, packedLen(write), 20)
}

func TestUnpackMetaDamaged(t *testing.T) {
	p := packMeta(nil, []byte{1, 2, 3, 0, 5, 6, 7, 8, 9})
	for cut := 0; cut < len(p); cut++ {
		_, err := unpackMeta(p[:cut], nil)
		require.ErrorIs(t, err, errPacked, "cut at %d of %d", cut, len(p))
	}
	_, err := unpackMeta([]byte{0xff, 0xff, 0xff, 0xff, 0x7f}, nil) // a length past MaxMetaLen
	require.ErrorIs(t, err, errPacked)
}

func FuzzPackMeta(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, meta []byte) {
		got, err := unpackMeta(packMeta(nil, meta), nil)
		if err != nil || !bytes.Equal(got, meta) {
			t.Fatalf("round trip of %x: %x, %v", meta, got, err)
		}
		_, _ = unpackMeta(meta, nil) // never panics on garbage
	})
}

// TestTable adds records across several blocks and arena chunks, drops
// from the front in steps, and checks every record left, and that a
// snapshot taken before a drop still reads what it saw.
func TestTable(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const n = 3*blockLen + 123
	type rec struct {
		time int64
		typ  pagelog.Type
		meta []byte
		loc  pagelog.Location
	}
	recs := make([]rec, n)
	tb := table{first: 11}
	for i := range recs {
		meta := make([]byte, rng.Intn(200))
		if i%5000 == 0 {
			meta = make([]byte, pagelog.MaxMetaLen-rng.Intn(1000)) // packed, larger than a chunk
		}
		for j := range meta {
			if rng.Intn(3) == 0 {
				meta[j] = byte(rng.Intn(256))
			}
		}
		recs[i] = rec{time: int64(i) * 1000, typ: pagelog.Type(1 + rng.Intn(200)), meta: meta,
			loc: pagelog.Location{Seg: uint32(i / 100), Off: uint32(i), Len: uint32(rng.Intn(1 << 20)), Codec: pagelog.Codec(i % 3)}}
		tb.add(recs[i].time, recs[i].typ, meta, recs[i].loc)
	}
	check := func(tb *table, from int) {
		t.Helper()
		require.Equal(t, n-from, tb.n)
		for i := from; i < n; i++ {
			e := tb.entry(i - from)
			r := recs[i]
			require.Equal(t, lsn.LSN(11+i), e.LSN)
			require.Equal(t, r.time, e.Time)
			require.Equal(t, r.typ, e.Type)
			require.Equal(t, r.typ, tb.typ(i-from))
			require.Equal(t, r.loc, e.Data)
			require.Equal(t, len(r.meta), e.MetaLen)
			got, err := unpackMeta(e.packed, nil)
			require.NoError(t, err, "record %d of %d, from %d, packed %d bytes, meta %d", i, n, from, len(e.packed), len(r.meta))
			require.True(t, bytes.Equal(r.meta, got), "record %d", i)
		}
	}
	check(&tb, 0)
	dropped := 0
	for _, k := range []int{1, blockLen - 1, 7, 2*blockLen - 500, 0, 200} {
		snap := tb.records(0, tb.n)
		before := dropped
		tb.dropFront(k)
		dropped += k
		check(&tb, dropped)
		i := before
		for e := range snap {
			require.Equal(t, lsn.LSN(11+i), e.LSN)
			require.Equal(t, recs[i].time, e.Time)
			i++
		}
		require.Equal(t, n, i)
		tb.add(0, 1, nil, pagelog.Location{}) // adding after a drop does not disturb the snapshot
		tb.n--                                // (and is taken back for the next check)
	}
	tb.dropFront(n)
	require.Equal(t, 0, tb.n)
	require.Len(t, tb.chunks, 1, "only the chunk being filled is kept")
	require.Equal(t, lsn.LSN(11+n), tb.first)
	tb.add(5, 2, []byte{1}, pagelog.Location{})
	require.Equal(t, lsn.LSN(11+n), tb.entry(0).LSN)
}

// TestSnapshotWhileAdding reads a snapshot without the lock while records
// are added and dropped under it, as Volume.Log does; run with -race.
func TestSnapshotWhileAdding(t *testing.T) {
	var mu sync.Mutex
	tb := table{first: 1}
	meta := bytes.Repeat([]byte{1, 0, 2, 0}, 300) // about 1 KiB packed: a chunk fills every thousand records
	for range 5000 {
		tb.add(1, 2, meta, pagelog.Location{Len: 1})
	}
	mu.Lock()
	snap := tb.records(0, tb.n)
	mu.Unlock()
	done := make(chan int)
	go func() {
		n := 0
		for range 20 { // again and again, while the adds go on
			n = 0
			for e := range snap {
				op, err := unpackMeta(e.packed, nil)
				if err != nil || !bytes.Equal(op, meta) {
					t.Errorf("record %d: %v", e.LSN, err)
				}
				n++
			}
		}
		done <- n
	}()
	for i := range 3 * blockLen {
		mu.Lock()
		tb.add(int64(i), 2, meta, pagelog.Location{Len: 1})
		if i%10000 == 0 {
			tb.dropFront(3000)
		}
		mu.Unlock()
	}
	require.Equal(t, 5000, <-done)
}

// The memory figure of the history rests on the slot's size.
func TestSlotIs32Bytes(t *testing.T) {
	require.EqualValues(t, 32, unsafe.Sizeof(slot{}))
}
