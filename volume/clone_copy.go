package volume

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copied says how copyFile copied a file.
type copied struct {
	bytes     int64 // bytes of data copied (holes excluded); 0 for a reflink
	reflinked bool
}

// copyFile copies src to the new file dst (never overwriting one) and
// fsyncs it. It first asks the file system to share the blocks (FICLONE:
// a reflink on XFS, btrfs and others, which costs no data and stays
// independent: a later write to either file copies the block it
// touches). Where that is refused (ext4) it copies the data extents only,
// found with SEEK_DATA/SEEK_HOLE, with copy_file_range, so that the
// sparse page files of a base image stay sparse; and where that is
// refused too, with plain reads and writes.
func copyFile(src, dst string) (copied, error) {
	var c copied
	in, err := os.Open(src)
	if err != nil {
		return c, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return c, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return c, err
	}
	fail := func(err error) (copied, error) {
		out.Close()
		os.Remove(dst)
		return copied{}, err
	}
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
		c.reflinked = true
	} else {
		if c.bytes, err = copyExtents(in, out, st.Size()); err != nil {
			return fail(err)
		}
		// A hole at the end is no extent: set the size.
		if err := out.Truncate(st.Size()); err != nil {
			return fail(err)
		}
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		os.Remove(dst)
		return copied{}, err
	}
	return c, nil
}

// copyExtents copies the data extents of in (size bytes) to the same
// offsets of out.
func copyExtents(in, out *os.File, size int64) (int64, error) {
	var total int64
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			// No SEEK_DATA here: treat the whole rest as data.
			data = off
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		hole = min(hole, size)
		if err := copyRange(in, out, data, hole-data); err != nil {
			return total, err
		}
		total += hole - data
		off = hole
	}
	return total, nil
}

// copyRange copies n bytes at off from in to out, in the kernel when it
// can.
func copyRange(in, out *os.File, off, n int64) error {
	inOff, outOff := off, off
	for n > 0 {
		k, err := unix.CopyFileRange(int(in.Fd()), &inOff, int(out.Fd()), &outOff, int(min(n, 1<<30)), 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
				return copyPlain(in, out, inOff, n)
			}
			return fmt.Errorf("copy_file_range at offset %d: %w", inOff, err)
		}
		if k == 0 {
			return fmt.Errorf("copy_file_range at offset %d: %w", inOff, io.ErrUnexpectedEOF)
		}
		n -= int64(k)
	}
	return nil
}

// copyPlain copies n bytes at off from in to out through a buffer.
func copyPlain(in, out *os.File, off, n int64) error {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		b := buf[:min(int64(len(buf)), n)]
		if _, err := in.ReadAt(b, off); err != nil {
			return err
		}
		if _, err := out.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
		n -= int64(len(b))
	}
	return nil
}
