// Record format
//
// A segment file is a segment header (see segment.go) followed by records.
// Every record starts at an offset that is a multiple of 8, so that its
// fixed header never straddles a torn sector boundary in a way that looks
// like a shorter valid record, and so that recovery can search for the next
// valid record in 8-byte steps. All integers are little-endian.
//
//	offset size field
//	     0    4 crc       CRC-32C (Castagnoli) of bytes 4 .. 40+metaLen+gap+storedLen,
//	                      that is the rest of the header, the meta part, the
//	                      gap and the stored data part. The padding is not
//	                      covered.
//	     4    4 metaLen   length of the meta part, at most MaxMetaLen
//	     8    4 storedLen length of the data part as stored (maybe compressed)
//	    12    4 rawLen    length of the data part after decompression, at most
//	                      MaxDataLen; equal to storedLen for CodecNone
//	    16    8 lsn       the record's LSN, never 0
//	    24    8 time      unix nanoseconds, never less than the previous record's
//	    32    1 type      record type, never TypeInvalid (0); not interpreted here
//	    33    1 codec     CodecNone, CodecS2 or CodecZstd
//	    34    2 gap       zero bytes between the meta and the data part, less
//	                      than dataAlign; 0 for a compressed data part.
//	                      Version 2 only: reserved (zero) in version 1
//	    36    4 reserved  zero
//	    40    m meta      metaLen bytes, stored as given
//	  40+m    g gap       gap zero bytes
//	40+m+g    s data      storedLen bytes
//	 ...+s    p padding   0..7 zero bytes, up to the next multiple of 8
//
// The gap puts an uncompressed data part on a 4 KiB boundary of the
// segment file where that costs little (gapFor): a page read from the
// record then costs one page of the segment, not the two it straddles
// (cold random reads read 3.3 bytes from the disk for every byte asked
// before, measured). Readers never compute it; they take it from the
// header, so the rule for choosing it may change without a new version.
//
// A compressed data part is a single s2 block (CodecS2) or a single zstd
// frame (CodecZstd). Data is only stored compressed when that makes it
// strictly shorter, so storedLen < rawLen for a compressed record.
//
// A record whose header cannot be read, whose lengths run past the end of
// the file, whose CRC does not match or whose gap or padding is not zero
// is bad. A bad record at the tail of the last segment with no valid
// record after it is a torn write and is cut by recovery; anywhere else it
// is corruption.

package pagelog

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/rewindfs/rewindfs/lsn"
)

// These constants are part of the on-disk format and must not be changed.
const (
	recordHeaderLen = 40
	recordAlign     = 8
	// dataAlign is what a gap aligns a data part to; a gap is always
	// less than it.
	dataAlign = 4096

	// MaxMetaLen is the largest meta part a record may have.
	MaxMetaLen = 1 << 20
	// MaxDataLen is the largest (uncompressed) data part a record may have.
	MaxDataLen = 16 << 20
)

// Type is the record type. pagelog stores it and gives it back; only
// TypeInvalid has a meaning here: it is never valid.
type Type uint8

// TypeInvalid is the zero Type. Append refuses it, and a record carrying it
// is malformed, which makes all-zero bytes never look like a record.
const TypeInvalid Type = 0

// crcTable is the Castagnoli table used for every checksum of the format.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// recordHeader is the decoded fixed header of a record.
type recordHeader struct {
	crc       uint32
	metaLen   uint32
	storedLen uint32
	rawLen    uint32
	lsn       lsn.LSN
	time      int64
	typ       Type
	codec     Codec
	gap       uint16
}

// dataAt returns the offset of the data part from the record's start.
func (h *recordHeader) dataAt() int64 {
	return recordHeaderLen + int64(h.metaLen) + int64(h.gap)
}

// recordLen returns the length of the whole record on disk, padding
// included.
func (h *recordHeader) recordLen() int64 {
	return alignUp(h.dataAt() + int64(h.storedLen))
}

// gapFor returns the gap that puts the data part of a record at offset off
// of a segment on a dataAlign boundary, or 0 where that is not worth its
// bytes: a compressed part (read whole, never by the page), or one for
// which the gap would be more than a sixteenth of the data. A 1 MiB write
// is then always aligned (at most 0.4% more log), a 4 KiB one only when
// its header ends within 256 bytes of a boundary.
func gapFor(off int64, metaLen int, codec Codec, storedLen int) uint16 {
	if codec != CodecNone {
		return 0
	}
	g := (dataAlign - (off+recordHeaderLen+int64(metaLen))%dataAlign) % dataAlign
	if g > int64(storedLen)/16 {
		return 0
	}
	return uint16(g)
}

func alignUp(n int64) int64 { return (n + recordAlign - 1) &^ (recordAlign - 1) }

// putHeader writes h into b[:recordHeaderLen], with a zero CRC field; the
// CRC is filled in by sealRecord once meta and data follow the header.
func putHeader(b []byte, h *recordHeader) {
	_ = b[recordHeaderLen-1]
	binary.LittleEndian.PutUint32(b[0:], 0)
	binary.LittleEndian.PutUint32(b[4:], h.metaLen)
	binary.LittleEndian.PutUint32(b[8:], h.storedLen)
	binary.LittleEndian.PutUint32(b[12:], h.rawLen)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.lsn))
	binary.LittleEndian.PutUint64(b[24:], uint64(h.time))
	b[32] = byte(h.typ)
	b[33] = byte(h.codec)
	binary.LittleEndian.PutUint16(b[34:], h.gap)
	clear(b[36:recordHeaderLen])
}

// sealRecord computes the CRC of an encoded record (header, meta, gap and
// stored data, without padding) and writes it into the CRC field.
func sealRecord(rec []byte) {
	binary.LittleEndian.PutUint32(rec[0:], crc32.Checksum(rec[4:], crcTable))
}

// encodeRecord appends the complete record (padding included) to dst and
// returns it. The lengths in h are set from meta and stored (rawLen too,
// for CodecNone). It is used by tests; Append encodes in place into its
// scratch buffer to avoid copies.
func encodeRecord(dst []byte, h recordHeader, meta, stored []byte) []byte {
	h.metaLen = uint32(len(meta))
	h.storedLen = uint32(len(stored))
	if h.codec == CodecNone {
		h.rawLen = h.storedLen
	}
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderLen)...)
	putHeader(dst[start:], &h)
	dst = append(dst, meta...)
	dst = append(dst, make([]byte, h.gap)...)
	dst = append(dst, stored...)
	sealRecord(dst[start:])
	for (len(dst)-start)%recordAlign != 0 {
		dst = append(dst, 0)
	}
	return dst
}

// decodeHeader parses and sanity-checks a fixed record header. It does not
// check the CRC, which needs the rest of the record. The error says what is
// wrong; the caller adds where.
func decodeHeader(b []byte) (recordHeader, string) {
	if len(b) < recordHeaderLen {
		return recordHeader{}, "incomplete header"
	}
	h := recordHeader{
		crc:       binary.LittleEndian.Uint32(b[0:]),
		metaLen:   binary.LittleEndian.Uint32(b[4:]),
		storedLen: binary.LittleEndian.Uint32(b[8:]),
		rawLen:    binary.LittleEndian.Uint32(b[12:]),
		lsn:       lsn.LSN(binary.LittleEndian.Uint64(b[16:])),
		time:      int64(binary.LittleEndian.Uint64(b[24:])),
		typ:       Type(b[32]),
		codec:     Codec(b[33]),
		gap:       binary.LittleEndian.Uint16(b[34:]),
	}
	switch {
	case h.typ == TypeInvalid:
		return h, "invalid record type"
	case h.lsn == 0:
		return h, "zero lsn"
	case !isZero(b[36:recordHeaderLen]):
		return h, "reserved header bytes not zero"
	case h.gap >= dataAlign:
		return h, "gap too large"
	case h.metaLen > MaxMetaLen:
		return h, "meta length too large"
	case h.rawLen > MaxDataLen:
		return h, "data length too large"
	}
	switch h.codec {
	case CodecNone:
		if h.storedLen != h.rawLen {
			return h, "stored and raw length differ without compression"
		}
	case CodecS2, CodecZstd:
		if h.storedLen == 0 || h.storedLen >= h.rawLen {
			return h, "compressed length not below raw length"
		}
		if h.gap != 0 {
			return h, "gap before a compressed data part"
		}
	default:
		return h, "unknown codec"
	}
	return h, ""
}

// decodeRecord checks the record that starts at b[0]. It returns the
// header, the meta part and the stored data part (sub-slices of b), the
// record's length on disk, and a reason if the record is bad. A record that
// runs past the end of b is bad with the reason "record runs past end".
// decodeRecord never allocates and never reads outside b.
func decodeRecord(b []byte) (h recordHeader, meta, stored []byte, n int64, why string) {
	h, why = decodeHeader(b)
	if why != "" {
		return h, nil, nil, 0, why
	}
	n = h.recordLen()
	if n > int64(len(b)) {
		return h, nil, nil, 0, "record runs past end"
	}
	at := h.dataAt()
	end := at + int64(h.storedLen)
	if crc32.Checksum(b[4:end], crcTable) != h.crc {
		return h, nil, nil, 0, "checksum mismatch"
	}
	if !isZero(b[end:n]) {
		return h, nil, nil, 0, "padding not zero"
	}
	metaEnd := recordHeaderLen + int64(h.metaLen)
	if !isZero(b[metaEnd:at]) {
		return h, nil, nil, 0, "gap not zero"
	}
	meta = b[recordHeaderLen:metaEnd]
	stored = b[at:end]
	return h, meta, stored, n, ""
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
