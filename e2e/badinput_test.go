package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// refuseUnchanged runs rewindfs with args, checks that it is refused with one
// line on stderr, and that the directory dir (a volume, or any directory) is
// byte-identical afterwards, the daemon's log file aside.
//
// A volume that a daemon serves changes on its own for a while after a
// write (a spare segment is zeroed in the background), so the picture to
// compare with is taken once dir has settled.
func refuseUnchanged(t *testing.T, dir string, args ...string) result {
	t.Helper()
	before := settledHashes(t, dir)
	r := rwfs(t, args...)
	oneLineError(t, r)
	if d := diffMaps(before, volumeHashes(t, dir)); d != "" {
		t.Errorf("rewindfs %v changed %s:\n%s", args, dir, d)
	}
	t.Logf("refused: %s", bytes.TrimSpace([]byte(r.stderr)))
	return r
}

// noMountNoDaemon checks that a refused mount left neither a mount nor a daemon at mnt.
func noMountNoDaemon(t *testing.T, mnt string) {
	t.Helper()
	if isMounted(mnt) {
		t.Errorf("%s is mounted after a refused mount", mnt)
		lazyUnmount(t, mnt)
	}
	eventually(5*time.Second, 50*time.Millisecond, func() bool { return findDaemonByArgs(mnt) == 0 })
	if p := findDaemonByArgs(mnt); p > 0 {
		t.Errorf("a rewindfs process (%d) for %s is still running after a refused mount; killing it", p, mnt)
		killTree(p)
	}
}

func TestBadInput(t *testing.T) {
	t.Run("MissingVolume", func(t *testing.T) {
		needBinary(t)
		missing := filepath.Join(newDir(t, "nothing"), "no-such-volume")
		mnt := newDir(t, "mnt")
		for _, args := range [][]string{
			{"mount", missing, mnt},
			{"status", missing, "--json"},
			{"verify", missing},
		} {
			r := rwfs(t, args...)
			oneLineError(t, r)
			t.Logf("%v: %s", args[0], bytes.TrimSpace([]byte(r.stderr)))
			if _, err := os.Stat(missing); !os.IsNotExist(err) {
				t.Errorf("rewindfs %v created %s", args, missing)
				os.RemoveAll(missing)
			}
		}
		noMountNoDaemon(t, mnt)
	})

	t.Run("ReadOnlyDsyncDirect", func(t *testing.T) {
		vol := newVolume(t)
		mnt := newDir(t, "mnt")
		r := refuseUnchanged(t, vol, "mount", vol, mnt, "--read-only", "--dsync-direct")
		if !strings.Contains(r.stderr, "--dsync-direct") {
			t.Errorf("the refusal does not name the flag: %q", r.stderr)
		}
		noMountNoDaemon(t, mnt)
	})

	t.Run("MissingMountPoint", func(t *testing.T) {
		vol := newVolume(t)
		mnt := filepath.Join(newDir(t, "parent"), "no-such-dir")
		refuseUnchanged(t, vol, "mount", vol, mnt)
		noMountNoDaemon(t, mnt)
	})

	t.Run("SecondMount", func(t *testing.T) {
		vol := newVolume(t)
		mnt := mountVolume(t, vol)
		data := bytes.Repeat([]byte("first mount\n"), 500)
		writeFileSync(t, filepath.Join(mnt, "file"), data, 0o644)
		pid := daemonPID(t, mnt)

		other := newDir(t, "mnt2")
		refuseUnchanged(t, vol, "mount", vol, other)
		noMountNoDaemon(t, other)
		refuseUnchanged(t, vol, "mount", vol, mnt) // the same mount point again

		// The first mount is untouched and still serving.
		if got, err := os.ReadFile(filepath.Join(mnt, "file")); err != nil || !bytes.Equal(got, data) {
			t.Errorf("first mount after the refused second mount: %d bytes, err %v", len(got), err)
		}
		if st := status(t, vol); st.int("pid") != pid || st.str("mountpoint") != mnt {
			t.Errorf("status after the refused second mount: %s, want pid %d mountpoint %s", st.raw, pid, mnt)
		}
	})

	t.Run("UnknownFormatVersion", func(t *testing.T) {
		vol := newVolume(t)
		settings := filepath.Join(vol, "rewindfs.json")
		raw, err := os.ReadFile(settings)
		if err != nil {
			t.Fatalf("init wrote no settings file: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s is not a JSON object: %v\n%s", settings, err, raw)
		}
		if _, ok := m["format_version"]; !ok {
			t.Fatalf("%s has no format_version field:\n%s", settings, raw)
		}
		m["format_version"] = 999
		edited, _ := json.MarshalIndent(m, "", "  ")
		if err := os.WriteFile(settings, append(edited, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		mnt := newDir(t, "mnt")
		refuseUnchanged(t, vol, "mount", vol, mnt)
		noMountNoDaemon(t, mnt)
		refuseUnchanged(t, vol, "verify", vol)
	})

	t.Run("InitNonEmptyDir", func(t *testing.T) {
		needBinary(t)
		dir := newDir(t, "notavolume")
		if err := os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("do not touch\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		refuseUnchanged(t, dir, "init", dir)
	})

	t.Run("InitExistingVolume", func(t *testing.T) {
		vol := newVolume(t)
		mnt := mountVolume(t, vol)
		writeFileSync(t, filepath.Join(mnt, "history"), []byte("keep me\n"), 0o644)
		unmount(t, mnt)
		refuseUnchanged(t, vol, "init", vol)
	})

	t.Run("InitBadCompression", func(t *testing.T) {
		needBinary(t)
		dir := newDir(t, "empty")
		refuseUnchanged(t, dir, "init", dir, "--compression", "bogus")
	})

	t.Run("UnmountNotMounted", func(t *testing.T) {
		needBinary(t)
		dir := newDir(t, "plain")
		refuseUnchanged(t, dir, "unmount", dir)
	})
}
