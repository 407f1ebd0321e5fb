package pagelog

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder. It must
// never panic, never read outside its input and never allocate in
// proportion to a length field; a record it accepts must satisfy every
// invariant of the format, and its data part, if compressed, must either
// fail to decompress or decompress to at most the declared length.
//
// Random bytes almost never carry a matching CRC, so every input is also
// tried with its CRC fixed up, which lets the fuzzer reach the length
// checks and the decompressors behind them.
//
// The seed corpus in testdata/fuzz/FuzzDecodeRecord holds valid records of
// every codec and broken ones, so that go test runs them as a test.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(goldenRecord())
	f.Add(goldenGapRecord())
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
		if len(b) >= recordHeaderLen {
			end := recordHeaderLen + int64(binary.LittleEndian.Uint32(b[4:])) + int64(binary.LittleEndian.Uint16(b[34:])) + int64(binary.LittleEndian.Uint32(b[8:]))
			if end <= int64(len(b)) {
				sealed := bytes.Clone(b)
				sealRecord(sealed[:end])
				checkDecode(t, sealed)
			}
		}
	})
}

func checkDecode(t *testing.T, b []byte) {
	h, meta, stored, n, why := decodeRecord(b)
	if why != "" {
		if meta != nil || stored != nil || n != 0 {
			t.Fatalf("bad record (%s) returned parts", why)
		}
		return
	}
	switch {
	case n > int64(len(b)) || n%recordAlign != 0 || n < recordHeaderLen:
		t.Fatalf("record length %d for %d input bytes", n, len(b))
	case len(meta) != int(h.metaLen) || len(stored) != int(h.storedLen):
		t.Fatalf("parts of %d and %d bytes, header says %d and %d", len(meta), len(stored), h.metaLen, h.storedLen)
	case h.typ == TypeInvalid || h.lsn == 0 || h.rawLen > MaxDataLen || h.metaLen > MaxMetaLen:
		t.Fatalf("accepted a header that breaks the format: %+v", h)
	case h.codec == CodecNone && h.rawLen != h.storedLen:
		t.Fatalf("uncompressed record with raw length %d, stored %d", h.rawLen, h.storedLen)
	}
	if h.codec == CodecNone {
		return
	}
	raw, err := decompress(h.codec, stored, int(h.rawLen))
	if err == nil && len(raw) > int(h.rawLen) {
		t.Fatalf("decompressed %d bytes, limit %d", len(raw), h.rawLen)
	}
}
