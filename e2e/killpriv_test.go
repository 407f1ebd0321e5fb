package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetIDBitsDropLikeLocal: rewindfs drops set-ID bits and file
// capabilities itself (FUSE_HANDLE_KILLPRIV_V2, which saves a GETXATTR
// round trip per write). Each case runs in a plain directory and on the
// mount, and the resulting modes and xattrs must be the same.
func TestSetIDBitsDropLikeLocal(t *testing.T) {
	setpriv := requireTool(t, "setpriv")
	plain := newDir(t, "plain")
	if err := os.Chmod(plain, 0o777); err != nil {
		t.Fatal(err)
	}
	vol := newVolume(t)
	mnt := mountVolume(t, vol, "--allow-other")
	if err := os.Chmod(mnt, 0o777); err != nil {
		t.Fatal(err)
	}
	asNobody := func(script string, args ...string) {
		t.Helper()
		runIn(t, cmdOpts{}, setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script, "sh"}, args...)...)
	}
	type outcome struct {
		mode uint32
		caps bool
	}
	cases := []struct {
		name  string
		mode  uint32
		owner int
		caps  bool
		act   func(path string)
	}{
		{"write by the owner, no CAP_FSETID", 0o6755, 65534, false, func(p string) { asNobody(`printf x >> "$1"`, p) }},
		{"write by root keeps the bits", 0o6755, 65534, false, func(p string) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("x"))
			f.Close()
		}},
		{"setgid without group exec stays", 0o2745, 65534, false, func(p string) { asNobody(`printf x >> "$1"`, p) }},
		{"truncate by the owner", 0o6755, 65534, false, func(p string) { asNobody(`truncate -s 1 "$1"`, p) }},
		{"chown by root", 0o6755, 65534, false, func(p string) {
			if err := os.Chown(p, 0, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"a read keeps bits and capabilities", 0o6755, 65534, true, func(p string) { asNobody(`cat "$1" >/dev/null`, p) }},
		{"write drops capabilities", 0o755, 0, true, func(p string) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("x"))
			f.Close()
		}},
	}
	// A valid VFS_CAP_REVISION_2 value: cap_net_bind_service, permitted.
	capValue := []byte{0x00, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for i, c := range cases {
		var got [2]outcome
		for k, dir := range []string{plain, mnt} {
			p := filepath.Join(dir, "f"+string(rune('a'+i)))
			if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(p, c.owner, c.owner); err != nil {
				t.Fatal(err)
			}
			if err := unix.Chmod(p, uint32(c.mode)); err != nil { // os.Chmod ignores 0o6000
				t.Fatal(err)
			}
			if c.caps {
				if err := unix.Setxattr(p, "security.capability", capValue, 0); err != nil {
					t.Fatalf("%s: setxattr security.capability on %s: %v", c.name, dir, err)
				}
				if _, err := unix.Getxattr(p, "security.capability", make([]byte, 64)); err != nil {
					t.Fatalf("%s: the capability just set on %s is not there: %v", c.name, dir, err)
				}
			}
			c.act(p)
			var st unix.Stat_t
			if err := unix.Stat(p, &st); err != nil {
				t.Fatal(err)
			}
			_, err := unix.Getxattr(p, "security.capability", make([]byte, 64))
			got[k] = outcome{mode: st.Mode & 0o7777, caps: err == nil}
		}
		if c.name == "a read keeps bits and capabilities" && (got[1].mode != 0o6755 || !got[1].caps) {
			t.Errorf("%s: rewindfs gives mode %o caps %v, want 6755 and kept", c.name, got[1].mode, got[1].caps)
		}
		if got[0] != got[1] {
			t.Errorf("%s: plain directory gives mode %o caps %v, rewindfs mode %o caps %v",
				c.name, got[0].mode, got[0].caps, got[1].mode, got[1].caps)
		} else {
			t.Logf("%s: mode %o, capabilities kept %v (as in a plain directory)", c.name, got[0].mode, got[0].caps)
		}
	}
}
