package e2e

// POSIX conformance of a mount, in a differential style: every case runs in
// a fresh directory on a plain directory of the same disk (ext4 here) and
// on a rewindfs mount, as root and as an unprivileged user, and the two
// must give the same errors, sizes and bytes. Where Linux's answer is part
// of the contract (the errno a conforming file system gives), the case also
// states it. Known deviations say why and what the mount gives instead;
// README.md ("POSIX behaviour") lists them.
//
// A case is a function of its directory that returns a line saying what
// happened: "stat=ENOENT open=ENOENT size=4097 data=ok". It runs in the test
// process for root and in a helper process for other users: the test
// binary itself, re-executed with posixHelperEnv set, which drops to the
// user's uid and gid in init(), before TestMain, runs what it was asked and
// prints the answers as JSON.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// posixHelperEnv turns the test binary into a helper that runs conformance
// cases or single operations as another user (see helperJob).
const posixHelperEnv = "REWINDFS_E2E_POSIX_HELPER"

// Users the conformance tests run as besides root. Neither needs an entry
// in /etc/passwd: only the numbers matter to a file system.
var (
	userA    = posixUser{Name: "nobody", UID: 65534, GID: 65534}
	userB    = posixUser{Name: "uid60001", UID: 60001, GID: 60001}
	rootUser = posixUser{Name: "root"}
)

type posixUser struct {
	Name     string
	UID, GID int
}

// helperJob is what a helper process is asked to do: either run the named
// conformance cases, each in Dir/<case>, or one operation.
type helperJob struct {
	User  posixUser
	Dir   string
	Cases []string `json:",omitempty"`
	Op    []string `json:",omitempty"`
}

func init() {
	spec := os.Getenv(posixHelperEnv)
	if spec == "" {
		return
	}
	os.Exit(helperMain(spec))
}

// helperMain drops privileges, does the job and prints the outcome as JSON.
func helperMain(spec string) int {
	var job helperJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Fprintln(os.Stderr, "posix helper:", err)
		return 2
	}
	// Go applies these to every thread of the process (Linux, Go 1.16+).
	if err := syscall.Setgroups(nil); err != nil {
		fmt.Fprintln(os.Stderr, "posix helper: setgroups:", err)
		return 2
	}
	if err := syscall.Setgid(job.User.GID); err != nil {
		fmt.Fprintln(os.Stderr, "posix helper: setgid:", err)
		return 2
	}
	if err := syscall.Setuid(job.User.UID); err != nil {
		fmt.Fprintln(os.Stderr, "posix helper: setuid:", err)
		return 2
	}
	unix.Umask(0o022)
	var out any
	if job.Op != nil {
		out = doOp(job.Dir, job.Op)
	} else {
		res := map[string]string{}
		for _, name := range job.Cases {
			c, ok := caseByName(name)
			if !ok {
				fmt.Fprintln(os.Stderr, "posix helper: no case", name)
				return 2
			}
			res[name] = c.run(filepath.Join(job.Dir, name))
		}
		out = res
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return 2
	}
	return 0
}

// asUser runs a helper job as job.User and returns its JSON answer.
func asUser(t testing.TB, job helperJob, answer any) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(job)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), posixHelperEnv+"="+string(spec))
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("helper as %s did not finish in 5 minutes: %s", job.User.Name, spec)
	}
	if err != nil {
		t.Fatalf("helper as %s failed: %v\nstderr: %s", job.User.Name, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), answer); err != nil {
		t.Fatalf("helper as %s printed %q: %v", job.User.Name, stdout.String(), err)
	}
}

// ---------------------------------------------------------------- recording

// rec collects what the steps of a case did, as "label=outcome" words.
type rec struct {
	dir string
	out []string
}

func newRec(dir string) *rec { return &rec{dir: dir} }

// p returns the path of name inside the case's directory.
func (r *rec) p(name string) string { return filepath.Join(r.dir, name) }

// e records an error as its errno name ("ok" for none) and says whether it was nil.
func (r *rec) e(label string, err error) bool {
	r.out = append(r.out, label+"="+errName(err))
	return err == nil
}

// v records a value.
func (r *rec) v(label string, format string, args ...any) {
	r.out = append(r.out, label+"="+fmt.Sprintf(format, args...))
}

// check records "ok" when cond holds and what it found otherwise.
func (r *rec) check(label string, cond bool, found string, args ...any) {
	if cond {
		r.out = append(r.out, label+"=ok")
		return
	}
	r.out = append(r.out, label+"=BAD("+fmt.Sprintf(found, args...)+")")
}

func (r *rec) String() string { return strings.Join(r.out, " ") }

// errName reduces an error to what is comparable across file systems: the
// errno's name, never a path.
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	if errors.Is(err, io.EOF) {
		return "EOF"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if errno == unix.EOPNOTSUPP {
			return "EOPNOTSUPP" // the same number as ENOTSUP, by the name the man pages use
		}
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
		return fmt.Sprintf("errno%d", int(errno))
	}
	return "ERR"
}

// Small wrappers that take what the cases need and return only an error.

func create(p string, mode uint32, data string) error {
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, mode)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if data != "" {
		if _, err := unix.Write(fd, []byte(data)); err != nil {
			return err
		}
	}
	return nil
}

func openClose(p string, flags int) error {
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0o644)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func readAll(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

func stat(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Stat(p, &st)
	return st, err
}

func lstat(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	return st, err
}

func nlinkOf(p string) string {
	st, err := lstat(p)
	if err != nil {
		return errName(err)
	}
	return strconv.Itoa(int(st.Nlink))
}

func fnlink(fd int) string {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errName(err)
	}
	return strconv.Itoa(int(st.Nlink))
}

func pread(fd int, n int, off int64) (string, error) {
	b := make([]byte, n)
	got, err := unix.Pread(fd, b, off)
	if err != nil {
		return "", err
	}
	return string(b[:got]), nil
}

func allZero(s string) bool { return strings.Trim(s, "\x00") == "" }

func listDir(p string) (string, error) {
	ents, err := os.ReadDir(p)
	if err != nil {
		return "", err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return strings.Join(names, ","), nil
}

func modeOf(p string) string {
	st, err := lstat(p)
	if err != nil {
		return errName(err)
	}
	return fmt.Sprintf("%o", st.Mode)
}

func ts(sec, nsec int64) unix.Timespec { return unix.Timespec{Sec: sec, Nsec: nsec} }

// pattern returns n bytes that differ from page to page and from zeros.
func pattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (i/7+i/4096)%26)
	}
	return string(b)
}

// ---------------------------------------------------------------- cases

// posixCase is one conformance check.
type posixCase struct {
	name string
	run  func(dir string) string
	// want, if set, is what Linux gives (checked on the plain directory and
	// on the mount) for every user, or per user in wantAs.
	want   string
	wantAs map[string]string
	// mount, if set, marks a known deviation: the mount gives this instead
	// of what the plain directory gives, for the reason in why.
	mount string
	why   string
}

func caseByName(name string) (posixCase, bool) {
	for _, c := range posixCases {
		if c.name == name {
			return c, true
		}
	}
	return posixCase{}, false
}

var posixCases = []posixCase{
	{name: "enoent", run: caseENOENT,
		want: "stat=ENOENT open=ENOENT unlink=ENOENT rmdir=ENOENT rename=ENOENT readlink=ENOENT mkdir-under=ENOENT " +
			"create-under=ENOENT link=ENOENT chmod=ENOENT truncate=ENOENT getxattr=ENOENT utimensat=ENOENT symlink-under=ENOENT " +
			"exchange-missing=ENOENT"},
	{name: "eexist", run: caseEEXIST,
		want: "mkdir=ok mkdir-again=EEXIST create=ok excl=EEXIST mkdir-over-file=EEXIST symlink-over=EEXIST link=ok " +
			"link-again=EEXIST mkfifo-over=EEXIST noreplace=EEXIST dangling=ok excl-dangling=EEXIST mkdir-dangling=EEXIST " +
			"f-content=ok"},
	{name: "enotempty", run: caseENOTEMPTY,
		want: "rmdir=ENOTEMPTY rename-over-full=ENOTEMPTY rename-empty-over-full=ENOTEMPTY rename-full-over-empty=ok moved=x"},
	{name: "eisdir", run: caseEISDIR,
		want: "open-wronly=EISDIR open-rdwr=EISDIR open-creat=EISDIR unlink=EISDIR rename-file-over-dir=EISDIR " +
			"read-dirfd=EISDIR truncate=EISDIR link-dir=EPERM"},
	{name: "enotdir", run: caseENOTDIR,
		want: "stat-under-file=ENOTDIR mkdir-under-file=ENOTDIR create-under-file=ENOTDIR rmdir-file=ENOTDIR " +
			"rename-dir-over-file=ENOTDIR o-directory=ENOTDIR trailing-slash=ENOTDIR unlink-trailing-slash=ENOTDIR " +
			"rename-to-trailing-slash=ENOTDIR"},
	{name: "einval", run: caseEINVAL,
		want: "rename-into-self=EINVAL rename-into-child=EINVAL rmdir-dot=EINVAL readlink-file=EINVAL " +
			"exchange-noreplace=EINVAL rename-dotdot=EBUSY"},
	{name: "namelen", run: caseNameLen,
		want: "create255=ok stat255=ok listed255=ok mkdir255=ok symlink255=ok rename255=ok link255=ok utf8-255=ok " +
			"create256=ENAMETOOLONG mkdir256=ENAMETOOLONG stat256=ENAMETOOLONG unlink256=ENAMETOOLONG rename256=ENAMETOOLONG " +
			"link256=ENAMETOOLONG symlink256=ENAMETOOLONG mkfifo256=ENAMETOOLONG utf8-256=ENAMETOOLONG " +
			"target4095=ok readlink4095=4095 target4096=ENAMETOOLONG path-component256=ENAMETOOLONG"},
	{name: "eloop", run: caseELOOP,
		want: "stat-loop=ELOOP open-loop=ELOOP lstat-loop=ok self=ELOOP chain40=ok chain41=ELOOP nofollow=ELOOP " +
			"nofollow-creat=ELOOP opath-nofollow=ok nofollow-file=ok under-loop=ELOOP"},
	{name: "noexdev", run: caseNoEXDEV,
		want: "rename-file=ok rename-dir=ok link-across=ok exchange=ok rename-up=ok noreplace-across=ok content=ok"},
	{name: "rename-open", run: caseRenameOpen,
		want: "old-fd=old content old-nlink=0 path=new content write-old-fd=ok path-after=new content rdwr-fd=old content"},
	{name: "rename-misc", run: caseRenameMisc,
		want: "self=ok same-inode=ok both-remain=1,1 nlink=2 dir-over-empty=ok file-over-file=ok content=b " +
			"exchange-file-dir=ok types=dir,file"},
	{name: "nlink", run: caseNlink,
		want: "file=1 link=2,2 link2=3 unlink=2 rename=2,ENOENT over=1 dir=2 parent+1=ok sub=3 moveup=2 rmdir=ok parent-back=ok unlinked-fd=0"},
	{name: "times", run: caseTimes,
		want: "set=ok atime=1234567890.123456789 mtime=1500000000.987654321 pre1970=ok mtime-pre1970=-1000.000000005 " +
			"y2200=ok mtime-y2200=7258118400.000000001 omit=ok atime-kept=ok mtime-omit=1600000000.000000042 now=ok recent=ok " +
			"nofollow-link=ok link-mtime=1300000000.000000003 target-untouched=ok"},
	{name: "times-far", run: caseTimesFar,
		mount: "y2286=EOVERFLOW y1653=EOVERFLOW mtime=1000000000.000000000",
		why:   "times are int64 nanoseconds (1677 to 2262): one outside is refused, where ext4 clamps it to its own range (1901 to 2446)"},
	{name: "atime", run: caseAtime,
		mount: "read=ok atime-moved=false",
		why:   "reads do not update access times (as with noatime): a read would otherwise be a record in the log"},
	{name: "tmpfile", run: caseTmpfile,
		mount: "o-tmpfile=EOPNOTSUPP",
		why:   "O_TMPFILE is not supported"},
	{name: "time-updates", run: caseTimeUpdates,
		want: "chmod-mtime-kept=ok write-mtime=ok truncate-mtime=ok link-file-mtime-kept=ok link-dir-mtime=ok " +
			"rename-file-mtime-kept=ok rename-dirs-mtime=ok create-dir-mtime=ok ctime-after-chmod=ok"},
	{name: "sparse", run: caseSparse,
		want: "pwrite=ok size=10485768 head-zero=ok mid-zero=ok tail=x blocks=ok extend=ok size2=20971520 " +
			"ext-zero=ok past-eof=0"},
	{name: "seek-hole", run: caseSeekHole,
		mount: "data=0 hole=10485768",
		why:   "SEEK_DATA/SEEK_HOLE are the kernel's default: the whole file is data (allowed by POSIX)"},
	{name: "big", run: caseBig,
		want: "pwrite=ok size=5368709121 byte=Z zero4g=ok boundary=ok blocks=ok grow=ok size6g=6442450944 " +
			"shrink=ok size=4294967297 tail-zero=ok cross=ok cross-read=ab"},
	{name: "append", run: caseAppend,
		want: "content=ok pos=ok pwrite-appends=ok after-trunc=ok"},
	{name: "excl", run: caseExcl,
		want: "new=ok again=EEXIST dir=EEXIST dangling=EEXIST nofollow=EEXIST creat-existing=ok kept=keep"},
	{name: "truncate", run: caseTruncate,
		want: "down=ok read-down=ok up=ok read-up=ok page=ok tail=ok in-page-zero=ok zero=ok gap=ok otrunc=ok otrunc-size=0 " +
			"same=ok same-content=same " +
			"negative=EINVAL ftrunc-rdonly=EINVAL"},
	{name: "fallocate", run: caseFallocate,
		want: "extend=ok size=100000 zeros=ok keep-size=ok size=100000 inside=ok size=100000 past=ok size=200010 " +
			"zero-len=EINVAL negative=EINVAL"},
	{name: "fallocate-punch", run: caseFallocatePunch,
		mount: "punch=EOPNOTSUPP zero-range=EOPNOTSUPP",
		why:   "the log has no way to record a punched hole yet: PUNCH_HOLE and ZERO_RANGE are refused, as PostgreSQL and SQLite expect of some file systems"},
	{name: "xattr", run: caseXattr,
		want: "get-missing=ENODATA list-empty=ok set=ok get=1 size=1 create-existing=EEXIST replace-missing=ENODATA " +
			"empty=ok get-empty=0 list=user.a,user.b small-buf=ERANGE remove=ok remove-again=ENODATA list2=user.b " +
			"big=ok name255=ok name256=ERANGE dir=ok symlink-user=EPERM"},
	{name: "acl", run: caseACL,
		mount: "setacl=EOPNOTSUPP",
		why:   "POSIX ACLs are not supported (no FUSE_POSIX_ACL): permissions are the mode bits the kernel checks"},
	{name: "special", run: caseSpecial,
		wantAs: map[string]string{
			"root":   "mkfifo=ok fifo-mode=10640 fifo-io=ok sock-mknod=ok sock-type=ok chardev=ok rdev=ok bind=ok connect=ok",
			"nobody": "mkfifo=ok fifo-mode=10640 fifo-io=ok sock-mknod=ok sock-type=ok chardev=EPERM bind=ok connect=ok",
		}},
	{name: "statfs", run: caseStatfs,
		want: "statfs=ok namelen=255 bsize=ok blocks=ok fstatfs=ok same=ok"},
	{name: "unlink-open", run: caseUnlinkOpen,
		want: "unlink=ok nlink=0 read=data write=ok read2=data+more fchmod=ok gone=ENOENT listed= rmdir-open=ok dir-nlink=0 getdents=ENOENT"},
	{name: "perm", run: casePerm,
		wantAs: map[string]string{
			"root": "umask=100644 mkdir-umask=40755 mode000-read=ok mode200-read=ok mode200-write=ok nox-stat=ok " +
				"now-create=ok chown-other=ok chmod-suid=ok suid-after-write=4755 after-truncate=6755 after-otrunc=6755 " +
				"chown-self=ok after-chown=755 access-r=ok",
			"nobody": "umask=100644 mkdir-umask=40755 mode000-read=EACCES mode200-read=EACCES mode200-write=ok nox-stat=EACCES " +
				"now-create=EACCES chown-other=EPERM chmod-suid=ok suid-after-write=755 after-truncate=755 after-otrunc=755 " +
				"chown-self=ok after-chown=755 access-r=EACCES",
		}},
	{name: "sgid", run: caseSetgid,
		want: "file-gid=ok subdir-gid=ok subdir-sgid=ok"},
	{name: "names", run: caseNames,
		want: "create=ok listed=ok stat=ok rename=ok content=ok"},
}

func caseENOENT(d string) string {
	r := newRec(d)
	m := r.p("missing")
	_, err := stat(m)
	r.e("stat", err)
	r.e("open", openClose(m, unix.O_RDONLY))
	r.e("unlink", unix.Unlink(m))
	r.e("rmdir", unix.Rmdir(m))
	r.e("rename", unix.Rename(m, r.p("x")))
	_, err = os.Readlink(m)
	r.e("readlink", err)
	r.e("mkdir-under", unix.Mkdir(filepath.Join(m, "sub"), 0o755))
	r.e("create-under", openClose(filepath.Join(m, "f"), unix.O_CREAT|unix.O_WRONLY))
	r.e("link", unix.Link(m, r.p("x")))
	r.e("chmod", unix.Chmod(m, 0o644))
	r.e("truncate", unix.Truncate(m, 0))
	_, err = unix.Getxattr(m, "user.x", nil)
	r.e("getxattr", err)
	r.e("utimensat", unix.UtimesNanoAt(unix.AT_FDCWD, m, []unix.Timespec{ts(1, 0), ts(1, 0)}, 0))
	r.e("symlink-under", unix.Symlink("t", filepath.Join(m, "l")))
	_ = create(r.p("f"), 0o644, "")
	r.e("exchange-missing", unix.Renameat2(unix.AT_FDCWD, r.p("f"), unix.AT_FDCWD, m, unix.RENAME_EXCHANGE))
	return r.String()
}

func caseEEXIST(d string) string {
	r := newRec(d)
	r.e("mkdir", unix.Mkdir(r.p("d"), 0o755))
	r.e("mkdir-again", unix.Mkdir(r.p("d"), 0o755))
	r.e("create", create(r.p("f"), 0o644, "content"))
	r.e("excl", openClose(r.p("f"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY))
	r.e("mkdir-over-file", unix.Mkdir(r.p("f"), 0o755))
	r.e("symlink-over", unix.Symlink("anything", r.p("f")))
	r.e("link", unix.Link(r.p("f"), r.p("g")))
	r.e("link-again", unix.Link(r.p("f"), r.p("g")))
	r.e("mkfifo-over", unix.Mkfifo(r.p("f"), 0o644))
	r.e("noreplace", unix.Renameat2(unix.AT_FDCWD, r.p("g"), unix.AT_FDCWD, r.p("f"), unix.RENAME_NOREPLACE))
	r.e("dangling", unix.Symlink("nowhere", r.p("dl")))
	r.e("excl-dangling", openClose(r.p("dl"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY))
	r.e("mkdir-dangling", unix.Mkdir(r.p("dl"), 0o755))
	got, _ := readAll(r.p("f"))
	r.check("f-content", got == "content", "%q", got)
	return r.String()
}

func caseENOTEMPTY(d string) string {
	r := newRec(d)
	_ = unix.Mkdir(r.p("full"), 0o755)
	_ = create(r.p("full/x"), 0o644, "")
	_ = unix.Mkdir(r.p("full2"), 0o755)
	_ = create(r.p("full2/y"), 0o644, "")
	_ = unix.Mkdir(r.p("empty"), 0o755)
	r.e("rmdir", unix.Rmdir(r.p("full")))
	r.e("rename-over-full", unix.Rename(r.p("full2"), r.p("full")))
	r.e("rename-empty-over-full", unix.Rename(r.p("empty"), r.p("full")))
	r.e("rename-full-over-empty", unix.Rename(r.p("full"), r.p("empty")))
	l, err := listDir(r.p("empty"))
	if err != nil {
		l = errName(err)
	}
	r.v("moved", "%s", l)
	return r.String()
}

func caseEISDIR(d string) string {
	r := newRec(d)
	_ = unix.Mkdir(r.p("d"), 0o755)
	_ = create(r.p("f"), 0o644, "x")
	r.e("open-wronly", openClose(r.p("d"), unix.O_WRONLY))
	r.e("open-rdwr", openClose(r.p("d"), unix.O_RDWR))
	r.e("open-creat", openClose(r.p("d"), unix.O_CREAT|unix.O_WRONLY))
	r.e("unlink", unix.Unlink(r.p("d")))
	r.e("rename-file-over-dir", unix.Rename(r.p("f"), r.p("d")))
	fd, err := unix.Open(r.p("d"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err == nil {
		_, err = unix.Read(fd, make([]byte, 10))
		unix.Close(fd)
	}
	r.e("read-dirfd", err)
	r.e("truncate", unix.Truncate(r.p("d"), 0))
	r.e("link-dir", unix.Link(r.p("d"), r.p("d2")))
	return r.String()
}

func caseENOTDIR(d string) string {
	r := newRec(d)
	_ = create(r.p("f"), 0o644, "x")
	_ = unix.Mkdir(r.p("d"), 0o755)
	_, err := stat(r.p("f/x"))
	r.e("stat-under-file", err)
	r.e("mkdir-under-file", unix.Mkdir(r.p("f/x"), 0o755))
	r.e("create-under-file", openClose(r.p("f/x"), unix.O_CREAT|unix.O_WRONLY))
	r.e("rmdir-file", unix.Rmdir(r.p("f")))
	r.e("rename-dir-over-file", unix.Rename(r.p("d"), r.p("f")))
	r.e("o-directory", openClose(r.p("f"), unix.O_RDONLY|unix.O_DIRECTORY))
	r.e("trailing-slash", openClose(r.p("f")+"/", unix.O_RDONLY))
	r.e("unlink-trailing-slash", unix.Unlink(r.p("f")+"/"))
	r.e("rename-to-trailing-slash", unix.Rename(r.p("f"), r.p("g")+"/"))
	return r.String()
}

func caseEINVAL(d string) string {
	r := newRec(d)
	_ = unix.Mkdir(r.p("d"), 0o755)
	_ = unix.Mkdir(r.p("d/sub"), 0o755)
	_ = create(r.p("f"), 0o644, "")
	_ = create(r.p("g"), 0o644, "")
	r.e("rename-into-self", unix.Rename(r.p("d"), r.p("d/inside")))
	r.e("rename-into-child", unix.Rename(r.p("d"), r.p("d/sub/deeper")))
	r.e("rmdir-dot", unix.Rmdir(r.p("d")+"/."))
	_, err := os.Readlink(r.p("f"))
	r.e("readlink-file", err)
	r.e("exchange-noreplace", unix.Renameat2(unix.AT_FDCWD, r.p("f"), unix.AT_FDCWD, r.p("g"), unix.RENAME_EXCHANGE|unix.RENAME_NOREPLACE))
	r.e("rename-dotdot", unix.Rename(r.p("d/sub")+"/..", r.p("x")))
	return r.String()
}

func caseNameLen(d string) string {
	r := newRec(d)
	n255 := strings.Repeat("a", 255)
	n256 := strings.Repeat("b", 256)
	r.e("create255", create(r.p(n255), 0o644, "x"))
	_, err := stat(r.p(n255))
	r.e("stat255", err)
	l, _ := listDir(d)
	r.check("listed255", l == n255, "%d bytes listed", len(l))
	r.e("mkdir255", unix.Mkdir(r.p(strings.Repeat("c", 255)), 0o755))
	r.e("symlink255", unix.Symlink(n255, r.p(strings.Repeat("s", 255))))
	r.e("rename255", unix.Rename(r.p(n255), r.p(strings.Repeat("r", 255))))
	r.e("link255", unix.Link(r.p(strings.Repeat("r", 255)), r.p(strings.Repeat("l", 255))))
	// 127 two-byte characters and one byte: 255 bytes, 128 characters.
	r.e("utf8-255", create(r.p(strings.Repeat("é", 127)+"a"), 0o644, ""))
	r.e("create256", openClose(r.p(n256), unix.O_CREAT|unix.O_WRONLY))
	r.e("mkdir256", unix.Mkdir(r.p(n256), 0o755))
	_, err = stat(r.p(n256))
	r.e("stat256", err)
	r.e("unlink256", unix.Unlink(r.p(n256)))
	r.e("rename256", unix.Rename(r.p(strings.Repeat("r", 255)), r.p(n256)))
	r.e("link256", unix.Link(r.p(strings.Repeat("r", 255)), r.p(n256)))
	r.e("symlink256", unix.Symlink("t", r.p(n256)))
	r.e("mkfifo256", unix.Mkfifo(r.p(n256), 0o644))
	r.e("utf8-256", openClose(r.p(strings.Repeat("é", 128)), unix.O_CREAT|unix.O_WRONLY))
	long := strings.Repeat("t", 4095)
	r.e("target4095", unix.Symlink(long, r.p("long")))
	got, _ := os.Readlink(r.p("long"))
	r.v("readlink4095", "%d", len(got))
	r.e("target4096", unix.Symlink(long+"t", r.p("long2")))
	r.e("path-component256", openClose(r.p(n256+"/x"), unix.O_RDONLY))
	return r.String()
}

func caseELOOP(d string) string {
	r := newRec(d)
	_ = unix.Symlink("b", r.p("a"))
	_ = unix.Symlink("a", r.p("b"))
	_, err := stat(r.p("a"))
	r.e("stat-loop", err)
	r.e("open-loop", openClose(r.p("a"), unix.O_RDONLY))
	_, err = lstat(r.p("a"))
	r.e("lstat-loop", err)
	_ = unix.Symlink("self", r.p("self"))
	r.e("self", openClose(r.p("self"), unix.O_RDONLY))
	// Linux follows at most 40 symlinks in one lookup.
	_ = create(r.p("target"), 0o644, "t")
	prev := "target"
	for i := 1; i <= 41; i++ {
		name := fmt.Sprintf("c%d", i)
		_ = unix.Symlink(prev, r.p(name))
		prev = name
	}
	r.e("chain40", openClose(r.p("c40"), unix.O_RDONLY))
	r.e("chain41", openClose(r.p("c41"), unix.O_RDONLY))
	r.e("nofollow", openClose(r.p("c1"), unix.O_RDONLY|unix.O_NOFOLLOW))
	r.e("nofollow-creat", openClose(r.p("c1"), unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW))
	r.e("opath-nofollow", openClose(r.p("c1"), unix.O_PATH|unix.O_NOFOLLOW))
	r.e("nofollow-file", openClose(r.p("target"), unix.O_RDONLY|unix.O_NOFOLLOW))
	_, err = stat(r.p("a/x"))
	r.e("under-loop", err)
	return r.String()
}

func caseNoEXDEV(d string) string {
	r := newRec(d)
	_ = unix.Mkdir(r.p("a"), 0o755)
	_ = unix.Mkdir(r.p("b"), 0o755)
	_ = unix.Mkdir(r.p("b/sub"), 0o755)
	_ = create(r.p("a/f"), 0o644, "payload")
	r.e("rename-file", unix.Rename(r.p("a/f"), r.p("b/sub/f")))
	r.e("rename-dir", unix.Rename(r.p("b/sub"), r.p("a/sub")))
	r.e("link-across", unix.Link(r.p("a/sub/f"), r.p("b/g")))
	_ = unix.Mkdir(r.p("b/dir"), 0o755)
	r.e("exchange", unix.Renameat2(unix.AT_FDCWD, r.p("a/sub"), unix.AT_FDCWD, r.p("b/dir"), unix.RENAME_EXCHANGE))
	r.e("rename-up", unix.Rename(r.p("b/dir/f"), r.p("f")))
	r.e("noreplace-across", unix.Renameat2(unix.AT_FDCWD, r.p("f"), unix.AT_FDCWD, r.p("a/h"), unix.RENAME_NOREPLACE))
	got, _ := readAll(r.p("a/h"))
	got2, _ := readAll(r.p("b/g"))
	r.check("content", got == "payload" && got2 == "payload", "%q %q", got, got2)
	return r.String()
}

func caseRenameOpen(d string) string {
	r := newRec(d)
	_ = create(r.p("f"), 0o644, "old content")
	fd, err := unix.Open(r.p("f"), unix.O_RDONLY, 0)
	if err != nil {
		return "open=" + errName(err)
	}
	defer unix.Close(fd)
	wfd, err := unix.Open(r.p("f"), unix.O_RDWR, 0)
	if err != nil {
		return "open-rdwr=" + errName(err)
	}
	defer unix.Close(wfd)
	_ = create(r.p("g"), 0o644, "new content")
	if err := unix.Rename(r.p("g"), r.p("f")); err != nil {
		return "rename=" + errName(err)
	}
	got, err := pread(fd, 100, 0)
	if err != nil {
		got = errName(err)
	}
	r.v("old-fd", "%s", got)
	r.v("old-nlink", "%s", fnlink(fd))
	got, _ = readAll(r.p("f"))
	r.v("path", "%s", got)
	_, err = unix.Pwrite(wfd, []byte("OLD"), 0)
	r.e("write-old-fd", err)
	got, _ = readAll(r.p("f"))
	r.v("path-after", "%s", got)
	got, _ = pread(wfd, 100, 0)
	r.v("rdwr-fd", "%s", strings.Replace(got, "OLD", "old", 1))
	return r.String()
}

func caseRenameMisc(d string) string {
	r := newRec(d)
	_ = create(r.p("f"), 0o644, "a")
	r.e("self", unix.Rename(r.p("f"), r.p("f")))
	_ = unix.Link(r.p("f"), r.p("f2"))
	r.e("same-inode", unix.Rename(r.p("f"), r.p("f2")))
	_, e1 := stat(r.p("f"))
	_, e2 := stat(r.p("f2"))
	r.v("both-remain", "%d,%d", boolInt(e1 == nil), boolInt(e2 == nil))
	r.v("nlink", "%s", nlinkOf(r.p("f")))
	_ = unix.Mkdir(r.p("d1"), 0o755)
	_ = unix.Mkdir(r.p("d2"), 0o755)
	r.e("dir-over-empty", unix.Rename(r.p("d1"), r.p("d2")))
	_ = create(r.p("b"), 0o644, "b")
	r.e("file-over-file", unix.Rename(r.p("b"), r.p("f")))
	got, _ := readAll(r.p("f"))
	r.v("content", "%s", got)
	r.e("exchange-file-dir", unix.Renameat2(unix.AT_FDCWD, r.p("f"), unix.AT_FDCWD, r.p("d2"), unix.RENAME_EXCHANGE))
	s1, _ := lstat(r.p("f"))
	s2, _ := lstat(r.p("d2"))
	kind := func(st unix.Stat_t) string {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return "dir"
		}
		return "file"
	}
	r.v("types", "%s,%s", kind(s1), kind(s2))
	return r.String()
}

func caseNlink(d string) string {
	r := newRec(d)
	_ = create(r.p("f"), 0o644, "x")
	r.v("file", "%s", nlinkOf(r.p("f")))
	_ = unix.Link(r.p("f"), r.p("g"))
	r.v("link", "%s,%s", nlinkOf(r.p("f")), nlinkOf(r.p("g")))
	_ = unix.Link(r.p("f"), r.p("h"))
	r.v("link2", "%s", nlinkOf(r.p("f")))
	_ = unix.Unlink(r.p("g"))
	r.v("unlink", "%s", nlinkOf(r.p("f")))
	_ = unix.Rename(r.p("h"), r.p("i"))
	r.v("rename", "%s,%s", nlinkOf(r.p("i")), nlinkOf(r.p("h")))
	_ = create(r.p("j"), 0o644, "j")
	_ = unix.Rename(r.p("j"), r.p("f")) // f's old inode keeps only the name i
	r.v("over", "%s", nlinkOf(r.p("i")))
	st0, _ := lstat(d)
	_ = unix.Mkdir(r.p("d"), 0o755)
	r.v("dir", "%s", nlinkOf(r.p("d")))
	st1, _ := lstat(d)
	r.check("parent+1", st1.Nlink == st0.Nlink+1, "%d -> %d", st0.Nlink, st1.Nlink)
	_ = unix.Mkdir(r.p("d/s"), 0o755)
	r.v("sub", "%s", nlinkOf(r.p("d")))
	_ = unix.Rename(r.p("d/s"), r.p("s2"))
	r.v("moveup", "%s", nlinkOf(r.p("d")))
	r.e("rmdir", unix.Rmdir(r.p("s2")))
	st2, _ := lstat(d)
	r.check("parent-back", st2.Nlink == st1.Nlink, "%d, want %d", st2.Nlink, st1.Nlink)
	fd, err := unix.Open(r.p("i"), unix.O_RDONLY, 0)
	if err == nil {
		_ = unix.Unlink(r.p("i"))
		r.v("unlinked-fd", "%s", fnlink(fd))
		unix.Close(fd)
	}
	return r.String()
}

// fmtTime prints a timespec as its two fields, "sec.nsec": -1000 s and
// 5 ns (that is -999.999999995 s) prints as -1000.000000005.
func fmtTime(t unix.Timespec) string { return fmt.Sprintf("%d.%09d", t.Sec, t.Nsec) }

func caseTimes(d string) string {
	r := newRec(d)
	f := r.p("f")
	_ = create(f, 0o644, "x")
	r.e("set", unix.UtimesNanoAt(unix.AT_FDCWD, f, []unix.Timespec{ts(1234567890, 123456789), ts(1500000000, 987654321)}, 0))
	st, _ := stat(f)
	r.v("atime", "%s", fmtTime(st.Atim))
	r.v("mtime", "%s", fmtTime(st.Mtim))
	// -999.999999995 s: before 1970, stored as -1000 s + 5 ns.
	r.e("pre1970", unix.UtimesNanoAt(unix.AT_FDCWD, f, []unix.Timespec{ts(-1000, 5), ts(-1000, 5)}, 0))
	st, _ = stat(f)
	r.v("mtime-pre1970", "%s", fmtTime(st.Mtim))
	r.e("y2200", unix.UtimesNanoAt(unix.AT_FDCWD, f, []unix.Timespec{ts(7258118400, 1), ts(7258118400, 1)}, 0))
	st, _ = stat(f)
	r.v("mtime-y2200", "%s", fmtTime(st.Mtim))
	before := st.Atim
	r.e("omit", unix.UtimesNanoAt(unix.AT_FDCWD, f, []unix.Timespec{{Nsec: unix.UTIME_OMIT}, ts(1600000000, 42)}, 0))
	st, _ = stat(f)
	r.check("atime-kept", st.Atim == before, "%s", fmtTime(st.Atim))
	r.v("mtime-omit", "%s", fmtTime(st.Mtim))
	r.e("now", unix.UtimesNanoAt(unix.AT_FDCWD, f, []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}, 0))
	st, _ = stat(f)
	age := time.Since(time.Unix(st.Mtim.Sec, st.Mtim.Nsec))
	r.check("recent", age > -5*time.Second && age < 5*time.Second, "mtime %v away from now", age)
	_ = unix.Symlink("f", r.p("l"))
	st0, _ := stat(f)
	r.e("nofollow-link", unix.UtimesNanoAt(unix.AT_FDCWD, r.p("l"), []unix.Timespec{ts(1300000000, 3), ts(1300000000, 3)}, unix.AT_SYMLINK_NOFOLLOW))
	lst, _ := lstat(r.p("l"))
	r.v("link-mtime", "%s", fmtTime(lst.Mtim))
	st, _ = stat(f)
	r.check("target-untouched", st.Mtim == st0.Mtim, "target mtime %s, was %s", fmtTime(st.Mtim), fmtTime(st0.Mtim))
	return r.String()
}

// caseTimesFar sets times outside what the mount can keep.
func caseTimesFar(d string) string {
	r := newRec(d)
	f := r.p("f")
	_ = create(f, 0o644, "x")
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, f, []unix.Timespec{ts(1000000000, 0), ts(1000000000, 0)}, 0)
	r.e("y2286", unix.UtimesNanoAt(unix.AT_FDCWD, f, []unix.Timespec{ts(10000000000, 1), ts(10000000000, 1)}, 0))
	r.e("y1653", unix.UtimesNanoAt(unix.AT_FDCWD, f, []unix.Timespec{ts(-10000000000, 0), ts(-10000000000, 0)}, 0))
	st, _ := stat(f)
	r.v("mtime", "%s", fmtTime(st.Mtim))
	return r.String()
}

// caseAtime reads a file whose access time is in 2001 (relatime updates it
// then: it is more than a day old).
func caseAtime(d string) string {
	r := newRec(d)
	f := r.p("f")
	_ = create(f, 0o644, "x")
	old := ts(1000000000, 0)
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, f, []unix.Timespec{old, old}, 0)
	_, err := readAll(f)
	r.e("read", err)
	st, _ := stat(f)
	r.v("atime-moved", "%v", st.Atim != old)
	return r.String()
}

func caseTmpfile(d string) string {
	r := newRec(d)
	fd, err := unix.Open(d, unix.O_TMPFILE|unix.O_RDWR, 0o600)
	if err == nil {
		unix.Close(fd)
	}
	r.e("o-tmpfile", err)
	return r.String()
}

// caseTimeUpdates checks which operations change mtime: each file involved
// is set to a time in 2001 first, and then it is plain whether the
// operation moved it.
func caseTimeUpdates(d string) string {
	r := newRec(d)
	old := ts(1000000000, 0)
	setOld := func(paths ...string) {
		for _, p := range paths {
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{old, old}, unix.AT_SYMLINK_NOFOLLOW)
		}
	}
	isOld := func(p string) bool {
		st, err := lstat(p)
		return err == nil && st.Mtim == old
	}
	f := r.p("f")
	_ = create(f, 0o644, "x")
	_ = unix.Mkdir(r.p("a"), 0o755)
	_ = unix.Mkdir(r.p("b"), 0o755)
	setOld(f)
	st0, _ := lstat(f)
	_ = unix.Chmod(f, 0o600)
	r.check("chmod-mtime-kept", isOld(f), "mtime moved")
	st1, _ := lstat(f)
	setOld(f)
	_ = os.WriteFile(f, []byte("y"), 0o644)
	r.check("write-mtime", !isOld(f), "mtime did not move")
	setOld(f)
	_ = unix.Truncate(f, 0)
	r.check("truncate-mtime", !isOld(f), "mtime did not move")
	setOld(f, r.p("a"))
	_ = unix.Link(f, r.p("a/l"))
	r.check("link-file-mtime-kept", isOld(f), "mtime moved")
	r.check("link-dir-mtime", !isOld(r.p("a")), "directory mtime did not move")
	setOld(f, r.p("a"), r.p("b"))
	_ = unix.Rename(r.p("a/l"), r.p("b/l"))
	r.check("rename-file-mtime-kept", isOld(r.p("b/l")), "mtime moved")
	r.check("rename-dirs-mtime", !isOld(r.p("a")) && !isOld(r.p("b")), "a moved %v, b moved %v", !isOld(r.p("a")), !isOld(r.p("b")))
	setOld(r.p("a"))
	_ = create(r.p("a/new"), 0o644, "")
	r.check("create-dir-mtime", !isOld(r.p("a")), "directory mtime did not move")
	// ctime cannot be set: it must be at least what it was before the chmod.
	r.check("ctime-after-chmod", !timeBefore(st1.Ctim, st0.Ctim), "ctime went back")
	return r.String()
}

func timeBefore(a, b unix.Timespec) bool {
	return a.Sec < b.Sec || a.Sec == b.Sec && a.Nsec < b.Nsec
}

func caseSparse(d string) string {
	r := newRec(d)
	fd, err := unix.Open(r.p("f"), unix.O_CREAT|unix.O_RDWR, 0o644)
	if err != nil {
		return "open=" + errName(err)
	}
	defer unix.Close(fd)
	const off = 10<<20 + 7
	_, err = unix.Pwrite(fd, []byte("x"), off)
	r.e("pwrite", err)
	// st_blocks counts what reached the file system: with a writeback
	// cache, that is after fsync (or close).
	_ = unix.Fsync(fd)
	var st unix.Stat_t
	_ = unix.Fstat(fd, &st)
	r.v("size", "%d", st.Size)
	got, _ := pread(fd, 4096, 0)
	r.check("head-zero", len(got) == 4096 && allZero(got), "%d bytes", len(got))
	got, _ = pread(fd, 8192, 5<<20+100)
	r.check("mid-zero", len(got) == 8192 && allZero(got), "%d bytes", len(got))
	got, _ = pread(fd, 1, off)
	r.v("tail", "%s", got)
	r.check("blocks", st.Blocks > 0 && st.Blocks*512 < st.Size/16, "%d blocks for %d bytes", st.Blocks, st.Size)
	r.e("extend", unix.Ftruncate(fd, 20<<20))
	_ = unix.Fstat(fd, &st)
	r.v("size2", "%d", st.Size)
	got, _ = pread(fd, 4096, 15<<20)
	r.check("ext-zero", len(got) == 4096 && allZero(got), "%d bytes", len(got))
	got, _ = pread(fd, 10, 30<<20)
	r.v("past-eof", "%d", len(got))
	return r.String()
}

func caseSeekHole(d string) string {
	r := newRec(d)
	fd, err := unix.Open(r.p("f"), unix.O_CREAT|unix.O_RDWR, 0o644)
	if err != nil {
		return "open=" + errName(err)
	}
	defer unix.Close(fd)
	_, _ = unix.Pwrite(fd, []byte("x"), 10<<20+7)
	data, err := unix.Seek(fd, 0, unix.SEEK_DATA)
	if err != nil {
		r.e("data", err)
	} else {
		r.v("data", "%d", data)
	}
	hole, err := unix.Seek(fd, 0, unix.SEEK_HOLE)
	if err != nil {
		r.e("hole", err)
	} else {
		r.v("hole", "%d", hole)
	}
	return r.String()
}

func caseBig(d string) string {
	r := newRec(d)
	fd, err := unix.Open(r.p("big"), unix.O_CREAT|unix.O_RDWR, 0o644)
	if err != nil {
		return "open=" + errName(err)
	}
	defer unix.Close(fd)
	const g = int64(1) << 30
	_, err = unix.Pwrite(fd, []byte("Z"), 5*g)
	r.e("pwrite", err)
	_ = unix.Fsync(fd)
	var st unix.Stat_t
	_ = unix.Fstat(fd, &st)
	r.v("size", "%d", st.Size)
	got, _ := pread(fd, 1, 5*g)
	r.v("byte", "%s", got)
	got, _ = pread(fd, 4096, 4*g)
	r.check("zero4g", len(got) == 4096 && allZero(got), "%d bytes", len(got))
	got, _ = pread(fd, 8, 4*g-4)
	r.check("boundary", len(got) == 8 && allZero(got), "%q", got)
	r.check("blocks", st.Blocks > 0 && st.Blocks*512 < 1<<20, "%d blocks", st.Blocks)
	r.e("grow", unix.Ftruncate(fd, 6*g))
	_ = unix.Fstat(fd, &st)
	r.v("size6g", "%d", st.Size)
	r.e("shrink", unix.Ftruncate(fd, 4*g+1))
	_ = unix.Fstat(fd, &st)
	r.v("size", "%d", st.Size)
	got, _ = pread(fd, 1, 4*g)
	r.check("tail-zero", got == "\x00", "%q", got)
	_, err = unix.Pwrite(fd, []byte("ab"), 4*g-1)
	r.e("cross", err)
	got, _ = pread(fd, 2, 4*g-1)
	r.v("cross-read", "%s", got)
	return r.String()
}

func caseAppend(d string) string {
	r := newRec(d)
	f := r.p("f")
	_ = create(f, 0o644, "start\n")
	a, err := unix.Open(f, unix.O_WRONLY|unix.O_APPEND, 0)
	if err != nil {
		return "open=" + errName(err)
	}
	defer unix.Close(a)
	b, err := unix.Open(f, unix.O_WRONLY|unix.O_APPEND, 0)
	if err != nil {
		return "open2=" + errName(err)
	}
	defer unix.Close(b)
	_, _ = unix.Write(a, []byte("one\n"))
	_, _ = unix.Write(b, []byte("two\n"))
	_, _ = unix.Write(a, []byte("three\n"))
	got, _ := readAll(f)
	r.check("content", got == "start\none\ntwo\nthree\n", "%q", got)
	pos, _ := unix.Seek(a, 0, io.SeekCurrent)
	r.check("pos", pos == int64(len(got)), "position %d, size %d", pos, len(got))
	// Linux: pwrite on an O_APPEND descriptor appends (a documented bug).
	_, _ = unix.Pwrite(a, []byte("P"), 0)
	got, _ = readAll(f)
	r.check("pwrite-appends", got == "start\none\ntwo\nthree\nP", "%q", got)
	_ = unix.Truncate(f, 2)
	_, _ = unix.Write(b, []byte("!"))
	got, _ = readAll(f)
	r.check("after-trunc", got == "st!", "%q", got)
	return r.String()
}

func caseExcl(d string) string {
	r := newRec(d)
	r.e("new", openClose(r.p("f"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY))
	r.e("again", openClose(r.p("f"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY))
	_ = unix.Mkdir(r.p("d"), 0o755)
	r.e("dir", openClose(r.p("d"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY))
	_ = unix.Symlink("nowhere", r.p("dl"))
	r.e("dangling", openClose(r.p("dl"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY))
	r.e("nofollow", openClose(r.p("dl"), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY))
	_ = create(r.p("k"), 0o644, "keep")
	r.e("creat-existing", openClose(r.p("k"), unix.O_CREAT|unix.O_WRONLY))
	got, _ := readAll(r.p("k"))
	r.v("kept", "%s", got)
	return r.String()
}

func caseTruncate(d string) string {
	r := newRec(d)
	f := r.p("f")
	pat := pattern(10000)
	_ = create(f, 0o644, pat)
	r.e("down", unix.Truncate(f, 5000))
	got, _ := readAll(f)
	r.check("read-down", got == pat[:5000], "%d bytes", len(got))
	r.e("up", unix.Truncate(f, 20000))
	got, _ = readAll(f)
	r.check("read-up", len(got) == 20000 && got[:5000] == pat[:5000] && allZero(got[5000:]), "%d bytes", len(got))
	_ = create(f, 0o644, pattern(3*4096))
	r.e("page", unix.Truncate(f, 4096))
	_ = unix.Truncate(f, 4097)
	got, _ = readAll(f)
	r.check("tail", len(got) == 4097 && got[:4096] == pattern(4096) && got[4096] == 0, "%d bytes", len(got))
	// Cut inside a page, then grow again: the cut part reads as zeros.
	_ = create(f, 0o644, strings.Repeat("A", 4096))
	_ = unix.Truncate(f, 100)
	_ = unix.Truncate(f, 4096)
	got, _ = readAll(f)
	r.check("in-page-zero", len(got) == 4096 && got[:100] == strings.Repeat("A", 100) && allZero(got[100:]), "%d bytes", len(got))
	r.e("zero", unix.Truncate(f, 0))
	fd, _ := unix.Open(f, unix.O_WRONLY, 0)
	_, _ = unix.Pwrite(fd, []byte("end"), 8192)
	unix.Close(fd)
	got, _ = readAll(f)
	r.check("gap", len(got) == 8195 && allZero(got[:8192]) && got[8192:] == "end", "%d bytes", len(got))
	r.e("otrunc", openClose(f, unix.O_WRONLY|unix.O_TRUNC))
	st, _ := stat(f)
	r.v("otrunc-size", "%d", st.Size)
	_ = create(r.p("g"), 0o644, "same")
	r.e("same", unix.Truncate(r.p("g"), 4)) // to the size it has: nothing changes
	got, _ = readAll(r.p("g"))
	r.v("same-content", "%s", got)
	r.e("negative", unix.Truncate(f, -1))
	fd, _ = unix.Open(f, unix.O_RDONLY, 0)
	r.e("ftrunc-rdonly", unix.Ftruncate(fd, 0))
	unix.Close(fd)
	return r.String()
}

func caseFallocate(d string) string {
	r := newRec(d)
	fd, err := unix.Open(r.p("f"), unix.O_CREAT|unix.O_RDWR, 0o644)
	if err != nil {
		return "open=" + errName(err)
	}
	defer unix.Close(fd)
	size := func() {
		var st unix.Stat_t
		_ = unix.Fstat(fd, &st)
		r.v("size", "%d", st.Size)
	}
	r.e("extend", unix.Fallocate(fd, 0, 0, 100000))
	size()
	got, _ := pread(fd, 100000, 0)
	r.check("zeros", len(got) == 100000 && allZero(got), "%d bytes", len(got))
	r.e("keep-size", unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 0, 200000))
	size()
	r.e("inside", unix.Fallocate(fd, 0, 0, 10))
	size()
	r.e("past", unix.Fallocate(fd, 0, 200000, 10))
	size()
	r.e("zero-len", unix.Fallocate(fd, 0, 0, 0))
	r.e("negative", unix.Fallocate(fd, 0, -1, 10))
	return r.String()
}

func caseFallocatePunch(d string) string {
	r := newRec(d)
	fd, err := unix.Open(r.p("f"), unix.O_CREAT|unix.O_RDWR, 0o644)
	if err != nil {
		return "open=" + errName(err)
	}
	defer unix.Close(fd)
	_, _ = unix.Pwrite(fd, []byte(pattern(3*4096)), 0)
	r.e("punch", unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 4096, 4096))
	r.e("zero-range", unix.Fallocate(fd, unix.FALLOC_FL_ZERO_RANGE, 0, 4096))
	return r.String()
}

func caseXattr(d string) string {
	r := newRec(d)
	f := r.p("f")
	_ = create(f, 0o644, "")
	_, err := unix.Getxattr(f, "user.a", make([]byte, 10))
	r.e("get-missing", err)
	n, err := unix.Listxattr(f, make([]byte, 100))
	r.check("list-empty", err == nil && n == 0, "%d bytes, %v", n, err)
	r.e("set", unix.Setxattr(f, "user.a", []byte("1"), 0))
	buf := make([]byte, 100)
	n, err = unix.Getxattr(f, "user.a", buf)
	if err != nil {
		r.e("get", err)
	} else {
		r.v("get", "%s", buf[:n])
	}
	n, _ = unix.Getxattr(f, "user.a", nil)
	r.v("size", "%d", n)
	r.e("create-existing", unix.Setxattr(f, "user.a", []byte("2"), unix.XATTR_CREATE))
	r.e("replace-missing", unix.Setxattr(f, "user.b", []byte("2"), unix.XATTR_REPLACE))
	r.e("empty", unix.Setxattr(f, "user.b", nil, 0))
	n, err = unix.Getxattr(f, "user.b", buf)
	if err != nil {
		r.e("get-empty", err)
	} else {
		r.v("get-empty", "%d", n)
	}
	list := func() string {
		n, err := unix.Listxattr(f, buf)
		if err != nil {
			return errName(err)
		}
		names := strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00")
		slices.Sort(names)
		return strings.Join(names, ",")
	}
	r.v("list", "%s", list())
	_ = unix.Setxattr(f, "user.a", []byte("longer value"), 0)
	_, err = unix.Getxattr(f, "user.a", make([]byte, 3))
	r.e("small-buf", err)
	r.e("remove", unix.Removexattr(f, "user.a"))
	r.e("remove-again", unix.Removexattr(f, "user.a"))
	r.v("list2", "%s", list())
	r.e("big", unix.Setxattr(f, "user.big", bytes.Repeat([]byte("v"), 3000), 0))
	r.e("name255", unix.Setxattr(f, "user."+strings.Repeat("n", 250), []byte("x"), 0))
	r.e("name256", unix.Setxattr(f, "user."+strings.Repeat("n", 251), []byte("x"), 0))
	_ = unix.Mkdir(r.p("d"), 0o755)
	r.e("dir", unix.Setxattr(r.p("d"), "user.d", []byte("x"), 0))
	_ = unix.Symlink("f", r.p("l"))
	r.e("symlink-user", unix.Lsetxattr(r.p("l"), "user.l", []byte("x"), 0))
	return r.String()
}

func caseACL(d string) string {
	r := newRec(d)
	f := r.p("f")
	_ = create(f, 0o644, "")
	// A minimal access ACL (user::rw- group::r-- other::r--) in the
	// kernel's xattr format: version 2, then (tag, perm, id) entries.
	acl := []byte{2, 0, 0, 0,
		1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
		4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
		0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff}
	r.e("setacl", unix.Setxattr(f, "system.posix_acl_access", acl, 0))
	return r.String()
}

func caseSpecial(d string) string {
	r := newRec(d)
	r.e("mkfifo", unix.Mkfifo(r.p("p"), 0o640))
	r.v("fifo-mode", "%s", modeOf(r.p("p")))
	fd, err := unix.Open(r.p("p"), unix.O_RDWR|unix.O_NONBLOCK, 0)
	if err == nil {
		_, _ = unix.Write(fd, []byte("hi"))
		b := make([]byte, 10)
		n, _ := unix.Read(fd, b)
		r.check("fifo-io", string(b[:n]) == "hi", "%q", b[:n])
		unix.Close(fd)
	} else {
		r.e("fifo-io", err)
	}
	r.e("sock-mknod", unix.Mknod(r.p("s"), unix.S_IFSOCK|0o644, 0))
	st, _ := lstat(r.p("s"))
	r.check("sock-type", st.Mode&unix.S_IFMT == unix.S_IFSOCK, "mode %o", st.Mode)
	dev := int(unix.Mkdev(1, 3))
	if r.e("chardev", unix.Mknod(r.p("c"), unix.S_IFCHR|0o600, dev)) {
		st, _ = lstat(r.p("c"))
		r.check("rdev", st.Rdev == uint64(dev) && st.Mode&unix.S_IFMT == unix.S_IFCHR, "rdev %x mode %o", st.Rdev, st.Mode)
	}
	// A unix socket bound on the file system: the kernel serves it.
	sp := r.p("sock")
	l, err := net.Listen("unix", sp)
	r.e("bind", err)
	if err == nil {
		defer l.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				_, _ = c.Write([]byte("hello"))
				c.Close()
			}
		}()
		c, err := net.DialTimeout("unix", sp, 5*time.Second)
		if err == nil {
			b, _ := io.ReadAll(c)
			c.Close()
			r.check("connect", string(b) == "hello", "%q", b)
		} else {
			r.e("connect", err)
		}
	}
	return r.String()
}

func caseStatfs(d string) string {
	r := newRec(d)
	var st unix.Statfs_t
	r.e("statfs", unix.Statfs(d, &st))
	r.v("namelen", "%d", st.Namelen)
	r.check("bsize", st.Bsize > 0 && st.Frsize > 0, "bsize %d frsize %d", st.Bsize, st.Frsize)
	r.check("blocks", st.Blocks > 0 && st.Bfree <= st.Blocks && st.Bavail <= st.Bfree, "blocks %d free %d avail %d", st.Blocks, st.Bfree, st.Bavail)
	fd, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err == nil {
		var st2 unix.Statfs_t
		r.e("fstatfs", unix.Fstatfs(fd, &st2))
		unix.Close(fd)
		r.check("same", st2.Type == st.Type && st2.Namelen == st.Namelen, "type %x/%x", st.Type, st2.Type)
	}
	return r.String()
}

func caseUnlinkOpen(d string) string {
	r := newRec(d)
	f := r.p("f")
	_ = create(f, 0o644, "data")
	fd, err := unix.Open(f, unix.O_RDWR, 0)
	if err != nil {
		return "open=" + errName(err)
	}
	defer unix.Close(fd)
	r.e("unlink", unix.Unlink(f))
	r.v("nlink", "%s", fnlink(fd))
	got, _ := pread(fd, 100, 0)
	r.v("read", "%s", got)
	_, err = unix.Pwrite(fd, []byte("+more"), 4)
	r.e("write", err)
	got, _ = pread(fd, 100, 0)
	r.v("read2", "%s", got)
	r.e("fchmod", unix.Fchmod(fd, 0o600))
	_, err = stat(f)
	r.e("gone", err)
	l, _ := listDir(d)
	r.v("listed", "%s", l)
	_ = unix.Mkdir(r.p("dir"), 0o755)
	dfd, err := unix.Open(r.p("dir"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err == nil {
		defer unix.Close(dfd)
		r.e("rmdir-open", unix.Rmdir(r.p("dir")))
		r.v("dir-nlink", "%s", fnlink(dfd))
		buf := make([]byte, 4096)
		n, err := unix.Getdents(dfd, buf)
		if err != nil {
			r.e("getdents", err)
		} else {
			var names []string
			_, _, names = unix.ParseDirent(buf[:n], -1, names)
			r.v("getdents", "%s", strings.Join(names, ","))
		}
	}
	return r.String()
}

func casePerm(d string) string {
	r := newRec(d)
	f := r.p("f")
	_ = create(f, 0o666, "secret")
	r.v("umask", "%s", modeOf(f))
	_ = unix.Mkdir(r.p("um"), 0o777)
	r.v("mkdir-umask", "%s", modeOf(r.p("um")))
	_ = unix.Chmod(f, 0)
	r.e("mode000-read", openClose(f, unix.O_RDONLY))
	_ = unix.Chmod(f, 0o200)
	r.e("mode200-read", openClose(f, unix.O_RDONLY))
	r.e("mode200-write", openClose(f, unix.O_WRONLY))
	_ = unix.Mkdir(r.p("nox"), 0o755)
	_ = create(r.p("nox/x"), 0o644, "")
	_ = unix.Chmod(r.p("nox"), 0o600)
	_, err := stat(r.p("nox/x"))
	r.e("nox-stat", err)
	_ = unix.Mkdir(r.p("now"), 0o555)
	r.e("now-create", openClose(r.p("now/x"), unix.O_CREAT|unix.O_WRONLY))
	_ = unix.Chmod(r.p("nox"), 0o755) // so the directory can be removed later
	_ = unix.Chmod(r.p("now"), 0o755)
	r.e("chown-other", unix.Chown(f, 4242, 4242))
	g := r.p("g")
	_ = create(g, 0o755, "x")
	r.e("chmod-suid", unix.Chmod(g, 0o4755))
	fd, err := unix.Open(g, unix.O_WRONLY, 0)
	if err == nil {
		_, _ = unix.Write(fd, []byte("y"))
		unix.Close(fd)
	}
	st, _ := stat(g)
	r.v("suid-after-write", "%o", st.Mode&0o7777)
	// Truncation and O_TRUNC drop set-ID bits too, unless the caller may
	// keep them (CAP_FSETID); chown drops them for anyone.
	k := r.p("k")
	_ = create(k, 0o755, "x")
	_ = unix.Chmod(k, 0o6755)
	_ = unix.Truncate(k, 0)
	st, _ = stat(k)
	r.v("after-truncate", "%o", st.Mode&0o7777)
	_ = unix.Chmod(k, 0o6755)
	_ = openClose(k, unix.O_WRONLY|unix.O_TRUNC)
	st, _ = stat(k)
	r.v("after-otrunc", "%o", st.Mode&0o7777)
	_ = unix.Chmod(k, 0o6755)
	r.e("chown-self", unix.Chown(k, os.Getuid(), -1))
	st, _ = stat(k)
	r.v("after-chown", "%o", st.Mode&0o7777)
	_ = create(r.p("h"), 0o644, "")
	_ = unix.Chmod(r.p("h"), 0)
	r.e("access-r", unix.Access(r.p("h"), unix.R_OK))
	return r.String()
}

func caseSetgid(d string) string {
	r := newRec(d)
	g := r.p("g")
	_ = unix.Mkdir(g, 0o755)
	// The group the directory hands down: one the user is not in.
	_ = unix.Chown(g, -1, 4243)
	_ = unix.Chmod(g, 0o2775)
	st, _ := stat(g)
	dirGid := st.Gid
	_ = create(filepath.Join(g, "f"), 0o644, "")
	_ = unix.Mkdir(filepath.Join(g, "s"), 0o755)
	fst, _ := stat(filepath.Join(g, "f"))
	sst, _ := stat(filepath.Join(g, "s"))
	r.check("file-gid", fst.Gid == dirGid, "gid %d, directory's %d", fst.Gid, dirGid)
	r.check("subdir-gid", sst.Gid == dirGid, "gid %d, directory's %d", sst.Gid, dirGid)
	r.check("subdir-sgid", sst.Mode&unix.S_ISGID != 0, "mode %o", sst.Mode)
	return r.String()
}

// caseNames: names are bytes, not text. Invalid UTF-8, control characters,
// a newline, both normal forms of é: each is its own name.
func caseNames(d string) string {
	r := newRec(d)
	names := []string{"\xff\xfe", "caf\xe9", "a\x80b", "\x01ctl", "sp ace", "new\nline", "caf\u00e9", "cafe\u0301", "back\\slash", "-dash", "*"}
	ok := true
	for i, n := range names {
		if err := create(r.p(n), 0o644, strconv.Itoa(i)); err != nil {
			r.e("create", err)
			ok = false
			break
		}
	}
	if ok {
		r.v("create", "ok")
	}
	got, _ := os.ReadDir(d)
	var listed []string
	for _, e := range got {
		listed = append(listed, e.Name())
	}
	want := slices.Clone(names)
	slices.Sort(want)
	slices.Sort(listed)
	r.check("listed", slices.Equal(listed, want), "%q", listed)
	statOK := true
	for _, n := range names {
		if _, err := lstat(r.p(n)); err != nil {
			statOK = false
		}
	}
	r.check("stat", statOK, "a name does not stat")
	r.e("rename", unix.Rename(r.p("\xff\xfe"), r.p("\xfe\xff")))
	content, _ := readAll(r.p("\xfe\xff"))
	r.check("content", content == "0", "%q", content)
	return r.String()
}

// ---------------------------------------------------------------- single operations

// doOp runs one operation named by args[0] on paths relative to dir and
// says what happened: "ok", an errno name, or what was read.
func doOp(dir string, args []string) string {
	p := func(i int) string { return filepath.Join(dir, args[i]) }
	num := func(i int) int {
		n, _ := strconv.ParseInt(args[i], 0, 64)
		return int(n)
	}
	switch args[0] {
	case "mkdir":
		return errName(unix.Mkdir(p(1), uint32(num(2))))
	case "create":
		return errName(openClose(p(1), unix.O_CREAT|unix.O_WRONLY))
	case "write":
		fd, err := unix.Open(p(1), unix.O_WRONLY, 0)
		if err != nil {
			return errName(err)
		}
		defer unix.Close(fd)
		_, err = unix.Pwrite(fd, []byte(args[2]), 0)
		return errName(err)
	case "read":
		got, err := readAll(p(1))
		if err != nil {
			return errName(err)
		}
		return got
	case "unlink":
		return errName(unix.Unlink(p(1)))
	case "rmdir":
		return errName(unix.Rmdir(p(1)))
	case "rename":
		return errName(unix.Rename(p(1), p(2)))
	case "link":
		return errName(unix.Link(p(1), p(2)))
	case "symlink":
		return errName(unix.Symlink(args[1], p(2)))
	case "chmod":
		return errName(unix.Chmod(p(1), uint32(num(2))))
	case "chown":
		return errName(unix.Chown(p(1), num(2), num(3)))
	case "utime":
		t := ts(int64(num(2)), 0)
		return errName(unix.UtimesNanoAt(unix.AT_FDCWD, p(1), []unix.Timespec{t, t}, 0))
	case "utimenow":
		return errName(unix.UtimesNanoAt(unix.AT_FDCWD, p(1), nil, 0))
	case "stat":
		_, err := stat(p(1))
		return errName(err)
	case "mode":
		st, err := lstat(p(1))
		if err != nil {
			return errName(err)
		}
		return fmt.Sprintf("%o %d:%d", st.Mode&0o7777, st.Uid, st.Gid)
	case "ls":
		l, err := listDir(p(1))
		if err != nil {
			return errName(err)
		}
		return "[" + l + "]"
	case "truncate":
		return errName(unix.Truncate(p(1), int64(num(2))))
	case "setxattr":
		return errName(unix.Setxattr(p(1), args[2], []byte(args[3]), 0))
	case "access":
		return errName(unix.Access(p(1), uint32(num(2))))
	}
	return "unknown op " + args[0]
}

// ---------------------------------------------------------------- tests

// posixTarget is a directory the conformance cases run on.
type posixTarget struct{ name, dir string }

// posixTargets mounts a fresh volume (with --allow-other, so that other
// users reach it) and makes a plain directory beside it.
func posixTargets(t *testing.T) (vol string, targets []posixTarget) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the conformance tests switch users: they need root")
	}
	vol = newVolume(t)
	mnt := mountVolume(t, vol, "--allow-other")
	plain := newDir(t, "plain")
	return vol, []posixTarget{{"plain", plain}, {"mount", mnt}}
}

// userDir makes dir (mode 0755) owned by u.
func userDir(t testing.TB, dir string, u posixUser) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
}

// TestPosixConformance runs every case of posixCases on a plain directory
// and on a mount, as root and as the user nobody, and compares.
func TestPosixConformance(t *testing.T) {
	_, targets := posixTargets(t)
	old := unix.Umask(0o022)
	defer unix.Umask(old)

	users := []posixUser{rootUser, userA}
	// got[target][user][case] is what the case said.
	got := map[string]map[string]map[string]string{}
	for _, tg := range targets {
		got[tg.name] = map[string]map[string]string{}
		for _, u := range users {
			base := filepath.Join(tg.dir, u.Name)
			userDir(t, base, u)
			var names []string
			for _, c := range posixCases {
				userDir(t, filepath.Join(base, c.name), u)
				names = append(names, c.name)
			}
			res := map[string]string{}
			start := time.Now()
			if u == rootUser {
				for _, c := range posixCases {
					res[c.name] = c.run(filepath.Join(base, c.name))
				}
			} else {
				asUser(t, helperJob{User: u, Dir: base, Cases: names}, &res)
			}
			t.Logf("%s as %s: %d cases in %v", tg.name, u.Name, len(res), time.Since(start).Round(time.Millisecond))
			got[tg.name][u.Name] = res
		}
	}

	for _, c := range posixCases {
		for _, u := range users {
			t.Run(c.name+"/"+u.Name, func(t *testing.T) {
				plain, mount := got["plain"][u.Name][c.name], got["mount"][u.Name][c.name]
				want := c.want
				if w, ok := c.wantAs[u.Name]; ok {
					want = w
				}
				if want != "" && plain != want {
					t.Errorf("the plain directory (the reference) does not give what the case expects of Linux:\n got  %s\n want %s", plain, want)
				}
				switch {
				case c.mount != "":
					t.Logf("known deviation (%s):\n plain %s\n mount %s", c.why, plain, mount)
					if mount != c.mount {
						t.Errorf("the deviation changed: the mount gave\n %s\nwhere the case records\n %s\n(plain: %s)", mount, c.mount, plain)
					}
				case mount != plain:
					t.Errorf("the mount differs from the plain directory:\n mount %s\n plain %s\n%s", mount, plain, wordDiff(plain, mount))
				default:
					t.Logf("%s", mount)
				}
			})
		}
	}
}

// wordDiff lists the words of two outcome lines that differ.
func wordDiff(want, got string) string {
	w, g := strings.Fields(want), strings.Fields(got)
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "  plain %-40s mount %s\n", a, c)
		}
	}
	return b.String()
}

// userStep is one operation of the multi-user scenario.
type userStep struct {
	who  posixUser
	op   []string
	want string
}

// TestPosixUsers plays one scenario of three users (root and two others)
// on a plain directory and on a mount: the sticky bit of a /tmp-style
// directory, owner-only directories and files, who may chmod, chown and set
// times, protected hard links. Every step must give what Linux gives, on
// both.
func TestPosixUsers(t *testing.T) {
	_, targets := posixTargets(t)
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	A, B, R := userA, userB, rootUser
	steps := []userStep{
		// A /tmp-style directory: anyone creates, only owners remove.
		{R, []string{"mkdir", "tmp", "0777"}, "ok"},
		{R, []string{"chmod", "tmp", "01777"}, "ok"},
		{A, []string{"create", "tmp/a"}, "ok"},
		{A, []string{"chmod", "tmp/a", "0666"}, "ok"},
		{A, []string{"mkdir", "tmp/adir", "0777"}, "ok"},
		{B, []string{"unlink", "tmp/a"}, "EPERM"},
		{B, []string{"rename", "tmp/a", "tmp/b"}, "EPERM"},
		{B, []string{"rmdir", "tmp/adir"}, "EPERM"},
		{B, []string{"write", "tmp/a", "B wrote"}, "ok"},
		{B, []string{"create", "tmp/b"}, "ok"},
		{A, []string{"rename", "tmp/a", "tmp/b"}, "EPERM"},
		{A, []string{"unlink", "tmp/b"}, "EPERM"},
		{A, []string{"read", "tmp/a"}, "B wrote"},
		{R, []string{"unlink", "tmp/b"}, "ok"},
		{A, []string{"rename", "tmp/a", "tmp/a2"}, "ok"},
		{A, []string{"unlink", "tmp/a2"}, "ok"},
		{A, []string{"rmdir", "tmp/adir"}, "ok"},
		{R, []string{"mode", "tmp"}, "1777 0:0"},
		// World-writable without the sticky bit: anyone removes anything.
		{R, []string{"mkdir", "pub", "0777"}, "ok"},
		{R, []string{"chmod", "pub", "0777"}, "ok"},
		{A, []string{"create", "pub/a"}, "ok"},
		{B, []string{"unlink", "pub/a"}, "ok"},
		// An owner-only directory.
		{A, []string{"mkdir", "pub/priv", "0700"}, "ok"},
		{A, []string{"create", "pub/priv/x"}, "ok"},
		{B, []string{"stat", "pub/priv/x"}, "EACCES"},
		{B, []string{"ls", "pub/priv"}, "EACCES"},
		{B, []string{"create", "pub/priv/y"}, "EACCES"},
		{R, []string{"stat", "pub/priv/x"}, "ok"},
		{A, []string{"chmod", "pub/priv", "0755"}, "ok"},
		{B, []string{"stat", "pub/priv/x"}, "ok"},
		{B, []string{"ls", "pub/priv"}, "[x]"},
		{B, []string{"create", "pub/priv/y"}, "EACCES"},
		{B, []string{"unlink", "pub/priv/x"}, "EACCES"},
		// An owner-only file; chmod, chown and times.
		{A, []string{"create", "pub/f"}, "ok"},
		{A, []string{"write", "pub/f", "A's secret"}, "ok"},
		{A, []string{"chmod", "pub/f", "0600"}, "ok"},
		{B, []string{"read", "pub/f"}, "EACCES"},
		{B, []string{"write", "pub/f", "x"}, "EACCES"},
		{B, []string{"access", "pub/f", "4"}, "EACCES"},
		{B, []string{"chmod", "pub/f", "0666"}, "EPERM"},
		{B, []string{"chown", "pub/f", "60001", "60001"}, "EPERM"},
		{A, []string{"chown", "pub/f", "60001", "-1"}, "EPERM"},
		{A, []string{"chown", "pub/f", "-1", "65534"}, "ok"},
		{B, []string{"utime", "pub/f", "1000"}, "EPERM"},
		{B, []string{"utimenow", "pub/f"}, "EACCES"},
		{B, []string{"setxattr", "pub/f", "user.x", "v"}, "EACCES"},
		{B, []string{"link", "pub/f", "pub/hard"}, "EPERM"}, // fs.protected_hardlinks
		{A, []string{"chmod", "pub/f", "0666"}, "ok"},
		{B, []string{"utimenow", "pub/f"}, "ok"},
		{B, []string{"utime", "pub/f", "1000"}, "EPERM"},
		{B, []string{"write", "pub/f", "B's now"}, "ok"},
		{B, []string{"truncate", "pub/f", "5"}, "ok"},
		{B, []string{"setxattr", "pub/f", "user.x", "v"}, "ok"},
		{A, []string{"read", "pub/f"}, "B's n"},
		{R, []string{"chown", "pub/f", "60001", "60001"}, "ok"},
		{R, []string{"mode", "pub/f"}, "666 60001:60001"},
		{A, []string{"chmod", "pub/f", "0600"}, "EPERM"},
		{B, []string{"chmod", "pub/f", "0600"}, "ok"},
		{A, []string{"read", "pub/f"}, "EACCES"},
		{R, []string{"read", "pub/f"}, "B's n"},
		// A directory only root may search.
		{R, []string{"mkdir", "rootonly", "0700"}, "ok"},
		{R, []string{"mkdir", "rootonly/x", "0755"}, "ok"},
		{A, []string{"stat", "rootonly/x"}, "EACCES"},
		{A, []string{"ls", "rootonly"}, "EACCES"},
		{A, []string{"symlink", "../rootonly/x", "pub/ln"}, "ok"},
		{A, []string{"stat", "pub/ln"}, "EACCES"},
	}
	got := map[string][]string{}
	for _, tg := range targets {
		dir := filepath.Join(tg.dir, "users")
		userDir(t, dir, rootUser)
		for _, s := range steps {
			var out string
			if s.who == rootUser {
				out = doOp(dir, s.op)
			} else {
				asUser(t, helperJob{User: s.who, Dir: dir, Op: s.op}, &out)
			}
			got[tg.name] = append(got[tg.name], out)
		}
	}
	for i, s := range steps {
		plain, mount := got["plain"][i], got["mount"][i]
		desc := fmt.Sprintf("step %d: %s %s", i+1, s.who.Name, strings.Join(s.op, " "))
		if plain != s.want {
			t.Errorf("%s: the plain directory gave %q, the scenario expects %q of Linux", desc, plain, s.want)
		}
		if mount != plain {
			t.Errorf("%s: the mount gave %q, the plain directory %q", desc, mount, plain)
		}
	}
}

// TestPosixBigFile writes one byte at 5 GiB: the file's size is right, the
// byte reads back, the hole reads as zeros, and the log grew by about a
// page, not by 5 GiB. All of it survives an unmount and a remount.
func TestPosixBigFile(t *testing.T) {
	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	mountAt(t, vol, mnt)
	before := logEnd(t, mnt)
	p := filepath.Join(mnt, "big")
	const off = int64(5) << 30
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("Z"), off); err != nil {
		f.Close()
		t.Fatalf("write at 5 GiB: %v", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	f.Close()
	check := func(when string) {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if st.Size() != off+1 {
			t.Errorf("%s: size %d, want %d", when, st.Size(), off+1)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil || b[0] != 'Z' {
			t.Errorf("%s: byte at 5 GiB = %q, %v", when, b, err)
		}
		hole := make([]byte, 1<<20)
		if _, err := f.ReadAt(hole, 4<<30-512<<10); err != nil || !allZero(string(hole)) {
			t.Errorf("%s: the hole around 4 GiB does not read as zeros (%v)", when, err)
		}
	}
	check("after the write")
	grew := logEnd(t, mnt) - before
	t.Logf("the log grew by %d bytes for one byte written at 5 GiB", grew)
	if grew > 1<<20 {
		t.Errorf("the log grew by %d bytes for one byte written at 5 GiB: the hole was written out", grew)
	}
	unmount(t, mnt)
	mountAt(t, vol, mnt)
	check("after a remount")
}

// TestPosixTimesAcrossRemount sets nanosecond times, from 1677 to 2262,
// on every kind of inode, and reads them back after an unmount and a
// remount, when they come from the log and not from the kernel's cache.
func TestPosixTimesAcrossRemount(t *testing.T) {
	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	mountAt(t, vol, mnt)
	type times struct{ atime, mtime unix.Timespec }
	want := map[string]times{
		"file":    {ts(1234567890, 123456789), ts(1500000000, 987654321)},
		"dir":     {ts(-1000, 5), ts(-1, 999999999)},
		"symlink": {ts(1300000000, 3), ts(1300000000, 4)},
		"fifo":    {ts(7258118400, 1), ts(9223372035, 999999999)},
		"old":     {ts(-9223372036, 0), ts(-9223372036, 854775808)},
	}
	if err := create(filepath.Join(mnt, "file"), 0o644, "x"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		create(filepath.Join(mnt, "old"), 0o644, ""),
		unix.Mkdir(filepath.Join(mnt, "dir"), 0o755),
		unix.Symlink("file", filepath.Join(mnt, "symlink")),
		unix.Mkfifo(filepath.Join(mnt, "fifo"), 0o644),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, tm := range want {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(mnt, name), []unix.Timespec{tm.atime, tm.mtime}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatalf("utimensat %s: %v", name, err)
		}
	}
	// One second past 2262-04-11T23:47:16Z does not fit: refused, not wrapped.
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(mnt, "file"), []unix.Timespec{ts(9223372036, 0), ts(9223372036, 0)}, 0); !errors.Is(err, unix.EOVERFLOW) {
		t.Errorf("a time after 2262: %v, want EOVERFLOW", err)
	}
	check := func(when string) {
		t.Helper()
		for name, tm := range want {
			st, err := lstat(filepath.Join(mnt, name))
			if err != nil {
				t.Errorf("%s: %v", when, err)
				continue
			}
			if st.Atim != tm.atime || st.Mtim != tm.mtime {
				t.Errorf("%s: %s has atime %s mtime %s, want %s and %s", when, name,
					fmtTime(st.Atim), fmtTime(st.Mtim), fmtTime(tm.atime), fmtTime(tm.mtime))
			}
		}
	}
	check("mounted")
	syncDir(t, mnt)
	unmount(t, mnt)
	mountAt(t, vol, mnt)
	check("after a remount")
}

// TestPosixBigDirectory makes a directory of 100,000 entries on the mount,
// lists it, stats some, renames one, removes them all, and removes it.
func TestPosixBigDirectory(t *testing.T) {
	const n = 100000
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	dir := filepath.Join(mnt, "big")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := func(i int) string { return fmt.Sprintf("entry-%06d", i) }
	start := time.Now()
	parallel(16, n, func(i int) error {
		if i%1000 == 0 {
			// A few through open(O_CREAT), the rest through mknod.
			return create(filepath.Join(dir, name(i)), 0o644, "")
		}
		return unix.Mknod(filepath.Join(dir, name(i)), unix.S_IFREG|0o644, 0)
	}, t)
	t.Logf("created %d entries in %v", n, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("readdir: %v", err)
	}
	t.Logf("listed in %v", time.Since(start).Round(time.Millisecond))
	if len(ents) != n {
		t.Fatalf("readdir gave %d entries, want %d", len(ents), n)
	}
	for i, e := range ents {
		if e.Name() != name(i) {
			t.Fatalf("entry %d is %q, want %q", i, e.Name(), name(i))
		}
	}
	var d unix.Stat_t
	if err := unix.Stat(dir, &d); err != nil || d.Nlink != 2 {
		t.Errorf("the directory: nlink %d, %v; want 2", d.Nlink, err)
	}
	for _, i := range []int{0, 1, 4242, n / 2, n - 1} {
		st, err := stat(filepath.Join(dir, name(i)))
		if err != nil || st.Mode != unix.S_IFREG|0o644 || st.Size != 0 || st.Nlink != 1 {
			t.Errorf("stat %s: mode %o size %d nlink %d, %v", name(i), st.Mode, st.Size, st.Nlink, err)
		}
	}
	if _, err := stat(filepath.Join(dir, name(n))); !errors.Is(err, unix.ENOENT) {
		t.Errorf("stat of an entry never made: %v, want ENOENT", err)
	}
	if err := unix.Rename(filepath.Join(dir, name(7)), filepath.Join(dir, "renamed")); err != nil {
		t.Errorf("rename in the big directory: %v", err)
	}
	if err := unix.Rmdir(dir); !errors.Is(err, unix.ENOTEMPTY) {
		t.Errorf("rmdir of the full directory: %v, want ENOTEMPTY", err)
	}

	start = time.Now()
	parallel(16, n, func(i int) error {
		nm := name(i)
		if i == 7 {
			nm = "renamed"
		}
		return unix.Unlink(filepath.Join(dir, nm))
	}, t)
	t.Logf("removed in %v", time.Since(start).Round(time.Millisecond))
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Fatalf("after removing every entry: %d left, %v", len(left), err)
	}
	if err := unix.Rmdir(dir); err != nil {
		t.Fatalf("rmdir of the emptied directory: %v", err)
	}
	st := status(t, mnt)
	t.Logf("status after: %s", st.raw)
}

// parallel calls fn(i) for i in [0, n) from workers goroutines and fails
// the test on the first error.
func parallel(workers, n int, fn func(i int) error, t testing.TB) {
	t.Helper()
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			for i := w; i < n; i += workers {
				if err := fn(i); err != nil {
					errs <- fmt.Errorf("item %d: %w", i, err)
					return
				}
			}
			errs <- nil
		}(w)
	}
	var first error
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		t.Fatal(first)
	}
}
