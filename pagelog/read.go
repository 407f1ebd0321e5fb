package pagelog

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/rewindfs/rewindfs/internal/pagecache"
)

// ReadData copies the data part of a record, from byte off of the
// uncompressed data on, into dst and returns the number of bytes copied.
// Reading past the end of the data part copies what there is and returns
// an error wrapping io.ErrUnexpectedEOF.
//
// Uncompressed data is read with one pread. Compressed data is read whole
// and decompressed; the last few decompressed records are cached, so that
// reading the pages of one record one by one decompresses it once. A read
// of dropReadMin bytes or more from a sealed segment leaves nothing in the
// page cache (readSealed).
func (l *Log) ReadData(loc Location, off int64, dst []byte) (int, error) {
	return l.readData(loc, off, dst, false)
}

// ReadDataRandom is ReadData for a read that stands alone, not one of a
// sequential stream: a database asking for one page. From a sealed
// segment it leaves nothing in the page cache whatever its size; a
// page-aligned one (most are, record.go) is direct and starts no readahead
// there either (readSealed).
func (l *Log) ReadDataRandom(loc Location, off int64, dst []byte) (int, error) {
	return l.readData(loc, off, dst, true)
}

func (l *Log) readData(loc Location, off int64, dst []byte, random bool) (int, error) {
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
	sealed := int(loc.Seg) < len(segs)-1
	if loc.Codec == CodecNone {
		avail := max(int64(loc.Len)-off, 0)
		n := int(min(int64(len(dst)), avail))
		if n > 0 {
			var got int
			var err error
			if sealed {
				got, err = readSealed(seg, dst[:n], int64(loc.Off)+off, random)
			} else {
				got, err = l.readSeg(seg, dst[:n], int64(loc.Off)+off)
			}
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
	read := l.readSeg
	if sealed {
		read = func(seg *segment, b []byte, off int64) (int, error) { return readSealed(seg, b, off, false) }
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

// dropReadMin is the smallest read of a sealed segment that readSealed
// keeps out of the page cache when the caller did not say it was random.
// Sequential reads on the mount come as READs of up to 1 MiB (fusefs's
// readahead), which are pieces of large records (writeback merges a
// stream's pages) or many small records in a row; the small ones are left
// to the segment's page cache and readahead, which serve the next record
// from memory.
const dropReadMin = 64 << 10

// readSealed reads len(b) bytes of the sealed segment seg at off. A read
// that is random, or of dropReadMin bytes or more, leaves nothing in the
// page cache: the kernel keeps what the application reads on the mount,
// so these pages would be a second copy of it, as a sealed segment's
// written pages were (roll drops those).
//
// Where b, off and the length are page-aligned (a record's data part
// starts on a page when it is worth it, record.go), the read is direct
// (O_DIRECT), from the disk into b: no page cache is filled, copied from
// and given back, which on this project's VM costs more than the disk
// (fresh page cache is a host fault away). A cold 2 GiB sequential read on
// the mount went from 424-601 to 720-1142 MiB/s in five rounds (plain
// 465-677), daemon CPU 385-580 -> 90-218 ticks, page cache left 3.3 -> 2.2
// GiB (the file's own pages); 4 KiB random reads ran at the same rate and
// left half the cache (610 against 1230 MiB for 512 MiB read). Anything
// else is read through the page cache, and an uncached one then gives back
// the pages wholly inside it (posix_fadvise DONTNEED); a segment whose file
// system has no direct I/O reads like that for good.
func readSealed(seg *segment, b []byte, off int64, random bool) (int, error) {
	if random || len(b) >= dropReadMin {
		return ReadUncached(seg.f, b, off)
	}
	return seg.f.ReadAt(b, off)
}

// ReadUncached reads len(b) bytes of f at off, as ReadAt does, and leaves
// none of them in the page cache: direct where b, off and the length are
// page-aligned, else through the cache, giving back the pages wholly
// inside the range afterwards (as it does where f cannot read direct; the
// file remembers that). The base image reads its page files with it too.
func ReadUncached(f File, b []byte, off int64) (int, error) {
	if pagecache.Aligned(b, off) {
		n, err := f.ReadDirect(b, off)
		if !errors.Is(err, errors.ErrUnsupported) {
			return n, err
		}
	}
	n, err := f.ReadAt(b, off)
	f.DropCache(off, int64(n))
	return n, err
}

// UncachedReadMin is dropReadMin for other readers of files the kernel
// caches a copy of on the mount: reads this large leave the page cache as
// they found it (ReadUncached).
const UncachedReadMin = dropReadMin

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
