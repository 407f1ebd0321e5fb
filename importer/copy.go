package importer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/volume"
)

// devIno identifies a source inode, to find the other names of a hard link.
type devIno struct{ dev, ino uint64 }

// copier makes the scanned entries in the volume.
type copier struct {
	ctx   context.Context
	v     *volume.Volume
	o     *Options
	rep   *Report
	inos  []uint64          // entry index → the volume inode made for it
	links map[devIno]uint64 // source inode with more than one name → volume inode
	chunk int
	buf   []byte
}

func (c *copier) copyAll(es []entry) error {
	var dirs []int
	for i := range es {
		e := &es[i]
		if err := c.ctx.Err(); err != nil {
			return fmt.Errorf("interrupted at %s (nothing is left at %s): %w", e.path, c.rep.Volume, err)
		}
		typ := e.st.Mode & unix.S_IFMT
		if i == 0 {
			c.inos[0] = fsstate.RootIno
			c.rep.Dirs++
			if err := c.xattrs(e, fsstate.RootIno); err != nil {
				return err
			}
			dirs = append(dirs, 0)
			continue
		}
		parent := c.inos[e.parent]
		key := devIno{uint64(e.st.Dev), e.st.Ino}
		if typ != unix.S_IFDIR && e.st.Nlink > 1 {
			if ino, ok := c.links[key]; ok {
				if _, err := c.v.Link(ino, parent, e.name); err != nil {
					return &fileError{path: e.path, op: "link in the new volume", err: err}
				}
				c.inos[i] = ino
				c.rep.HardLinks++
				continue
			}
		}
		ino, err := c.create(e, parent)
		if err != nil {
			return err
		}
		c.inos[i] = ino
		if typ != unix.S_IFDIR && e.st.Nlink > 1 {
			c.links[key] = ino
		}
		if typ == unix.S_IFDIR {
			dirs = append(dirs, i)
		}
	}
	// Directories get their attributes once everything inside them exists:
	// each name made in a directory changed its times.
	for _, i := range dirs {
		if err := c.setAttr(&es[i], c.inos[i], -1); err != nil {
			return err
		}
	}
	return nil
}

// create makes one inode with its data and, except for a directory, its
// attributes and extended attributes.
func (c *copier) create(e *entry, parent uint64) (uint64, error) {
	typ := e.st.Mode & unix.S_IFMT
	var a fsstate.Attr
	var err error
	switch typ {
	case unix.S_IFLNK:
		target, rerr := readlink(e.path, e.st.Size)
		if rerr != nil {
			return 0, &fileError{path: e.path, op: "readlink", err: rerr}
		}
		a, err = c.v.Symlink(parent, e.name, target, e.st.Uid, e.st.Gid)
		c.rep.Symlinks++
	case unix.S_IFDIR, unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR, unix.S_IFBLK:
		if e.st.Rdev > math.MaxUint32 {
			return 0, &fileError{path: e.path, op: "mknod", err: unix.EOVERFLOW}
		}
		a, err = c.v.Create(parent, e.name, e.st.Mode, e.st.Uid, e.st.Gid, uint32(e.st.Rdev), false)
		switch typ {
		case unix.S_IFDIR:
			c.rep.Dirs++
		case unix.S_IFREG:
			c.rep.Files++
		default:
			c.rep.Specials++
		}
	default:
		return 0, &fileError{path: e.path, op: "import", err: fmt.Errorf("file type %#o is not supported", typ)}
	}
	if err != nil {
		return 0, &fileError{path: e.path, op: "create in the new volume", err: err}
	}
	if typ == unix.S_IFDIR {
		return a.Ino, c.xattrs(e, a.Ino)
	}
	end := int64(-1)
	if typ == unix.S_IFREG {
		if end, err = c.copyData(e, a.Ino); err != nil {
			return 0, err
		}
	}
	// A write or a change of owner drops security.capability (see the
	// package comment): the extended attributes come after both.
	if err := c.setAttr(e, a.Ino, end); err != nil {
		return 0, err
	}
	return a.Ino, c.xattrs(e, a.Ino)
}

// setAttr sets mode, owner and times as scanned and, for a regular file of
// which end bytes were written, its size. Mode and group are set even
// though create gave them: a set-group-ID parent directory changes both.
func (c *copier) setAttr(e *entry, ino uint64, end int64) error {
	in := volume.SetAttrIn{UID: e.st.Uid, GID: e.st.Gid, Mode: e.st.Mode & 0o7777,
		Valid: fsstate.SetUID | fsstate.SetGID | fsstate.SetAtime | fsstate.SetMtime}
	if e.st.Mode&unix.S_IFMT != unix.S_IFLNK {
		in.Valid |= fsstate.SetMode
	}
	if end >= 0 && end != e.st.Size {
		in.Valid |= fsstate.SetSize
		in.Size = uint64(e.st.Size)
	}
	var err error
	if in.Atime, err = nanos(e.st.Atim); err == nil {
		in.Mtime, err = nanos(e.st.Mtim)
	}
	if err != nil {
		return &fileError{path: e.path, op: "time", err: fmt.Errorf("%w: the volume keeps times from 1677 to 2262 (touch the file to give it a time in that range)", err)}
	}
	if _, err := c.v.SetAttr(ino, in); err != nil {
		return &fileError{path: e.path, op: "set attributes in the new volume", err: err}
	}
	return nil
}

// nanos returns t in Unix nanoseconds, the volume's unit, or EOVERFLOW.
func nanos(t unix.Timespec) (int64, error) {
	if t.Sec > math.MaxInt64/1_000_000_000-1 || t.Sec < math.MinInt64/1_000_000_000+1 {
		return 0, unix.EOVERFLOW
	}
	return t.Sec*1e9 + t.Nsec, nil
}

// copyData copies a regular file's data, region by region: SEEK_DATA finds
// the next byte of data and SEEK_HOLE the end of it, so holes are never
// read nor written (they stay holes in the volume, and the size set
// afterwards covers a hole at the end). It returns the end of the last
// byte written.
func (c *copier) copyData(e *entry, ino uint64) (int64, error) {
	fd, err := unix.Open(e.path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		// O_NOATIME (which leaves the source's atime alone) needs the
		// file's owner or CAP_FOWNER.
		fd, err = unix.Open(e.path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return 0, &fileError{path: e.path, op: "open", err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, &fileError{path: e.path, op: "fstat", err: err}
	}
	if st.Dev != e.st.Dev || st.Ino != e.st.Ino {
		return 0, &fileError{path: e.path, op: "open", err: errors.New("the file was replaced during the import: stop whatever changes the directory and import again")}
	}
	if len(c.buf) < c.chunk {
		c.buf = make([]byte, c.chunk)
	}
	size := e.st.Size
	var off, end int64
	for off < size {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		hole := size
		switch {
		case err == unix.ENXIO:
			// No data after off: the rest is a hole.
			data = size
		case err == unix.EINVAL || err == unix.EOPNOTSUPP:
			// A file system without SEEK_DATA: all of it is data.
			data = off
		case err != nil:
			return 0, &fileError{path: e.path, op: "seek", err: err}
		default:
			if h, err := unix.Seek(fd, data, unix.SEEK_HOLE); err == nil {
				hole = min(h, size)
			}
		}
		data = min(data, size)
		if data > off {
			c.rep.Holes++
			c.rep.HoleBytes += data - off
			c.progress(data - off)
		}
		for pos := data; pos < hole; {
			if err := c.ctx.Err(); err != nil {
				return 0, fmt.Errorf("interrupted at %s (nothing is left at %s): %w", e.path, c.rep.Volume, err)
			}
			n, err := unix.Pread(fd, c.buf[:min(int64(c.chunk), hole-pos)], pos)
			if err != nil {
				return 0, &fileError{path: e.path, op: "read", err: err}
			}
			if n == 0 {
				// The file shrank since the scan; the size set
				// afterwards is the scanned one.
				hole = pos
				break
			}
			if _, err := c.v.Write(ino, pos, c.buf[:n]); err != nil {
				return 0, &fileError{path: e.path, op: "write into the new volume", err: err}
			}
			pos += int64(n)
			end = pos
			c.rep.Bytes += int64(n)
			c.progress(int64(n))
		}
		off = max(hole, data)
	}
	c.rep.Size += size
	return end, nil
}

func (c *copier) progress(n int64) {
	if c.o.Progress != nil {
		c.o.Progress(n)
	}
}

// readlink reads a symbolic link's target, whatever its length.
func readlink(path string, size int64) (string, error) {
	n := max(int(size)+1, 256)
	for {
		buf := make([]byte, n)
		r, err := unix.Readlink(path, buf)
		if err != nil {
			return "", err
		}
		if r < n {
			return string(buf[:r]), nil
		}
		n *= 2
	}
}

// xattrs copies the extended attributes of e to ino, skipping (with a
// warning) those the volume does not support.
func (c *copier) xattrs(e *entry, ino uint64) error {
	names, err := listXattrs(e.path)
	if err != nil {
		return &fileError{path: e.path, op: "list extended attributes", err: err}
	}
	for _, name := range names {
		if strings.HasPrefix(name, "system.") {
			// POSIX ACLs and other attributes the kernel interprets
			// itself; the volume refuses them (EOPNOTSUPP).
			c.o.Warn("%s: skipped %s (the volume does not support POSIX ACLs; the mode bits decide access)", e.path, name)
			c.rep.ACLsSkipped++
			continue
		}
		val, err := getXattr(e.path, name)
		if err == unix.ENODATA {
			continue // removed since it was listed
		}
		if err != nil {
			return &fileError{path: e.path, op: "read extended attribute " + name, err: err}
		}
		if err := c.v.SetXattr(ino, name, val, 0); err != nil {
			return &fileError{path: e.path, op: "set extended attribute " + name + " in the new volume", err: err}
		}
		c.rep.Xattrs++
	}
	return nil
}

// listXattrs returns the names of path's extended attributes (not
// following a symbolic link); none where the file system has none.
func listXattrs(path string) ([]string, error) {
	for {
		n, err := unix.Llistxattr(path, nil)
		if err == unix.ENOTSUP {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = unix.Llistxattr(path, buf)
		if err == unix.ERANGE {
			continue // grew in between
		}
		if err != nil {
			return nil, err
		}
		var out []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
}

func getXattr(path, name string) ([]byte, error) {
	for {
		n, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Lgetxattr(path, name, buf)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
