package pagelog

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"github.com/stretchr/testify/require"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenRecord is the record pinned in testdata/record-v1.hex: a record
// with no gap, the same bytes in both versions.
func goldenRecord() []byte {
	h := recordHeader{lsn: 7, time: 1_800_000_000_123_456_789, typ: 3}
	return encodeRecord(nil, h, []byte("meta"), []byte("hello, page"))
}

// goldenGapRecord is the record pinned in testdata/record-v2.hex: the same
// with a gap of 12 bytes before its data part.
func goldenGapRecord() []byte {
	h := recordHeader{lsn: 7, time: 1_800_000_000_123_456_789, typ: 3, gap: 12}
	return encodeRecord(nil, h, []byte("meta"), []byte("hello, page"))
}

// goldenSegHeader is the segment header of the given version pinned in
// testdata/segment-header-v<version>.hex.
func goldenSegHeader(version uint32) []byte {
	return encodeSegHeader(segHeader{version: version, volume: testVolume, first: 7, created: 1_800_000_000_000_000_000})
}

// TestGolden pins the exact bytes of the format: if it fails, the format
// changed, and old logs would no longer open. Run with -update only for a
// deliberate change, together with a new format version.
func TestGolden(t *testing.T) {
	for _, g := range []struct {
		file string
		b    []byte
	}{
		{"record-v1.hex", goldenRecord()},
		{"record-v2.hex", goldenGapRecord()},
		{"segment-header-v1.hex", goldenSegHeader(1)},
		{"segment-header-v2.hex", goldenSegHeader(2)},
	} {
		path := filepath.Join("testdata", g.file)
		dump := hex.Dump(g.b)
		if *update {
			require.NoError(t, os.WriteFile(path, []byte(dump), 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, string(want), dump, "encoding differs from %s", path)
	}
}

// TestGoldenFields decodes the golden record field by field, as the
// format comment in record.go draws it.
func TestGoldenFields(t *testing.T) {
	b := goldenRecord()
	require.Equal(t, 40+4+11+1, len(b))
	le := binary.LittleEndian
	require.Equal(t, uint32(4), le.Uint32(b[4:]))
	require.Equal(t, uint32(11), le.Uint32(b[8:]))
	require.Equal(t, uint32(11), le.Uint32(b[12:]))
	require.Equal(t, uint64(7), le.Uint64(b[16:]))
	require.Equal(t, uint64(1_800_000_000_123_456_789), le.Uint64(b[24:]))
	require.Equal(t, byte(3), b[32])
	require.Equal(t, byte(CodecNone), b[33])
	require.Equal(t, "meta", string(b[40:44]))
	require.Equal(t, "hello, page", string(b[44:55]))
	require.Equal(t, byte(0), b[55])

	h, meta, stored, n, why := decodeRecord(b)
	require.Equal(t, "", why)
	require.Equal(t, int64(len(b)), n)
	require.Equal(t, lsn.LSN(7), h.lsn)
	require.Equal(t, "meta", string(meta))
	require.Equal(t, "hello, page", string(stored))

	for _, v := range []uint32{1, 2} {
		sh, err := decodeSegHeader(goldenSegHeader(v), "x")
		require.NoError(t, err)
		require.Equal(t, segHeader{version: v, volume: testVolume, first: 7, created: 1_800_000_000_000_000_000}, sh)
	}
}

// TestGoldenGapFields decodes the record with a gap: the gap's length in
// bytes 34-35, zeros between the meta and the data part, and the CRC
// covering them.
func TestGoldenGapFields(t *testing.T) {
	b := goldenGapRecord()
	require.Equal(t, 40+4+12+11+5, len(b))
	require.Equal(t, uint16(12), binary.LittleEndian.Uint16(b[34:]))
	require.Equal(t, "meta", string(b[40:44]))
	require.Equal(t, make([]byte, 12), b[44:56])
	require.Equal(t, "hello, page", string(b[56:67]))

	h, meta, stored, n, why := decodeRecord(b)
	require.Equal(t, "", why)
	require.Equal(t, int64(len(b)), n)
	require.Equal(t, uint16(12), h.gap)
	require.Equal(t, int64(56), h.dataAt())
	require.Equal(t, "meta", string(meta))
	require.Equal(t, "hello, page", string(stored))

	reseal := func(f func(b []byte)) []byte {
		c := bytes.Clone(b)
		f(c)
		sealRecord(c[:67])
		return c
	}
	for _, tc := range []struct {
		name string
		b    []byte
		why  string
	}{
		{"gap byte", reseal(func(c []byte) { c[50] = 1 }), "gap not zero"},
		{"gap unsealed", func() []byte { c := bytes.Clone(b); c[50] = 1; return c }(), "checksum mismatch"},
		{"gap too large", reseal(func(c []byte) { binary.LittleEndian.PutUint16(c[34:], dataAlign) }), "gap too large"},
		{"gap on compressed", reseal(func(c []byte) { c[33] = byte(CodecS2); binary.LittleEndian.PutUint32(c[12:], 12) }), "gap before a compressed data part"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, _, why := decodeRecord(tc.b)
			require.Equal(t, tc.why, why)
		})
	}
}

// TestGapFor checks the rule for choosing a gap: the data part lands on a
// 4 KiB boundary when the gap costs at most a sixteenth of it, and never
// for a compressed one.
func TestGapFor(t *testing.T) {
	for _, tc := range []struct {
		off, meta, stored int
		codec             Codec
		gap               uint16
	}{
		{64, 24, 1 << 20, CodecNone, 4096 - 64 - 40 - 24},
		{4096, 24, 1 << 20, CodecNone, 4096 - 40 - 24},
		{4096 - 64, 24, 4096, CodecNone, 0},     // already aligned
		{4096 - 72, 24, 4096, CodecNone, 8},     // 8 bytes: within a sixteenth
		{64, 24, 4096, CodecNone, 0},            // 3968 bytes for 4 KiB: not worth it
		{64, 24, 16 * 3968, CodecNone, 3968},    // exactly a sixteenth
		{64, 24, 16*3968 - 1, CodecNone, 0},     // just over
		{64, 24, 1 << 20, CodecS2, 0},           // compressed
		{8192 - 104, 64, 1 << 20, CodecNone, 0}, // aligned
	} {
		got := gapFor(int64(tc.off), tc.meta, tc.codec, tc.stored)
		require.Equal(t, tc.gap, got, "%+v", tc)
		if got > 0 {
			require.Zero(t, (tc.off+40+tc.meta+int(got))%dataAlign, "%+v", tc)
		}
	}
}

func TestDecodeRecordBad(t *testing.T) {
	good := goldenRecord()
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	reseal := func(f func(b []byte)) []byte {
		return edit(func(b []byte) { f(b); sealRecord(b[:55]) })
	}
	for _, tc := range []struct {
		name string
		b    []byte
		why  string
	}{
		{"empty", nil, "incomplete header"},
		{"short header", good[:39], "incomplete header"},
		{"short record", good[:50], "record runs past end"},
		{"no padding", good[:55], "record runs past end"},
		{"zeros", make([]byte, 64), "invalid record type"},
		{"crc", edit(func(b []byte) { b[0] ^= 1 }), "checksum mismatch"},
		{"data bit", edit(func(b []byte) { b[50] ^= 0x10 }), "checksum mismatch"},
		{"padding", edit(func(b []byte) { b[55] = 1 }), "padding not zero"},
		{"zero lsn", reseal(func(b []byte) { clear(b[16:24]) }), "zero lsn"},
		{"reserved", reseal(func(b []byte) { b[36] = 1 }), "reserved header bytes not zero"},
		{"codec", reseal(func(b []byte) { b[33] = 9 }), "unknown codec"},
		{"raw differs", reseal(func(b []byte) { b[12] = 12 }), "stored and raw length differ without compression"},
		{"compressed not smaller", reseal(func(b []byte) { b[33] = byte(CodecS2) }), "compressed length not below raw length"},
		{"meta too long", reseal(func(b []byte) { binary.LittleEndian.PutUint32(b[4:], MaxMetaLen+1) }), "meta length too large"},
		{"data too long", reseal(func(b []byte) {
			binary.LittleEndian.PutUint32(b[8:], MaxDataLen+1)
			binary.LittleEndian.PutUint32(b[12:], MaxDataLen+1)
		}), "data length too large"},
		{"huge lengths", reseal(func(b []byte) {
			binary.LittleEndian.PutUint32(b[4:], MaxMetaLen)
			binary.LittleEndian.PutUint32(b[8:], MaxDataLen)
			binary.LittleEndian.PutUint32(b[12:], MaxDataLen)
		}), "record runs past end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, _, why := decodeRecord(tc.b)
			require.Equal(t, tc.why, why)
		})
	}
}

func TestSegmentNames(t *testing.T) {
	require.Equal(t, "0000000000000001.seg", segmentName(1))
	require.Equal(t, "00000000deadbeef.seg", segmentName(0xdeadbeef))
	require.Equal(t, "ffffffffffffffff.seg", segmentName(^lsn.LSN(0)))
	for _, tc := range []struct {
		name string
		lsn  lsn.LSN
		ok   bool
	}{
		{"0000000000000001.seg", 1, true},
		{"00000000000003e8.seg", 1000, true},
		{"ffffffffffffffff.seg", ^lsn.LSN(0), true},
		{"0000000000000000.seg", 0, false},        // LSN 0 holds no record
		{"00000000000003E8.seg", 0, false},        // upper case
		{"3e8.seg", 0, false},                     // not 16 digits
		{"00000000000000001.seg", 0, false},       // 17 digits
		{"000000000000000g.seg", 0, false},        // not hex
		{"+000000000000001.seg", 0, false},        // sign
		{"0000000000000001.seg.tmp", 0, false},    // temporary
		{"0000000000000001.SEG", 0, false},        // suffix case
		{"0000000000000001", 0, false},            // no suffix
		{"cut-0000000000000001.seg-64", 0, false}, // a cut copy
		{"", 0, false},
	} {
		got, ok := parseSegmentName(tc.name)
		require.Equal(t, tc.ok, ok, "%q", tc.name)
		require.Equal(t, tc.lsn, got, "%q", tc.name)
		if ok {
			require.Equal(t, tc.name, segmentName(got))
		}
	}
}

func TestSegmentHeaderBad(t *testing.T) {
	good := goldenSegHeader(segVersion)
	for _, tc := range []struct {
		name   string
		edit   func(b []byte) []byte
		target error
		why    string
	}{
		{"short", func(b []byte) []byte { return b[:63] }, ErrCorrupt, "incomplete"},
		{"magic", func(b []byte) []byte { b[0] = 'x'; return b }, ErrCorrupt, "magic"},
		{"version", func(b []byte) []byte { b[8] = 3; return b }, ErrVersion, "version 3"},
		{"version 0", func(b []byte) []byte { b[8] = 0; return b }, ErrVersion, "version 0"},
		{"crc", func(b []byte) []byte { b[20] ^= 1; return b }, ErrCorrupt, "checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeSegHeader(tc.edit(bytes.Clone(good)), "0000000000000007.seg")
			require.ErrorIs(t, err, tc.target)
			require.True(t, strings.Contains(err.Error(), tc.why), "%v", err)
			require.True(t, strings.Contains(err.Error(), "0000000000000007.seg"), "%v", err)
		})
	}
}

func TestParseCodec(t *testing.T) {
	for _, c := range []Codec{CodecNone, CodecS2, CodecZstd} {
		got, err := ParseCodec(c.String())
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
	_, err := ParseCodec("gzip")
	require.Error(t, err)
	require.Equal(t, "codec(7)", Codec(7).String())
}

// goldenRecords are the records of the small logs pinned in testdata/v1
// and testdata/v2; the second adds a 64 KiB write, whose data part lands
// after a gap.
var goldenRecords = []struct{ meta, data string }{
	{"", ""},
	{"create /a", ""},
	{"write /a 0", "the first page"},
	{"sync", "x"},
	{"write /a 4096", strings.Repeat("0123456789abcdef", 4096)},
}

// goldenLog writes the first n goldenRecords into a log in a MemFS.
func goldenLog(t *testing.T, n int) (*MemFS, []testRecord) {
	t.Helper()
	mem := NewMemFS()
	clock := stepClock(time.Unix(1_800_000_000, 0), time.Millisecond)
	l, _, err := Open(Options{Dir: "/log", VolumeID: testVolume, FS: mem, Now: clock}, nil)
	require.NoError(t, err)
	var recs []testRecord
	for i, r := range goldenRecords[:n] {
		typ := Type(i + 1)
		n, tm, loc, err := l.Append(typ, []byte(r.meta), []byte(r.data))
		require.NoError(t, err)
		recs = append(recs, testRecord{lsn: n, time: tm, typ: typ, meta: []byte(r.meta), data: []byte(r.data), loc: loc})
	}
	require.NoError(t, l.Close())
	return mem, recs
}

// openGolden opens the segment file pinned in testdata/<dir> read-only
// and checks that it holds recs.
func openGolden(t *testing.T, dir string, recs []testRecord) {
	t.Helper()
	name := segmentName(1)
	want, err := os.ReadFile(filepath.Join("testdata", dir, name))
	require.NoError(t, err)
	tmp := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(tmp, name), want, 0o644))
	l, rep, err := Open(Options{Dir: tmp, VolumeID: testVolume, ReadOnly: true}, nil)
	require.NoError(t, err)
	defer l.Close()
	require.EqualValues(t, len(recs), rep.Head)
	requireSameRecords(t, recs, scanAll(t, l))
}

// TestGoldenSegment pins a whole segment file as Append writes it, and
// checks that the pinned file opens and reads back: logs written by this
// version must stay readable.
func TestGoldenSegment(t *testing.T) {
	mem, recs := goldenLog(t, len(goldenRecords))
	name := segmentName(1)
	got, err := mem.ReadFile("/log/" + name)
	require.NoError(t, err)
	path := filepath.Join("testdata", "v2", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, hex.Dump(want), hex.Dump(got), "Append no longer writes %s", path)

	big := recs[len(recs)-1].loc
	require.Zero(t, big.Off%dataAlign, "the 64 KiB write's data part is not page-aligned: %+v", big)
	require.Greater(t, big.Off, uint32(0x108+recordHeaderLen+len("write /a 4096")), "no gap before it")
	openGolden(t, "v2", recs)
}

// TestGoldenSegmentV1 opens the segment pinned in testdata/v1, written by
// the code before records had gaps, and appends to it: a version 1
// segment gets no gaps, so the code before could still read it.
func TestGoldenSegmentV1(t *testing.T) {
	_, recs := goldenLog(t, 4)
	openGolden(t, "v1", recs)

	dir := t.TempDir()
	name := segmentName(1)
	want, err := os.ReadFile(filepath.Join("testdata", "v1", name))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), want, 0o644))
	l, _, err := Open(Options{Dir: dir, VolumeID: testVolume}, nil)
	require.NoError(t, err)
	big := goldenRecords[4]
	_, _, loc, err := l.Append(5, []byte(big.meta), []byte(big.data))
	require.NoError(t, err)
	require.Equal(t, uint32(len(want)+recordHeaderLen+len(big.meta)), loc.Off, "a gap in a version 1 segment")
	require.NoError(t, l.Close())
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	require.Equal(t, uint32(segVersionOld), binary.LittleEndian.Uint32(b[8:]))
}
