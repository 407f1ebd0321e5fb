package fusefs

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Observer is told about every request a file system answered: its FUSE
// name in lower case ("lookup", "write", "fsync", ...), how long the file
// system took, and the status it answered with. It is called on the
// request's goroutine, so it must be quick and safe for concurrent use.
type Observer func(op string, took time.Duration, st fuse.Status)

// Observe returns fs with every request passed to obs once answered; the
// daemon uses it for its metrics. A request the file system does not
// implement (ENOSYS from WRITE's vectored form, which go-fuse then retries
// as a plain write) is not reported. Methods the wrapper does not know
// (added to go-fuse later) reach fs unobserved.
func Observe(fs fuse.RawFileSystem, obs Observer) fuse.RawFileSystem {
	return &observed{RawFileSystem: fs, obs: obs}
}

type observed struct {
	fuse.RawFileSystem
	obs Observer
}

func (o *observed) done(op string, start time.Time, st fuse.Status) fuse.Status {
	o.obs(op, time.Since(start), st)
	return st
}

func (o *observed) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	return o.done("lookup", t, o.RawFileSystem.Lookup(c, h, name, out))
}

func (o *observed) Forget(nodeid, nlookup uint64) {
	t := time.Now()
	o.RawFileSystem.Forget(nodeid, nlookup)
	o.done("forget", t, fuse.OK)
}

func (o *observed) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	t := time.Now()
	return o.done("getattr", t, o.RawFileSystem.GetAttr(c, in, out))
}

func (o *observed) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	t := time.Now()
	return o.done("setattr", t, o.RawFileSystem.SetAttr(c, in, out))
}

func (o *observed) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	return o.done("mknod", t, o.RawFileSystem.Mknod(c, in, name, out))
}

func (o *observed) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	return o.done("mkdir", t, o.RawFileSystem.Mkdir(c, in, name, out))
}

func (o *observed) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t := time.Now()
	return o.done("unlink", t, o.RawFileSystem.Unlink(c, h, name))
}

func (o *observed) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t := time.Now()
	return o.done("rmdir", t, o.RawFileSystem.Rmdir(c, h, name))
}

func (o *observed) Rename(c <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	t := time.Now()
	return o.done("rename", t, o.RawFileSystem.Rename(c, in, oldName, newName))
}

func (o *observed) Link(c <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	return o.done("link", t, o.RawFileSystem.Link(c, in, name, out))
}

func (o *observed) Symlink(c <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	return o.done("symlink", t, o.RawFileSystem.Symlink(c, h, target, name, out))
}

func (o *observed) Readlink(c <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	t := time.Now()
	b, st := o.RawFileSystem.Readlink(c, h)
	return b, o.done("readlink", t, st)
}

func (o *observed) Access(c <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	t := time.Now()
	return o.done("access", t, o.RawFileSystem.Access(c, in))
}

func (o *observed) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.GetXAttr(c, h, attr, dest)
	return n, o.done("getxattr", t, st)
}

func (o *observed) ListXAttr(c <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.ListXAttr(c, h, dest)
	return n, o.done("listxattr", t, st)
}

func (o *observed) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	t := time.Now()
	return o.done("setxattr", t, o.RawFileSystem.SetXAttr(c, in, attr, data))
}

func (o *observed) RemoveXAttr(c <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	t := time.Now()
	return o.done("removexattr", t, o.RawFileSystem.RemoveXAttr(c, h, attr))
}

func (o *observed) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	t := time.Now()
	return o.done("create", t, o.RawFileSystem.Create(c, in, name, out))
}

func (o *observed) Tmpfile(c <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	t := time.Now()
	return o.done("tmpfile", t, o.RawFileSystem.Tmpfile(c, in, out))
}

func (o *observed) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t := time.Now()
	return o.done("open", t, o.RawFileSystem.Open(c, in, out))
}

func (o *observed) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	t := time.Now()
	r, st := o.RawFileSystem.Read(c, in, buf)
	return r, o.done("read", t, st)
}

func (o *observed) Lseek(c <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	t := time.Now()
	return o.done("lseek", t, o.RawFileSystem.Lseek(c, in, out))
}

func (o *observed) GetLk(c <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	t := time.Now()
	return o.done("getlk", t, o.RawFileSystem.GetLk(c, in, out))
}

func (o *observed) SetLk(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	t := time.Now()
	return o.done("setlk", t, o.RawFileSystem.SetLk(c, in))
}

func (o *observed) SetLkw(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	t := time.Now()
	return o.done("setlkw", t, o.RawFileSystem.SetLkw(c, in))
}

func (o *observed) Release(c <-chan struct{}, in *fuse.ReleaseIn) {
	t := time.Now()
	o.RawFileSystem.Release(c, in)
	o.done("release", t, fuse.OK)
}

func (o *observed) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.Write(c, in, data)
	return n, o.done("write", t, st)
}

func (o *observed) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.Writev(c, in, data)
	if st == fuse.ENOSYS {
		return n, st // go-fuse calls Write next, which reports it
	}
	return n, o.done("write", t, st)
}

func (o *observed) CopyFileRange(c <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.CopyFileRange(c, in)
	return n, o.done("copy_file_range", t, st)
}

func (o *observed) Ioctl(c <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	t := time.Now()
	return o.done("ioctl", t, o.RawFileSystem.Ioctl(c, in, inbuf, out, outbuf))
}

func (o *observed) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	t := time.Now()
	return o.done("flush", t, o.RawFileSystem.Flush(c, in))
}

func (o *observed) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t := time.Now()
	return o.done("fsync", t, o.RawFileSystem.Fsync(c, in))
}

func (o *observed) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	t := time.Now()
	return o.done("fallocate", t, o.RawFileSystem.Fallocate(c, in))
}

func (o *observed) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t := time.Now()
	return o.done("opendir", t, o.RawFileSystem.OpenDir(c, in, out))
}

func (o *observed) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t := time.Now()
	return o.done("readdir", t, o.RawFileSystem.ReadDir(c, in, out))
}

func (o *observed) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t := time.Now()
	return o.done("readdirplus", t, o.RawFileSystem.ReadDirPlus(c, in, out))
}

func (o *observed) ReleaseDir(in *fuse.ReleaseIn) {
	t := time.Now()
	o.RawFileSystem.ReleaseDir(in)
	o.done("releasedir", t, fuse.OK)
}

func (o *observed) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t := time.Now()
	return o.done("fsyncdir", t, o.RawFileSystem.FsyncDir(c, in))
}

func (o *observed) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	t := time.Now()
	return o.done("statfs", t, o.RawFileSystem.StatFs(c, h, out))
}

func (o *observed) Statx(c <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	t := time.Now()
	return o.done("statx", t, o.RawFileSystem.Statx(c, in, out))
}
