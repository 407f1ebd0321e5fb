package volume

import (
	"errors"
	"syscall"

	"github.com/rewindfs/rewindfs/pagelog"

	"github.com/rewindfs/rewindfs/fsstate"
)

// Write writes data at off. The record holds whole pages: when the write
// does not start or end on a page boundary, the pages it touches partly are
// read and merged first, so that every page version in the log is complete
// and a read is one lookup. A page-aligned write (what the kernel's
// writeback cache sends) goes to the log straight from the caller's buffer.
func (v *Volume) Write(ino uint64, off int64, data []byte) (fsstate.Attr, error) {
	return v.WriteKill(ino, off, data, false)
}

// WriteKill is Write for a caller that must also drop the file's
// set-user-ID and set-group-ID bits (FUSE_WRITE_KILL_SUIDGID: the writer
// lacks CAP_FSETID). Every write drops security.capability.
func (v *Volume) WriteKill(ino uint64, off int64, data []byte, killSUIDGID bool) (fsstate.Attr, error) {
	if off < 0 {
		return fsstate.Attr{}, syscall.EINVAL
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.st.Inodes[ino]
	if n == nil {
		return fsstate.Attr{}, syscall.ENOENT
	}
	if !n.IsRegular() {
		return fsstate.Attr{}, syscall.EINVAL
	}
	if err := v.killPrivLocked(n, killSUIDGID); err != nil {
		return fsstate.Attr{}, err
	}
	if len(data) == 0 {
		return v.st.Attr(n), nil
	}
	ps := int64(v.Settings.PageSize)
	end := off + int64(len(data))
	first := off / ps
	last := (end - 1) / ps
	np := int(last - first + 1)
	buf := data
	if off%ps != 0 || end%ps != 0 {
		buf = v.scratchPages(np)
		if off%ps != 0 {
			if err := v.readPage(n, uint64(first), buf[:ps]); err != nil {
				return fsstate.Attr{}, err
			}
		}
		if end%ps != 0 && (last != first || off%ps == 0) {
			if err := v.readPage(n, uint64(last), buf[int64(np-1)*ps:]); err != nil {
				return fsstate.Attr{}, err
			}
		}
		copy(buf[off-first*ps:], data)
	}
	op := &fsstate.Op{Type: fsstate.OpWrite, Ino: ino, Off: uint64(off), Len: uint32(len(data)),
		FirstPage: uint64(first), NPages: uint32(np)}
	if _, err := v.commit(op, buf); err != nil {
		return fsstate.Attr{}, err
	}
	return v.st.Attr(n), nil
}

// scratchPages returns a buffer of n zeroed pages, reused between calls
// (the caller holds v.mu).
func (v *Volume) scratchPages(n int) []byte {
	size := n * v.Settings.PageSize
	if cap(v.scratch) < size {
		v.scratch = make([]byte, size)
	}
	b := v.scratch[:size]
	clear(b)
	return b
}

// readPage reads page p of n into dst (one page long); holes read as zeros.
func (v *Volume) readPage(n *fsstate.Inode, p uint64, dst []byte) error {
	ps := uint64(v.Settings.PageSize)
	s := span{ref: n.Pages.Get(p), base: p*ps < n.BaseSize, pos: int64(p * ps)}
	if err := v.readSpan(n.Ino, s, dst, false); err != nil {
		v.logf("read page %d of inode %d: %v", p, n.Ino, err)
		return syscall.EIO
	}
	return nil
}

// span is a run of bytes of a read that come from one place: a record's
// data part, the base image, or nowhere (a hole).
type span struct {
	ref  fsstate.PageRef // the record, if Loc.Len != 0
	base bool            // no record: from the base image, else a hole
	pos  int64           // file offset of the span's first byte
	off  int64           // offset into the read's destination
	n    int64
}

// readSpan reads one span into d, of a read that is random (see Read). A
// record whose segment compaction has removed since the span was found
// was folded into the base image, which then holds this very version of
// the page (see package compaction).
func (v *Volume) readSpan(ino uint64, s span, d []byte, random bool) error {
	if !s.ref.IsHole() {
		read := v.log.ReadData
		if random {
			read = v.log.ReadDataRandom
		}
		_, err := read(s.ref.Loc, int64(s.ref.Inner), d)
		if !errors.Is(err, pagelog.ErrSegmentRemoved) {
			return err
		}
	} else if !s.base {
		clear(d)
		return nil
	}
	return v.img.ReadPages(ino, s.pos, d, random)
}

// randomReadMax is the largest read Read takes for a random one: the
// kernel sends a sequential stream as READs of up to 1 MiB (its
// readahead), and a database's lone page read as one of a page or two.
// The log reads a random read's bytes without readahead and without
// leaving a copy in the page cache (pagelog's ReadDataRandom).
const randomReadMax = 16 << 10

// Read reads up to len(dst) bytes at off and returns how many it read (short
// at the end of the file). The lock is held only to find where the pages
// are; the data is read without it, from segment files that never change
// under an offset once written, and from base image pages that no state at
// or after the base reads while a fold rewrites them.
func (v *Volume) Read(ino uint64, off int64, dst []byte) (int, error) {
	var spansArr [64]span
	spans := spansArr[:0]
	v.mu.RLock()
	n := v.st.Inodes[ino]
	if n == nil {
		v.mu.RUnlock()
		return 0, syscall.ENOENT
	}
	if !n.IsRegular() {
		v.mu.RUnlock()
		return 0, syscall.EISDIR
	}
	if off < 0 || uint64(off) >= n.Size {
		v.mu.RUnlock()
		return 0, nil
	}
	total := int64(len(dst))
	if rem := int64(n.Size) - off; total > rem {
		total = rem
	}
	ps := int64(v.Settings.PageSize)
	for done := int64(0); done < total; {
		pos := off + done
		p := pos / ps
		in := pos % ps
		cnt := min(ps-in, total-done)
		ref := n.Pages.Get(uint64(p))
		ref.Inner += uint32(in)
		base := ref.IsHole() && uint64(p*ps) < n.BaseSize
		// Extend the previous span when this piece continues it in the
		// same record (or the base image, or a hole), so a sequential
		// read is one pread per record.
		if k := len(spans) - 1; k >= 0 && spans[k].ref.Loc == ref.Loc && spans[k].base == base &&
			(ref.IsHole() || spans[k].ref.Inner+uint32(spans[k].n) == ref.Inner) {
			spans[k].n += cnt
		} else {
			spans = append(spans, span{ref: ref, base: base, pos: pos, off: done, n: cnt})
		}
		done += cnt
	}
	v.mu.RUnlock()
	random := len(dst) <= randomReadMax
	for _, s := range spans {
		if err := v.readSpan(ino, s, dst[s.off:s.off+s.n], random); err != nil {
			v.logf("read inode %d at %d: %v", ino, s.pos, err)
			return 0, syscall.EIO
		}
	}
	return int(total), nil
}
