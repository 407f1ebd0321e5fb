package fusefs

import (
	"math"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/volume"
)

// GetAttr returns an inode's attributes.
func (fs *FS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	var a fsstate.Attr
	err := fs.v.View(func(s *fsstate.State) error {
		n := s.Inodes[in.NodeId]
		if n == nil {
			return syscall.ENOENT
		}
		a = s.Attr(n)
		return nil
	})
	if err != nil {
		return errno(err)
	}
	out.SetTimeout(attrTimeout)
	fillAttr(&out.Attr, a, fs.v.PageSize())
	return fuse.OK
}

// SetAttr changes mode, owner, size and times in one record.
func (fs *FS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	var s volume.SetAttrIn
	if m, ok := in.GetMode(); ok {
		s.Valid |= fsstate.SetMode
		s.Mode = m
	}
	if u, ok := in.GetUID(); ok {
		s.Valid |= fsstate.SetUID
		s.UID = u
	}
	if g, ok := in.GetGID(); ok {
		s.Valid |= fsstate.SetGID
		s.GID = g
	}
	if sz, ok := in.GetSize(); ok {
		s.Valid |= fsstate.SetSize
		s.Size = sz
	}
	// With CAP_HANDLE_KILLPRIV_V2 the kernel leaves dropping set-ID bits
	// on chown and unprivileged truncate to us.
	s.KillSUIDGID = in.Valid&fuse.FATTR_KILL_SUIDGID != 0
	switch {
	case in.Valid&fuse.FATTR_ATIME_NOW != 0:
		s.Valid |= fsstate.SetAtimeNow
	case in.Valid&fuse.FATTR_ATIME != 0:
		s.Valid |= fsstate.SetAtime
		t, ok := unixNano(in.Atime, in.Atimensec)
		if !ok {
			return fuse.Status(syscall.EOVERFLOW)
		}
		s.Atime = t
	}
	switch {
	case in.Valid&fuse.FATTR_MTIME_NOW != 0:
		s.Valid |= fsstate.SetMtimeNow
	case in.Valid&fuse.FATTR_MTIME != 0:
		s.Valid |= fsstate.SetMtime
		t, ok := unixNano(in.Mtime, in.Mtimensec)
		if !ok {
			return fuse.Status(syscall.EOVERFLOW)
		}
		s.Mtime = t
	}
	var a fsstate.Attr
	var err error
	if s.Valid == 0 {
		// Only ctime or a lock owner: report the attributes unchanged.
		err = fs.v.View(func(st *fsstate.State) error {
			n := st.Inodes[in.NodeId]
			if n == nil {
				return syscall.ENOENT
			}
			a = st.Attr(n)
			return nil
		})
	} else {
		a, err = fs.v.SetAttr(in.NodeId, s)
	}
	if err != nil {
		return errno(err)
	}
	out.SetTimeout(attrTimeout)
	fillAttr(&out.Attr, a, fs.v.PageSize())
	return fuse.OK
}

// Times are kept as int64 nanoseconds since 1970 (part of the record
// format), which spans 1677-09-21 to 2262-04-11. The kernel passes any
// 64-bit second count, and with the writeback cache it keeps showing the
// time it asked for, so a time out of that range is refused (EOVERFLOW, as
// for a value that does not fit) rather than stored wrapped around and
// found in another century after a remount.
const (
	minTimeSec int64 = math.MinInt64 / 1_000_000_000                 // -9223372036: with any nanoseconds, still in range
	maxTimeSec int64 = (math.MaxInt64 - 999_999_999) / 1_000_000_000 // 9223372035
)

// unixNano converts a time the kernel sends (seconds as two's complement,
// nanoseconds) to nanoseconds, or reports that it does not fit.
func unixNano(sec uint64, nsec uint32) (int64, bool) {
	s := int64(sec)
	if s < minTimeSec || s > maxTimeSec || nsec >= 1e9 {
		return 0, false
	}
	return s*1e9 + int64(nsec), true
}

// Access is checked by the kernel (default_permissions); this only says yes
// to the existence checks that still arrive.
func (fs *FS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status { return fuse.OK }

// GetXAttr reads an extended attribute.
func (fs *FS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	var sz uint32
	err := fs.v.View(func(s *fsstate.State) error {
		n := s.Inodes[h.NodeId]
		if n == nil {
			return syscall.ENOENT
		}
		val, ok := n.Xattrs[attr]
		if !ok {
			return syscall.ENODATA
		}
		sz = uint32(len(val))
		if len(dest) < len(val) {
			return syscall.ERANGE
		}
		copy(dest, val)
		return nil
	})
	return sz, errno(err)
}

// ListXAttr lists extended attribute names, NUL-terminated.
func (fs *FS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	var sz uint32
	err := fs.v.View(func(s *fsstate.State) error {
		n := s.Inodes[h.NodeId]
		if n == nil {
			return syscall.ENOENT
		}
		var buf []byte
		for name := range n.Xattrs {
			buf = append(append(buf, name...), 0)
		}
		sz = uint32(len(buf))
		if len(dest) < len(buf) {
			return syscall.ERANGE
		}
		copy(dest, buf)
		return nil
	})
	return sz, errno(err)
}

// POSIX ACLs travel as these extended attributes. Without FUSE_POSIX_ACL
// the kernel passes them to us as plain attributes and enforces nothing, so
// storing one would let setfacl succeed with no effect: an ACL that denies a
// user would not deny. They are refused, as by a file system mounted noacl.
const (
	aclAccess  = "system.posix_acl_access"
	aclDefault = "system.posix_acl_default"
)

// SetXAttr sets an extended attribute.
func (fs *FS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	if attr == aclAccess || attr == aclDefault {
		return fuse.Status(syscall.EOPNOTSUPP)
	}
	return errno(fs.v.SetXattr(in.NodeId, attr, append([]byte(nil), data...), in.Flags))
}

// RemoveXAttr removes an extended attribute.
func (fs *FS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	if attr == aclAccess || attr == aclDefault {
		return fuse.Status(syscall.EOPNOTSUPP)
	}
	return errno(fs.v.RemoveXattr(h.NodeId, attr))
}
