package fsstate

// The metadata part of every record type, drawn field by field. All integers
// are little-endian. A string is a uint16 length followed by its bytes; an
// xattr value is a uint32 length followed by its bytes. The data part of a
// record (pages) is stored and compressed by pagelog and is described per type.
//
//	OpCreate    parent u64 | mode u32 | uid u32 | gid u32 | rdev u32 | name str
//	            The new inode's number is InoOf(LSN of this record).
//	OpSymlink   parent u64 | uid u32 | gid u32 | name str | target str
//	OpLink      ino u64 | newParent u64 | newName str
//	OpUnlink    parent u64 | name str            (unlink and rmdir alike)
//	OpRename    parent u64 | newParent u64 | flags u32 | name str | newName str
//	OpSetAttr   ino u64 | valid u32 | mode u32 | uid u32 | gid u32 | size u64 |
//	            atime i64 | mtime i64
//	            data: when the size is cut inside a page, that page with the
//	            bytes past the new size zeroed, so a later extension reads zeros.
//	OpWrite     ino u64 | off u64 | len u32 | firstPage u64 | npages u32
//	            data: npages whole pages starting at firstPage, already merged
//	            with the bytes around [off, off+len) that the write left alone.
//	OpAllocate  ino u64 | size u64               (size = max(size, this))
//	OpSetXattr  ino u64 | flags u32 | name str | value bytes32
//	OpRemoveXattr ino u64 | name str
//	OpSync      (empty) an application's fsync/fdatasync completed here
//	OpRewind    target u64                        state(this) = state(target)
//	OpPurge     ino u64                           an unlinked inode's last user left
//	OpMark      keep u8 | name str                a name for the sync point before it (keep 2: delete the name)
//
// These constants are part of the on-disk format and must not be changed.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rewindfs/rewindfs/pagelog"
)

const (
	OpCreate      pagelog.Type = 1
	OpSymlink     pagelog.Type = 2
	OpLink        pagelog.Type = 3
	OpUnlink      pagelog.Type = 4
	OpRename      pagelog.Type = 5
	OpSetAttr     pagelog.Type = 6
	OpWrite       pagelog.Type = 7
	OpAllocate    pagelog.Type = 8
	OpSetXattr    pagelog.Type = 9
	OpRemoveXattr pagelog.Type = 10
	OpSync        pagelog.Type = 11
	OpRewind      pagelog.Type = 12
	OpPurge       pagelog.Type = 13
	OpMark        pagelog.Type = 14
)

// SetAttr valid bits (OpSetAttr.Valid). Frozen, like the op numbers.
const (
	SetMode     uint32 = 1 << 0
	SetUID      uint32 = 1 << 1
	SetGID      uint32 = 1 << 2
	SetSize     uint32 = 1 << 3
	SetAtime    uint32 = 1 << 4
	SetMtime    uint32 = 1 << 5
	SetAtimeNow uint32 = 1 << 6
	SetMtimeNow uint32 = 1 << 7
)

// Rename flags, as in renameat2(2).
const (
	RenameNoReplace uint32 = 1
	RenameExchange  uint32 = 2
)

// ErrBadMeta is returned when a record's metadata part cannot be decoded:
// too short, a length running past its end, or an unknown record type.
var ErrBadMeta = errors.New("fsstate: malformed record metadata")

// Op is one decoded record. Which fields mean something depends on Type.
type Op struct {
	Type      pagelog.Type
	Ino       uint64
	Parent    uint64
	NewParent uint64
	Name      string
	NewName   string
	Target    string // symlink target
	Mode      uint32
	UID       uint32
	GID       uint32
	Rdev      uint32
	Flags     uint32 // rename or xattr flags
	Valid     uint32 // SetAttr bits
	Size      uint64 // SetAttr, Allocate
	Off       uint64 // Write: byte offset the application wrote at
	Len       uint32 // Write: bytes the application wrote
	FirstPage uint64
	NPages    uint32
	Atime     int64
	Mtime     int64
	Value     []byte // xattr value
	RewindTo  uint64
	Keep      bool // OpMark
	Unmark    bool // OpMark: the record deletes the mark Name
}

// OpName is the name `log` prints for a record type.
func OpName(t pagelog.Type) string {
	switch t {
	case OpCreate:
		return "create"
	case OpSymlink:
		return "symlink"
	case OpLink:
		return "link"
	case OpUnlink:
		return "unlink"
	case OpRename:
		return "rename"
	case OpSetAttr:
		return "setattr"
	case OpWrite:
		return "write"
	case OpAllocate:
		return "allocate"
	case OpSetXattr:
		return "setxattr"
	case OpRemoveXattr:
		return "removexattr"
	case OpSync:
		return "sync"
	case OpRewind:
		return "rewind"
	case OpPurge:
		return "purge"
	case OpMark:
		return "mark"
	}
	return fmt.Sprintf("op%d", t)
}

// AppendMeta appends the metadata encoding of op to buf and returns it.
func (op *Op) AppendMeta(buf []byte) []byte {
	le := binary.LittleEndian
	switch op.Type {
	case OpCreate:
		buf = le.AppendUint64(buf, op.Parent)
		buf = le.AppendUint32(buf, op.Mode)
		buf = le.AppendUint32(buf, op.UID)
		buf = le.AppendUint32(buf, op.GID)
		buf = le.AppendUint32(buf, op.Rdev)
		buf = appendStr(buf, op.Name)
	case OpSymlink:
		buf = le.AppendUint64(buf, op.Parent)
		buf = le.AppendUint32(buf, op.UID)
		buf = le.AppendUint32(buf, op.GID)
		buf = appendStr(buf, op.Name)
		buf = appendStr(buf, op.Target)
	case OpLink:
		buf = le.AppendUint64(buf, op.Ino)
		buf = le.AppendUint64(buf, op.NewParent)
		buf = appendStr(buf, op.NewName)
	case OpUnlink:
		buf = le.AppendUint64(buf, op.Parent)
		buf = appendStr(buf, op.Name)
	case OpRename:
		buf = le.AppendUint64(buf, op.Parent)
		buf = le.AppendUint64(buf, op.NewParent)
		buf = le.AppendUint32(buf, op.Flags)
		buf = appendStr(buf, op.Name)
		buf = appendStr(buf, op.NewName)
	case OpSetAttr:
		buf = le.AppendUint64(buf, op.Ino)
		buf = le.AppendUint32(buf, op.Valid)
		buf = le.AppendUint32(buf, op.Mode)
		buf = le.AppendUint32(buf, op.UID)
		buf = le.AppendUint32(buf, op.GID)
		buf = le.AppendUint64(buf, op.Size)
		buf = le.AppendUint64(buf, uint64(op.Atime))
		buf = le.AppendUint64(buf, uint64(op.Mtime))
	case OpWrite:
		buf = le.AppendUint64(buf, op.Ino)
		buf = le.AppendUint64(buf, op.Off)
		buf = le.AppendUint32(buf, op.Len)
		buf = le.AppendUint64(buf, op.FirstPage)
		buf = le.AppendUint32(buf, op.NPages)
	case OpAllocate:
		buf = le.AppendUint64(buf, op.Ino)
		buf = le.AppendUint64(buf, op.Size)
	case OpSetXattr:
		buf = le.AppendUint64(buf, op.Ino)
		buf = le.AppendUint32(buf, op.Flags)
		buf = appendStr(buf, op.Name)
		buf = le.AppendUint32(buf, uint32(len(op.Value)))
		buf = append(buf, op.Value...)
	case OpRemoveXattr:
		buf = le.AppendUint64(buf, op.Ino)
		buf = appendStr(buf, op.Name)
	case OpSync:
	case OpRewind:
		buf = le.AppendUint64(buf, op.RewindTo)
	case OpPurge:
		buf = le.AppendUint64(buf, op.Ino)
	case OpMark:
		k := byte(0)
		switch {
		case op.Unmark:
			k = 2
		case op.Keep:
			k = 1
		}
		buf = append(buf, k)
		buf = appendStr(buf, op.Name)
	}
	return buf
}

// DecodeMeta decodes the metadata part of a record of type t.
func DecodeMeta(t pagelog.Type, meta []byte) (Op, error) {
	d := decoder{b: meta}
	op := Op{Type: t}
	switch t {
	case OpCreate:
		op.Parent = d.u64()
		op.Mode = d.u32()
		op.UID = d.u32()
		op.GID = d.u32()
		op.Rdev = d.u32()
		op.Name = d.str()
	case OpSymlink:
		op.Parent = d.u64()
		op.UID = d.u32()
		op.GID = d.u32()
		op.Name = d.str()
		op.Target = d.str()
	case OpLink:
		op.Ino = d.u64()
		op.NewParent = d.u64()
		op.NewName = d.str()
	case OpUnlink:
		op.Parent = d.u64()
		op.Name = d.str()
	case OpRename:
		op.Parent = d.u64()
		op.NewParent = d.u64()
		op.Flags = d.u32()
		op.Name = d.str()
		op.NewName = d.str()
	case OpSetAttr:
		op.Ino = d.u64()
		op.Valid = d.u32()
		op.Mode = d.u32()
		op.UID = d.u32()
		op.GID = d.u32()
		op.Size = d.u64()
		op.Atime = int64(d.u64())
		op.Mtime = int64(d.u64())
	case OpWrite:
		op.Ino = d.u64()
		op.Off = d.u64()
		op.Len = d.u32()
		op.FirstPage = d.u64()
		op.NPages = d.u32()
	case OpAllocate:
		op.Ino = d.u64()
		op.Size = d.u64()
	case OpSetXattr:
		op.Ino = d.u64()
		op.Flags = d.u32()
		op.Name = d.str()
		n := d.u32()
		op.Value = d.bytes(int(n))
	case OpRemoveXattr:
		op.Ino = d.u64()
		op.Name = d.str()
	case OpSync:
	case OpRewind:
		op.RewindTo = d.u64()
	case OpPurge:
		op.Ino = d.u64()
	case OpMark:
		k := d.u8()
		op.Keep, op.Unmark = k == 1, k == 2
		op.Name = d.str()
	default:
		return op, fmt.Errorf("%w: unknown record type %d", ErrBadMeta, t)
	}
	if d.bad {
		return op, fmt.Errorf("%w: %s record of %d bytes", ErrBadMeta, OpName(t), len(meta))
	}
	if len(d.b) != 0 {
		return op, fmt.Errorf("%w: %s record has %d trailing bytes", ErrBadMeta, OpName(t), len(d.b))
	}
	return op, nil
}

func appendStr(buf []byte, s string) []byte {
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(s)))
	return append(buf, s...)
}

// decoder reads fields off the front of b; a read past the end sets bad and
// yields zeros, so a decode is checked once at the end.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n int) []byte {
	if d.bad || n < 0 || len(d.b) < n {
		d.bad = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) str() string {
	v := d.take(2)
	if v == nil {
		return ""
	}
	return string(d.take(int(binary.LittleEndian.Uint16(v))))
}

func (d *decoder) bytes(n int) []byte {
	v := d.take(n)
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}
