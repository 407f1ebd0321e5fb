package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMountHelper mounts and unmounts a volume the way Linux mounts file
// systems: `mount -t fuse.rewindfs VOLUME MOUNTPOINT -o ...`, and
// `mount --fstab FILE MOUNTPOINT` with a line of type fuse.rewindfs, both
// through mount(8)'s helper /sbin/mount.fuse.rewindfs (a link to the
// binary under test) and unmounted with umount(8). It runs in a mount
// namespace of its own, where a directory holding only that link is bound
// over /sbin, so the host's /sbin is never changed and an installed helper
// never stands in for the binary under test.
func TestMountHelper(t *testing.T) {
	requireFUSE(t)
	if os.Geteuid() != 0 {
		skipOrFail(t, "mount(8) with a helper and unshare --mount need root")
	}
	for _, tool := range []string{"unshare", "mount", "umount", "findmnt"} {
		requireTool(t, tool)
	}
	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	helpers := newDir(t, "sbin")
	if err := os.Symlink(mountBinPath, filepath.Join(helpers, "mount.fuse.rewindfs")); err != nil {
		t.Fatal(err)
	}
	out := newDir(t, "out")
	fstab := filepath.Join(out, "fstab")
	line := fmt.Sprintf("# a test fstab\n%s %s fuse.rewindfs ro,nofail,noatime,x-systemd.requires-mounts-for=/var,comment=test 0 0\n", vol, mnt)
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A daemon left in the namespace by a failed run keeps it (and its
		// mount) alive: stop it.
		if p := findDaemonByArgs(mnt); p > 0 {
			t.Errorf("a daemon (%d) for %s outlived the test's namespace; killing it", p, mnt)
			_ = syscall.Kill(p, syscall.SIGKILL)
			waitGone(p, 10*time.Second)
		}
	})

	script := `set -eu
# gone PID: wait up to 20 s for the daemon to exit after umount.
gone() { i=0; while kill -0 "$1" 2>/dev/null; do i=$((i+1)); [ $i -lt 400 ] || { echo "daemon $1 still running 20s after umount" >&2; exit 1; }; sleep 0.05; done; }
pid() { sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$1"; }
mount --bind "$HELPERS" /sbin

mount -t fuse.rewindfs -o allow_other,nodev,nosuid,noatime "$VOL" "$MNT"
findmnt -n -o FSTYPE,SOURCE,OPTIONS --mountpoint "$MNT" > "$OUT/findmnt1"
echo hello > "$MNT/f"
"$BIN" status "$MNT" --json > "$OUT/status1.json"
readlink "/proc/$(pid "$OUT/status1.json")/exe" > "$OUT/exe1"
umount "$MNT"
gone "$(pid "$OUT/status1.json")"
findmnt -n --mountpoint "$MNT" > "$OUT/after1" || true

mount --fstab "$FSTAB" "$MNT"
findmnt -n -o FSTYPE,SOURCE,OPTIONS --mountpoint "$MNT" > "$OUT/findmnt2"
cat "$MNT/f" > "$OUT/content2"
if { echo x > "$MNT/g"; } 2> "$OUT/write2"; then echo "wrote to a read-only mount" >&2; exit 1; fi
"$BIN" status "$MNT" --json > "$OUT/status2.json"
umount "$MNT"
gone "$(pid "$OUT/status2.json")"

if mount -t fuse.rewindfs -o bogus_option "$VOL" "$MNT" 2> "$OUT/bad3"; then echo "mounted with a bogus option" >&2; umount "$MNT"; exit 1; fi
echo ok
`
	r := runCmd(t, cmdOpts{timeout: 2 * time.Minute, env: []string{
		"HELPERS=" + helpers, "VOL=" + vol, "MNT=" + mnt, "OUT=" + out, "FSTAB=" + fstab, "BIN=" + binPath,
	}}, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	if !r.ok() || strings.TrimSpace(r.stdout) != "ok" {
		t.Fatalf("mount -t fuse.rewindfs / mount --fstab in a mount namespace failed:\n%s\ndaemon log:\n%s", r, clip(readFile(filepath.Join(vol, "daemon.log"))))
	}
	checkDaemonLog(t, vol)

	f1 := strings.Fields(readFile(filepath.Join(out, "findmnt1")))
	if len(f1) != 3 || f1[0] != "fuse.rewindfs" || f1[1] != vol || !hasOpt(f1[2], "rw") {
		t.Errorf("mount -t: findmnt says %q, want type fuse.rewindfs, source %s, rw", f1, vol)
	}
	if exe := strings.TrimSpace(readFile(filepath.Join(out, "exe1"))); exe != mountBinPath {
		t.Errorf("the daemon mount -t started runs %s, not the binary under test %s", exe, mountBinPath)
	}
	var st1 struct {
		Mountpoint string `json:"mountpoint"`
		HeadLSN    uint64 `json:"head_lsn"`
	}
	if err := json.Unmarshal([]byte(readFile(filepath.Join(out, "status1.json"))), &st1); err != nil || st1.Mountpoint != mnt {
		t.Errorf("status of the mount -t mount: %v %+v", err, st1)
	}
	if after := strings.TrimSpace(readFile(filepath.Join(out, "after1"))); after != "" {
		t.Errorf("still mounted after umount: %s", after)
	}
	f2 := strings.Fields(readFile(filepath.Join(out, "findmnt2")))
	if len(f2) != 3 || f2[0] != "fuse.rewindfs" || !strings.HasPrefix(f2[1], vol) || !hasOpt(f2[2], "ro") {
		t.Errorf("mount --fstab: findmnt says %q, want type fuse.rewindfs, source %s (a read-only view), ro", f2, vol)
	}
	if got := readFile(filepath.Join(out, "content2")); got != "hello\n" {
		t.Errorf("the file written through the mount -t mount reads %q through the fstab mount", got)
	}
	if w := readFile(filepath.Join(out, "write2")); !strings.Contains(w, "Read-only file system") {
		t.Errorf("a write to the ro fstab mount failed with %q, want EROFS", w)
	}
	if bad := readFile(filepath.Join(out, "bad3")); !strings.Contains(bad, `unknown option "bogus_option"`) {
		t.Errorf("mount -o bogus_option said %q", bad)
	}
	if isMounted(mnt) {
		t.Errorf("%s is mounted in the test's own namespace", mnt)
	}
	// The volume is whole and holds the file.
	st := status(t, vol)
	if st.int("head_lsn") < int(st1.HeadLSN) || st.str("mountpoint") != "" {
		t.Errorf("after both mounts the volume says %s", st.raw)
	}
	mustRwfs(t, "verify", vol)
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// TestSystemdUnit: contrib/rewindfs@.service passes systemd-analyze
// verify for an instance (a volume path escaped by systemd-escape), with
// no warning; it runs the daemon in the foreground as a Type=notify
// service. The unit names /usr/local/bin/rewindfs, where
// scripts/install.sh puts the program; the copy verified names the binary
// under test instead, since verify checks that the program exists. A
// broken copy fails, so the check is not vacuous.
func TestSystemdUnit(t *testing.T) {
	needBinary(t)
	analyze := requireTool(t, "systemd-analyze")
	escape := requireTool(t, "systemd-escape")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	unit := readFile(filepath.Join(root, "contrib", "rewindfs@.service"))
	for _, want := range []string{
		"ExecStart=/usr/local/bin/rewindfs mount %f ${MOUNTPOINT} --foreground $REWINDFS_OPTS",
		"Type=notify", "EnvironmentFile=-/etc/rewindfs/%i.conf", "RequiresMountsFor=%f",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("contrib/rewindfs@.service lacks %q", want)
		}
	}
	inst := strings.TrimSpace(run(t, escape, "--path", "/var/lib/rewindfs/pg"))
	if inst != "var-lib-rewindfs-pg" {
		t.Fatalf("systemd-escape --path /var/lib/rewindfs/pg = %q", inst)
	}
	verify := func(text string) result {
		dir := newDir(t, "units")
		if err := os.WriteFile(filepath.Join(dir, "rewindfs@.service"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return runCmd(t, cmdOpts{dir: dir}, analyze, "verify", filepath.Join(dir, "rewindfs@"+inst+".service"))
	}
	r := verify(strings.ReplaceAll(unit, "/usr/local/bin/rewindfs", binPath))
	if !r.ok() || strings.TrimSpace(r.stderr) != "" {
		t.Errorf("systemd-analyze verify contrib/rewindfs@.service (instance %s):\n%s", inst, r)
	}
	broken := strings.ReplaceAll(unit, "Type=notify", "Type=notify\nKillMode=sometimes")
	if r := verify(strings.ReplaceAll(broken, "/usr/local/bin/rewindfs", binPath)); strings.TrimSpace(r.stderr) == "" {
		t.Errorf("systemd-analyze verify accepted a unit with KillMode=sometimes without a word:\n%s", r)
	}
}

// TestVersionAndCompletion: --version names the build, and urfave/cli's
// bash completion (contrib/rewindfs.bash-completion asks the program
// itself) lists the commands, a command's flags after its arguments, and
// the flags that start with what was typed.
func TestVersionAndCompletion(t *testing.T) {
	out := mustRwfs(t, "--version")
	if !strings.HasPrefix(out, "rewindfs version ") {
		t.Errorf("rewindfs --version printed %q", out)
	}
	cmds := mustRwfs(t, "--generate-bash-completion")
	for _, c := range []string{"mount", "rewind", "status", "bisect", "compact"} {
		if !strings.Contains("\n"+cmds, "\n"+c+"\n") && !strings.Contains("\n"+cmds, "\n"+c+":") {
			t.Errorf("completion of commands lacks %s:\n%s", c, cmds)
		}
	}
	flags := mustRwfs(t, "mount", "/var/lib/rewindfs/pg", "-", "--generate-bash-completion")
	for _, f := range []string{"--foreground", "--metrics-addr", "--quiet", "--allow-other"} {
		if !strings.Contains(flags, f+"\n") {
			t.Errorf("completion of mount's flags lacks %s:\n%s", f, flags)
		}
	}
	if got := mustRwfs(t, "rewind", "/srv/pg", "--to", "5m", "--st", "--generate-bash-completion"); got != "--stop\n--start\n" {
		t.Errorf("completion of rewind --st gave %q, want --stop and --start", got)
	}
}
