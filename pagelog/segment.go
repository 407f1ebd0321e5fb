// Segment files
//
// The log is a sequence of segment files in one directory. A segment is
// named after the LSN of its first record: 16 lowercase hex digits and the
// suffix ".seg", for example 0000000000000001.seg, so that the names sort
// in LSN order. Segments are created under the name plus ".tmp", filled
// with their header, synced and only then renamed; a ".tmp" file is left
// over from a crash and is removed by Open.
//
// A segment starts with a 64-byte header. All integers are little-endian.
//
//	offset size field
//	     0    8 magic    "RWFSPLOG"
//	     8    4 version  format version: 2, or 1 for a segment written before
//	                     records had a gap (record.go); both are read, and
//	                     records in a version 1 segment never have one
//	    12    4 reserved zero
//	    16   16 volume   volume ID; a segment of another volume is refused
//	    32    8 first    LSN of the first record the segment holds (also its name)
//	    40    8 created  creation time, unix nanoseconds
//	    48   12 reserved zero
//	    60    4 crc      CRC-32C (Castagnoli) of bytes 0..60
//
// Records (see record.go) follow from offset 64. The first record of a
// segment has LSN first; LSNs are contiguous across the whole log, so the
// first LSN of a segment is the last LSN of the previous one plus one.

package pagelog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/rewindfs/rewindfs/lsn"
)

// These constants are part of the on-disk format and must not be changed.
const (
	segHeaderLen  = 64
	segMagic      = "RWFSPLOG"
	segVersion    = 2
	segVersionOld = 1 // no gaps in its records; still read and appended to
	segSuffix     = ".seg"
	segTempSuffix = ".seg.tmp"
	segNameDigits = 16
)

// segHeader is the decoded segment header.
type segHeader struct {
	version uint32
	volume  [16]byte
	first   lsn.LSN
	created int64
}

// encodeSegHeader returns the 64 bytes of a segment header.
func encodeSegHeader(h segHeader) []byte {
	b := make([]byte, segHeaderLen)
	copy(b[0:8], segMagic)
	v := h.version
	if v == 0 {
		v = segVersion
	}
	binary.LittleEndian.PutUint32(b[8:], v)
	copy(b[16:32], h.volume[:])
	binary.LittleEndian.PutUint64(b[32:], uint64(h.first))
	binary.LittleEndian.PutUint64(b[40:], uint64(h.created))
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], crcTable))
	return b
}

// decodeSegHeader checks a segment header. The magic is checked first, the
// version next (a newer version may lay out the rest differently), then the
// CRC and the reserved bytes. The returned error wraps ErrCorrupt or
// ErrVersion; the volume is checked by the caller.
func decodeSegHeader(b []byte, name string) (segHeader, error) {
	if len(b) < segHeaderLen {
		return segHeader{}, corruptAt(ErrCorrupt, name, 0, 0, fmt.Sprintf("segment header incomplete (%d bytes)", len(b)))
	}
	if string(b[0:8]) != segMagic {
		return segHeader{}, corruptAt(ErrCorrupt, name, 0, 0, "bad segment magic")
	}
	v := binary.LittleEndian.Uint32(b[8:])
	if v != segVersion && v != segVersionOld {
		return segHeader{}, fmt.Errorf("%w: segment %s: version %d, this code knows versions %d and %d", ErrVersion, name, v, segVersionOld, segVersion)
	}
	if crc32.Checksum(b[:60], crcTable) != binary.LittleEndian.Uint32(b[60:]) {
		return segHeader{}, corruptAt(ErrCorrupt, name, 0, 0, "segment header checksum mismatch")
	}
	if !isZero(b[12:16]) || !isZero(b[48:60]) {
		return segHeader{}, corruptAt(ErrCorrupt, name, 0, 0, "segment header reserved bytes not zero")
	}
	h := segHeader{version: v}
	copy(h.volume[:], b[16:32])
	h.first = lsn.LSN(binary.LittleEndian.Uint64(b[32:]))
	h.created = int64(binary.LittleEndian.Uint64(b[40:]))
	if h.first == 0 {
		return segHeader{}, corruptAt(ErrCorrupt, name, 0, 0, "segment header first lsn is zero")
	}
	return h, nil
}

// segmentName returns the file name of the segment whose first record has
// LSN first.
func segmentName(first lsn.LSN) string {
	return fmt.Sprintf("%016x%s", uint64(first), segSuffix)
}

// parseSegmentName returns the first LSN encoded in a segment file name.
// It accepts exactly the names segmentName makes: 16 lowercase hex digits,
// not all zero, and ".seg".
func parseSegmentName(name string) (lsn.LSN, bool) {
	hex, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(hex) != segNameDigits {
		return 0, false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || v == 0 {
		return 0, false
	}
	return lsn.LSN(v), true
}

// cutName returns the name of the file that keeps the bytes recovery cut
// from the tail of segment seg at offset off.
func cutName(seg string, off int64) string {
	return fmt.Sprintf("cut-%s-%d", seg, off)
}
