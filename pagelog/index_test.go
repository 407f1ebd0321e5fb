package pagelog

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeIndexedLog appends n records of mixed sizes over several segments of
// a log on mem, lets the indexer finish, and closes the log.
func writeIndexedLog(t *testing.T, mem FS, codec Codec, n int) []testRecord {
	t.Helper()
	opts := Options{Dir: "/log", VolumeID: testVolume, FS: mem, SegmentSize: 64 << 10, Codec: codec}
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 5))
	var recs []testRecord
	for i := 0; i < n; i++ {
		meta, data := makeRecord(rng, rng.IntN(60), rng.IntN(9000))
		lsn, tm, loc, err := l.Append(Type(1+i%3), meta, data)
		require.NoError(t, err)
		recs = append(recs, testRecord{lsn: lsn, time: tm, typ: Type(1 + i%3), meta: meta, data: data, loc: loc})
	}
	require.NoError(t, l.Sync(l.Head()))
	l.waitIndexer()
	require.NoError(t, l.Close())
	return recs
}

func indexFiles(t *testing.T, fs FS) []string {
	names, err := fs.ReadDir("/log")
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		if _, _, ok := isIndexFile(n); ok {
			out = append(out, n)
		}
	}
	return out
}

// Open reads sealed segments from their indexes and delivers exactly what a
// scan of the segments delivers: same records, metas, locations and data.
func TestOpenFromIndexesMatchesAScan(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecS2} {
		mem := NewMemFS()
		recs := writeIndexedLog(t, mem, codec, 300)
		if codec == CodecNone {
			aligned := 0
			for _, r := range recs {
				if len(r.data) > 0 && r.loc.Off%dataAlign == 0 {
					aligned++
				}
			}
			require.Greater(t, aligned, 5, "records with a gap before their data part, for the indexes to carry")
		}
		segs, err := mem.ReadDir("/log")
		require.NoError(t, err)
		idx := indexFiles(t, mem)
		require.NotEmpty(t, idx)
		require.Equal(t, countSegments(segs)-1, len(idx), "every sealed segment, not the last, has an index")

		opts := Options{Dir: "/log", VolumeID: testVolume, FS: mem, SegmentSize: 64 << 10, Codec: codec}
		var n atomic.Int64
		copts := opts
		copts.FS = CountReads(mem, &n)
		var fromIndex []Scanned
		l, rep, err := Open(copts, func(s *Scanned) error {
			c := *s
			c.Meta = bytes.Clone(s.Meta)
			fromIndex = append(fromIndex, c)
			return nil
		})
		require.NoError(t, err)
		openRead := n.Load()
		require.Equal(t, int64(len(recs)), rep.Records)
		requireSameRecords(t, recs, scanAll(t, l))
		l.waitIndexer()
		require.NoError(t, l.Close())

		// The same log without indexes: a full scan.
		built := map[string][]byte{} // as the appends built them
		for _, name := range idx {
			built[name] = readMemFile(t, mem, "/log/"+name)
			require.NoError(t, mem.Remove("/log/"+name))
		}
		var fromScan []Scanned
		var m atomic.Int64
		sopts := opts
		sopts.FS = CountReads(mem, &m)
		l, _, err = Open(sopts, func(s *Scanned) error {
			c := *s
			c.Meta = bytes.Clone(s.Meta)
			fromScan = append(fromScan, c)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, fromScan, fromIndex, "codec %v", codec)
		require.Less(t, openRead*2, m.Load(), "open with indexes reads %d bytes, a scan %d", openRead, m.Load())
		l.waitIndexer()
		require.NoError(t, l.Close())
		require.Equal(t, idx, indexFiles(t, mem), "Open wrote the missing indexes again")
		for _, name := range idx {
			require.Equal(t, built[name], readMemFile(t, mem, "/log/"+name), "%s: the scan's index is the appends' index", name)
		}
	}
}

func countSegments(names []string) int {
	n := 0
	for _, name := range names {
		if _, ok := parseSegmentName(name); ok {
			n++
		}
	}
	return n
}

// oldIndex rewrites an index in the layout before gaps ("RWFSIDX1", no gap
// field), as the code before wrote it for a segment whose records have
// none.
func oldIndex(t *testing.T, b []byte) []byte {
	t.Helper()
	le := binary.LittleEndian
	out := append([]byte(indexMagicOld), b[8:indexHeaderLen]...)
	for p := indexHeaderLen; p < len(b)-4; {
		require.Zero(t, le.Uint16(b[p+14:]), "a record with a gap cannot be in an old index")
		metaLen := int(le.Uint32(b[p+16:]))
		out = append(out, b[p:p+14]...)
		out = append(out, b[p+16:p+indexEntryLen+metaLen]...)
		p += indexEntryLen + metaLen
	}
	return le.AppendUint32(out, crc32.Checksum(out, crcTable))
}

// An index in the layout before gaps is still used: a volume made by the
// code before opens from its indexes, not from a scan of every sealed
// segment.
func TestOldIndexesAreRead(t *testing.T) {
	mem := NewMemFS()
	opts := Options{Dir: "/log", VolumeID: testVolume, FS: mem, SegmentSize: 64 << 10}
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(6, 6))
	var recs []testRecord
	for i := 0; i < 2000; i++ {
		meta, data := makeRecord(rng, rng.IntN(60), rng.IntN(16)) // too small for a gap
		lsn, tm, loc, err := l.Append(1, meta, data)
		require.NoError(t, err)
		recs = append(recs, testRecord{lsn: lsn, time: tm, typ: 1, meta: meta, data: data, loc: loc})
	}
	require.NoError(t, l.Sync(l.Head()))
	l.waitIndexer()
	require.NoError(t, l.Close())
	idx := indexFiles(t, mem)
	require.GreaterOrEqual(t, len(idx), 2)
	for _, name := range idx {
		writeMemFile(t, mem, "/log/"+name, oldIndex(t, readMemFile(t, mem, "/log/"+name)))
	}

	l, _, err = Open(opts, nil)
	require.NoError(t, err)
	requireSameRecords(t, recs, scanAll(t, l))
	l.waitIndexer()
	require.NoError(t, l.Close())
	// An index Open could not use is rewritten from its scan, in the new
	// layout.
	for _, name := range idx {
		require.Equal(t, indexMagicOld, string(readMemFile(t, mem, "/log/"+name)[:8]), "%s was not used, and written again", name)
	}
}

// A bad index (a flipped byte, cut short, made for another segment, empty)
// is never trusted: Open scans the segment and gets the same records.
func TestBadIndexesAreIgnored(t *testing.T) {
	damage := map[string]func(b []byte, other []byte) []byte{
		"flipped byte":      func(b, _ []byte) []byte { b[len(b)/2] ^= 0x40; return b },
		"cut short":         func(b, _ []byte) []byte { return b[:len(b)-9] },
		"empty":             func(b, _ []byte) []byte { return nil },
		"another segment's": func(_, o []byte) []byte { return o },
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			mem := NewMemFS()
			recs := writeIndexedLog(t, mem, CodecNone, 200)
			idx := indexFiles(t, mem)
			require.GreaterOrEqual(t, len(idx), 2)
			b := readMemFile(t, mem, "/log/"+idx[0])
			other := readMemFile(t, mem, "/log/"+idx[1])
			writeMemFile(t, mem, "/log/"+idx[0], fn(bytes.Clone(b), other))

			l, _, err := Open(Options{Dir: "/log", VolumeID: testVolume, FS: mem, SegmentSize: 64 << 10}, nil)
			require.NoError(t, err)
			requireSameRecords(t, recs, scanAll(t, l))
			l.waitIndexer()
			require.NoError(t, l.Close())
			require.Equal(t, b, readMemFile(t, mem, "/log/"+idx[0]), "the index was written again")
		})
	}
}

// Unfinished indexes, and indexes whose segment compaction removed, are
// removed by Open; RemoveThrough removes a segment's index with it.
func TestStrayIndexesAreRemoved(t *testing.T) {
	mem := NewMemFS()
	writeIndexedLog(t, mem, CodecNone, 200)
	idx := indexFiles(t, mem)
	seg := strings.TrimSuffix(idx[0], indexSuffix)
	writeMemFile(t, mem, "/log/"+seg+indexTmpSuffix, []byte("half"))
	writeMemFile(t, mem, "/log/00000000000fffff.seg"+indexSuffix, []byte("orphan"))

	l, _, err := Open(Options{Dir: "/log", VolumeID: testVolume, FS: mem, SegmentSize: 64 << 10}, nil)
	require.NoError(t, err)
	require.Equal(t, idx, indexFiles(t, mem))
	first := l.Segments()[0]
	_, err = l.RemoveThrough(first.LastLSN)
	require.NoError(t, err)
	require.Equal(t, idx[1:], indexFiles(t, mem))
	require.NoError(t, l.Close())
}

func readMemFile(t *testing.T, fs FS, path string) []byte {
	t.Helper()
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	n, err := f.Size()
	require.NoError(t, err)
	b := make([]byte, n)
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

func writeMemFile(t *testing.T, fs FS, path string, b []byte) {
	t.Helper()
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	require.NoError(t, err)
	_, err = f.WriteAt(b, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// With an index, Open does not reread a sealed segment's records, so a
// byte that rotted in one after it was indexed is not seen by Open (reads
// return what is there) but is by Verify, which never uses indexes. A bad
// index, in turn, sends Open back to the segment, which it then checks.
func TestIndexedCorruption(t *testing.T) {
	mem := NewMemFS()
	writeIndexedLog(t, mem, CodecNone, 200)
	idx := indexFiles(t, mem)
	require.NotEmpty(t, idx)
	seg := strings.TrimSuffix(idx[0], indexSuffix)
	b := readMemFile(t, mem, "/log/"+seg)
	b[segHeaderLen+recordHeaderLen+3] ^= 0x10 // inside the first record
	writeMemFile(t, mem, "/log/"+seg, b)

	opts := Options{Dir: "/log", VolumeID: testVolume, FS: mem, SegmentSize: 64 << 10}
	l, _, err := Open(opts, nil)
	require.NoError(t, err, "Open trusts the index of a sealed segment")
	l.waitIndexer()
	require.NoError(t, l.Close())
	_, err = Verify("/log", mem)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "segment "+seg)

	require.NoError(t, mem.Remove("/log/"+idx[0]))
	_, _, err = Open(opts, nil)
	require.ErrorIs(t, err, ErrCorrupt, "without its index the segment is scanned and the flip found")
}

// A log that Open refuses is left as it was found: the index of a missing
// middle segment is not cleaned up as a stray before the refusal.
func TestRefusedOpenLeavesIndexes(t *testing.T) {
	mem := NewMemFS()
	writeIndexedLog(t, mem, CodecNone, 300)
	idx := indexFiles(t, mem)
	require.GreaterOrEqual(t, len(idx), 3)
	require.NoError(t, mem.Remove("/log/"+strings.TrimSuffix(idx[1], indexSuffix)))
	_, _, err := Open(Options{Dir: "/log", VolumeID: testVolume, FS: mem, SegmentSize: 64 << 10}, nil)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Equal(t, idx, indexFiles(t, mem))
}

// VerifySealed finds what an open from indexes does not read: a record
// that rotted in a sealed segment. A clean log verifies.
func TestVerifySealedFindsRot(t *testing.T) {
	mem := NewMemFS()
	writeIndexedLog(t, mem, CodecNone, 200)
	opts := Options{Dir: "/log", VolumeID: testVolume, FS: mem, SegmentSize: 64 << 10}
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	require.NoError(t, l.VerifySealed(nil, nil))
	l.waitIndexer()
	require.NoError(t, l.Close())

	seg := strings.TrimSuffix(indexFiles(t, mem)[1], indexSuffix)
	b := readMemFile(t, mem, "/log/"+seg)
	b[len(b)/2] ^= 0x08
	writeMemFile(t, mem, "/log/"+seg, b)
	l, _, err = Open(opts, nil)
	require.NoError(t, err, "open trusts the index")
	defer l.Close()
	err = l.VerifySealed(nil, nil)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "segment "+seg)
	stop := make(chan struct{})
	close(stop)
	require.NoError(t, l.VerifySealed(stop, nil), "stopped before it read anything")

	// A plan that skips the rotted segment reads every other sealed one,
	// finds nothing, and is told of each segment it read with its size.
	sealed := len(indexFiles(t, mem))
	checked := map[string]int64{}
	plan := &ScrubPlan{
		Skip:    func(name string, size int64) bool { return name == seg },
		Checked: func(name string, size int64) { checked[name] = size },
	}
	require.NoError(t, l.VerifySealed(nil, plan))
	require.NotContains(t, checked, seg)
	require.Len(t, checked, sealed-1)
	for name, size := range checked {
		require.Equal(t, int64(len(readMemFile(t, mem, "/log/"+name))), size, name)
	}
}
