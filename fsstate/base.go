package fsstate

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/rewindfs/rewindfs/lsn"
)

// The base encoding of a state is what a base image keeps of state(base):
// every inode's attributes, names and extended attributes, and no page
// table, because the base image holds the pages themselves. All integers
// are little-endian and fixed width; strings are a u16 length and bytes.
//
//	head u64 | headTime i64 | inodes u64 | inode...
//	inode: ino u64 | mode u32 | uid u32 | gid u32 | rdev u32 | nlink u32 |
//	       size u64 | atime i64 | mtime i64 | ctime i64 | parent u64 |
//	       target str | entries u32 | (name str | ino u64)... |
//	       xattrs u32 | (name str | len u32 | value)...
//
// Entries and xattrs are written sorted, so that one state always encodes
// to the same bytes. The caller frames and checksums the blob.

// AppendBase appends the base encoding of s to buf.
func (s *State) AppendBase(buf []byte) []byte {
	le := binary.LittleEndian
	buf = le.AppendUint64(buf, uint64(s.Head))
	buf = le.AppendUint64(buf, uint64(s.HeadTime))
	inos := slices.Sorted(maps.Keys(s.Inodes))
	buf = le.AppendUint64(buf, uint64(len(inos)))
	for _, ino := range inos {
		n := s.Inodes[ino]
		buf = le.AppendUint64(buf, n.Ino)
		for _, v := range []uint32{n.Mode, n.UID, n.GID, n.Rdev, n.Nlink} {
			buf = le.AppendUint32(buf, v)
		}
		for _, v := range []uint64{n.Size, uint64(n.Atime), uint64(n.Mtime), uint64(n.Ctime), n.Parent} {
			buf = le.AppendUint64(buf, v)
		}
		buf = appendStr(buf, n.Target)
		buf = le.AppendUint32(buf, uint32(len(n.Entries)))
		for _, name := range slices.Sorted(maps.Keys(n.Entries)) {
			buf = appendStr(buf, name)
			buf = le.AppendUint64(buf, n.Entries[name])
		}
		buf = le.AppendUint32(buf, uint32(len(n.Xattrs)))
		for _, name := range slices.Sorted(maps.Keys(n.Xattrs)) {
			buf = appendStr(buf, name)
			buf = le.AppendUint32(buf, uint32(len(n.Xattrs[name])))
			buf = append(buf, n.Xattrs[name]...)
		}
	}
	return buf
}

// DecodeBase decodes a base encoding. Every regular file's content is
// wholly in the base image: its BaseSize is its size.
func DecodeBase(b []byte, pageSize int) (*State, error) {
	d := &decoder{b: b}
	s := &State{PageSize: pageSize, Inodes: map[uint64]*Inode{}}
	s.Head = lsn.LSN(d.u64())
	s.HeadTime = int64(d.u64())
	count := d.u64()
	for i := uint64(0); i < count && !d.bad; i++ {
		n := &Inode{Ino: d.u64(), Mode: d.u32(), UID: d.u32(), GID: d.u32(), Rdev: d.u32(), Nlink: d.u32()}
		n.Size = d.u64()
		n.Atime, n.Mtime, n.Ctime = int64(d.u64()), int64(d.u64()), int64(d.u64())
		n.Parent = d.u64()
		n.Target = d.str()
		if k := d.u32(); k > 0 || n.IsDir() {
			n.Entries = make(map[string]uint64, min(k, 1<<16))
			for j := uint32(0); j < k && !d.bad; j++ {
				name := d.str()
				n.Entries[name] = d.u64()
			}
		}
		if k := d.u32(); k > 0 {
			n.Xattrs = make(map[string][]byte, min(k, 1<<10))
			for j := uint32(0); j < k && !d.bad; j++ {
				name := d.str()
				n.Xattrs[name] = d.bytes(int(d.u32()))
			}
		}
		if n.IsRegular() {
			n.BaseSize = n.Size
		}
		if s.Inodes[n.Ino] != nil {
			return nil, fmt.Errorf("%w: base state names inode %d twice", ErrBadMeta, n.Ino)
		}
		s.Inodes[n.Ino] = n
	}
	if d.bad || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: base state of %d bytes is cut short or has trailing bytes", ErrBadMeta, len(b))
	}
	if root := s.Inodes[RootIno]; root == nil || !root.IsDir() {
		return nil, fmt.Errorf("%w: base state has no root directory", ErrBadMeta)
	}
	return s, nil
}

// Clone returns a deep copy of s: changes to either do not show in the other.
func (s *State) Clone() *State {
	c := &State{PageSize: s.PageSize, Head: s.Head, HeadTime: s.HeadTime, Inodes: make(map[uint64]*Inode, len(s.Inodes))}
	for ino, n := range s.Inodes {
		m := *n
		if n.Entries != nil {
			m.Entries = maps.Clone(n.Entries)
		}
		if n.Xattrs != nil {
			m.Xattrs = maps.Clone(n.Xattrs) // values are never changed in place
		}
		m.Pages = n.Pages.Clone()
		c.Inodes[ino] = &m
	}
	return c
}
