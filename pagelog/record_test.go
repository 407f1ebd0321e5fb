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

// goldenRecord is the record pinned in testdata/record-v1.hex.
func goldenRecord() []byte {
	h := recordHeader{lsn: 7, time: 1_800_000_000_123_456_789, typ: 3}
	return encodeRecord(nil, h, []byte("meta"), []byte("hello, page"))
}

// goldenSegHeader is the segment header pinned in
// testdata/segment-header-v1.hex.
func goldenSegHeader() []byte {
	return encodeSegHeader(segHeader{volume: testVolume, first: 7, created: 1_800_000_000_000_000_000})
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
		{"segment-header-v1.hex", goldenSegHeader()},
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

	sh, err := decodeSegHeader(goldenSegHeader(), "x")
	require.NoError(t, err)
	require.Equal(t, segHeader{volume: testVolume, first: 7, created: 1_800_000_000_000_000_000}, sh)
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
	good := goldenSegHeader()
	for _, tc := range []struct {
		name   string
		edit   func(b []byte) []byte
		target error
		why    string
	}{
		{"short", func(b []byte) []byte { return b[:63] }, ErrCorrupt, "incomplete"},
		{"magic", func(b []byte) []byte { b[0] = 'x'; return b }, ErrCorrupt, "magic"},
		{"version", func(b []byte) []byte { b[8] = 2; return b }, ErrVersion, "version 2"},
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

// goldenLog writes the small log pinned in testdata/v1 into a MemFS.
func goldenLog(t *testing.T) (*MemFS, []testRecord) {
	t.Helper()
	mem := NewMemFS()
	clock := stepClock(time.Unix(1_800_000_000, 0), time.Millisecond)
	l, _, err := Open(Options{Dir: "/log", VolumeID: testVolume, FS: mem, Now: clock}, nil)
	require.NoError(t, err)
	var recs []testRecord
	for i, r := range []struct{ meta, data string }{
		{"", ""},
		{"create /a", ""},
		{"write /a 0", "the first page"},
		{"sync", "x"},
	} {
		typ := Type(i + 1)
		n, tm, loc, err := l.Append(typ, []byte(r.meta), []byte(r.data))
		require.NoError(t, err)
		recs = append(recs, testRecord{lsn: n, time: tm, typ: typ, meta: []byte(r.meta), data: []byte(r.data), loc: loc})
	}
	require.NoError(t, l.Close())
	return mem, recs
}

// TestGoldenSegment pins a whole segment file as Append writes it, and
// checks that the pinned file opens and reads back: logs written by this
// version must stay readable.
func TestGoldenSegment(t *testing.T) {
	mem, recs := goldenLog(t)
	name := segmentName(1)
	got, err := mem.ReadFile("/log/" + name)
	require.NoError(t, err)
	path := filepath.Join("testdata", "v1", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, hex.Dump(want), hex.Dump(got), "Append no longer writes %s", path)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), want, 0o644))
	l, rep, err := Open(Options{Dir: dir, VolumeID: testVolume, ReadOnly: true}, nil)
	require.NoError(t, err)
	defer l.Close()
	require.EqualValues(t, len(recs), rep.Head)
	requireSameRecords(t, recs, scanAll(t, l))
}
