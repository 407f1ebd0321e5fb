package pagelog

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Codec says how the data part of a record is stored. Its value is written
// in every record header, so the numbers are part of the on-disk format and
// must not be changed.
type Codec uint8

// The codecs. Only the data part is ever compressed; meta is stored as is.
const (
	CodecNone Codec = 0 // stored as given
	CodecS2   Codec = 1 // one s2 block (github.com/klauspost/compress/s2)
	CodecZstd Codec = 2 // one zstd frame
)

// ParseCodec parses the names String returns: "none", "s2" and "zstd".
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "none":
		return CodecNone, nil
	case "s2":
		return CodecS2, nil
	case "zstd":
		return CodecZstd, nil
	}
	return 0, fmt.Errorf("pagelog: unknown codec %q (want none, s2 or zstd)", s)
}

// String returns the codec's name.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecS2:
		return "s2"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// The zstd encoder and decoder are made once and shared: both are safe for
// concurrent use with EncodeAll and DecodeAll, and both are costly to make.
var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
)

func initZstd() {
	zstdOnce.Do(func() {
		var err error
		zstdEnc, err = zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderCRC(false), // the record CRC covers the stored bytes
			// A single-segment frame always declares its content size,
			// which ReadData needs: a Location does not carry it.
			zstd.WithSingleSegment(true))
		if err != nil {
			panic("pagelog: zstd encoder: " + err.Error())
		}
		zstdDec, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxDataLen),
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			panic("pagelog: zstd decoder: " + err.Error())
		}
	})
}

// maxCompressedLen returns how much room compress may need for n bytes.
func maxCompressedLen(c Codec, n int) int {
	switch c {
	case CodecS2:
		return s2.MaxEncodedLen(n)
	case CodecZstd:
		initZstd()
		return zstdEnc.MaxEncodedSize(n)
	}
	return n
}

// compress compresses src with c into dst[:0] and returns the result. dst
// must have at least maxCompressedLen(c, len(src)) bytes of capacity, so
// that nothing is allocated.
func compress(c Codec, dst, src []byte) []byte {
	switch c {
	case CodecS2:
		return s2.Encode(dst[:cap(dst)], src)
	case CodecZstd:
		initZstd()
		return zstdEnc.EncodeAll(src, dst[:0])
	}
	return append(dst[:0], src...)
}

// decompress decodes stored, compressed with c, into a new buffer. The
// length of the result is the one the compressed stream declares, which
// must not exceed limit; nothing larger is ever allocated or produced,
// whatever the input claims.
func decompress(c Codec, stored []byte, limit int) ([]byte, error) {
	switch c {
	case CodecS2:
		n, err := s2.DecodedLen(stored)
		if err != nil {
			return nil, err
		}
		if n > limit {
			return nil, fmt.Errorf("s2 block declares %d bytes, more than %d", n, limit)
		}
		return s2.Decode(make([]byte, n), stored)
	case CodecZstd:
		var zh zstd.Header
		if err := zh.Decode(stored); err != nil {
			return nil, err
		}
		if !zh.HasFCS || zh.FrameContentSize > uint64(limit) {
			return nil, fmt.Errorf("zstd frame declares no size or more than %d bytes", limit)
		}
		initZstd()
		want := int(zh.FrameContentSize)
		out, err := zstdDec.DecodeAll(stored, make([]byte, 0, want))
		if err != nil {
			return nil, err
		}
		if len(out) != want {
			return nil, fmt.Errorf("zstd frame decodes to %d bytes, declares %d", len(out), want)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown codec %d", c)
}
