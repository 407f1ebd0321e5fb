package pagelog

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// ReadData copies the data part of a record, from byte off of the
// uncompressed data on, into dst and returns the number of bytes copied.
// Reading past the end of the data part copies what there is and returns
// an error wrapping io.ErrUnexpectedEOF.
//
// Uncompressed data is read with one pread. Compressed data is read whole
// and decompressed; the last few decompressed records are cached, so that
// reading the pages of one record one by one decompresses it once.
func (l *Log) ReadData(loc Location, off int64, dst []byte) (int, error) {
	if l.isShut.Load() && l.closedNow() {
		return 0, ErrClosed
	}
	segs := l.segTable()
	if int(loc.Seg) >= len(segs) {
		return 0, fmt.Errorf("%w: segment number %d, the log has %d segments", ErrBadLocation, loc.Seg, len(segs))
	}
	seg := segs[loc.Seg]
	if seg.removed.Load() {
		return 0, fmt.Errorf("%w: %s", ErrSegmentRemoved, seg.name)
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", ErrBadLocation, off)
	}
	read := l.readSeg
	if int(loc.Seg) < len(segs)-1 {
		read = readSealed
	}
	if loc.Codec == CodecNone {
		avail := max(int64(loc.Len)-off, 0)
		n := int(min(int64(len(dst)), avail))
		if n > 0 {
			got, err := read(seg, dst[:n], int64(loc.Off)+off)
			if got < n && seg.removed.Load() {
				return 0, fmt.Errorf("%w: %s", ErrSegmentRemoved, seg.name)
			}
			if got < n {
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return got, fmt.Errorf("pagelog: read data: segment %s offset %d: %w", seg.name, int64(loc.Off)+off, err)
			}
		}
		return n, shortRead(n, len(dst), seg.name, loc, off)
	}
	raw, err := l.cache.get(seg, loc, read)
	if err != nil {
		if seg.removed.Load() {
			return 0, fmt.Errorf("%w: %s", ErrSegmentRemoved, seg.name)
		}
		return 0, err
	}
	n := 0
	if off < int64(len(raw)) {
		n = copy(dst, raw[off:])
	}
	return n, shortRead(n, len(dst), seg.name, loc, off)
}

// dropReadMin is the smallest read of a sealed segment whose pages
// readSealed gives back. Sequential reads on the mount come as READs of up
// to 1 MiB (fusefs's readahead); a database's page reads are smaller, and
// stay cached.
const dropReadMin = 64 << 10

// readSealed reads len(b) bytes of the sealed segment seg at off and, if
// that was a large read, gives back the pages wholly inside it. The kernel
// keeps what the application reads on the mount, so these pages are a
// second copy of it, as a sealed segment's written pages were (roll drops
// those); pages given back are what the next read reuses. The pages at
// either end, which neighbouring records share, and the segment's own
// readahead past the range stay; so do large folios that reach past
// either end, which is why a cold 2 GiB read on the mount still leaves
// about half of the segment pages it read (measured, 2026-12-03). The
// drop and the check's uncached reads (scrub.go) together took that read
// from 297-362 to 452-1024 MiB/s here; the check's alone, 299-415.
func readSealed(seg *segment, b []byte, off int64) (int, error) {
	n, err := seg.f.ReadAt(b, off)
	if n >= dropReadMin {
		seg.f.DropCache(off, int64(n))
	}
	return n, err
}

func shortRead(n, want int, seg string, loc Location, off int64) error {
	if n == want {
		return nil
	}
	return fmt.Errorf("pagelog: read data: segment %s offset %d: %d bytes wanted at data offset %d, %d there: %w",
		seg, loc.Off, want, off, n, io.ErrUnexpectedEOF)
}

func (l *Log) closedNow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// cacheEntries is how many decompressed data parts the log keeps.
const cacheEntries = 8

// dataCache keeps the most recently used decompressed data parts. Entries
// are never changed once made, so a caller may use one after the lock is
// released.
type dataCache struct {
	mu      sync.Mutex
	entries []cacheEntry // most recently used first
}

type cacheEntry struct {
	seg *segment
	off uint32
	raw []byte
}

func (c *dataCache) init() { c.entries = make([]cacheEntry, 0, cacheEntries) }

// get returns the decompressed data part at loc, from the cache or by
// reading it with read and decompressing it.
func (c *dataCache) get(seg *segment, loc Location, read func(*segment, []byte, int64) (int, error)) ([]byte, error) {
	c.mu.Lock()
	for i, e := range c.entries {
		if e.seg == seg && e.off == loc.Off {
			copy(c.entries[1:i+1], c.entries[:i])
			c.entries[0] = e
			c.mu.Unlock()
			return e.raw, nil
		}
	}
	c.mu.Unlock()

	// Decompress without the lock; two readers missing the same record at
	// once both decompress it, which is harmless.
	stored := make([]byte, loc.Len)
	if n, err := read(seg, stored, int64(loc.Off)); n < len(stored) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("pagelog: read data: segment %s offset %d: %w", seg.name, loc.Off, err)
	}
	raw, err := decompress(loc.Codec, stored, MaxDataLen)
	if err != nil {
		return nil, fmt.Errorf("%w: segment %s offset %d: decompress %s data: %v", ErrCorrupt, seg.name, loc.Off, loc.Codec, err)
	}

	c.mu.Lock()
	if len(c.entries) < cacheEntries {
		c.entries = append(c.entries, cacheEntry{})
	}
	copy(c.entries[1:], c.entries[:len(c.entries)-1])
	c.entries[0] = cacheEntry{seg: seg, off: loc.Off, raw: raw}
	c.mu.Unlock()
	return raw, nil
}
