package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// importVolume runs `rewindfs import SRC VOL --json` into a fresh path in
// the test's directory and returns the volume and the report.
func importVolume(t testing.TB, src string, args ...string) (string, map[string]any) {
	t.Helper()
	vol := filepath.Join(testRootOf(t), fmt.Sprintf("ivol-%d", seq.Add(1)))
	out := mustRwfs(t, append([]string{"import", src, vol, "--json"}, args...)...)
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("import --json printed %q: %v", out, err)
	}
	t.Logf("import: %s", strings.TrimSpace(out))
	return vol, rep
}

// attrSnapshot describes what snapshotTree leaves out, for every name under
// root (root itself too): the whole mode (set-ID and sticky bits), owner,
// group, times and extended attributes. It reads no file, so it changes no
// access time; take it before anything reads the tree.
func attrSnapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(rel string)
	walk = func(rel string) {
		p := filepath.Join(root, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatalf("lstat %s: %v", p, err)
		}
		desc := fmt.Sprintf("mode %o uid %d gid %d mtime %d", st.Mode, st.Uid, st.Gid, st.Mtim.Nano())
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			// The import's readlink(2) sets a source symlink's atime
			// (there is no O_NOATIME for it); the volume has the one
			// from before.
			desc += fmt.Sprintf(" atime %d", st.Atim.Nano())
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			desc += fmt.Sprintf(" size %d nlink %d", st.Size, st.Nlink)
		}
		buf := make([]byte, 64<<10)
		n, err := unix.Llistxattr(p, buf)
		if err != nil && err != unix.ENOTSUP {
			t.Fatalf("listxattr %s: %v", p, err)
		}
		names := strings.Split(strings.TrimRight(string(buf[:max(n, 0)]), "\x00"), "\x00")
		slices.Sort(names)
		for _, name := range names {
			if name == "" || strings.HasPrefix(name, "system.") {
				continue
			}
			v := make([]byte, 64<<10)
			k, err := unix.Lgetxattr(p, name, v)
			if err != nil {
				t.Fatalf("getxattr %s %s: %v", p, name, err)
			}
			desc += fmt.Sprintf(" %s=%q", name, v[:k])
		}
		out[rel] = desc
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			ents, err := os.ReadDir(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				walk(filepath.Join(rel, e.Name()))
			}
		}
	}
	walk(".")
	return out
}

// compareImported checks that the mount shows the source tree as it was
// imported: attributes first (before anything reads a file), then types,
// modes, sizes, link counts, contents, symlink targets and hard-link groups
// with snapshotTree.
func compareImported(t testing.TB, src, mnt string) {
	t.Helper()
	if diff := diffMaps(attrSnapshot(t, src), attrSnapshot(t, mnt)); diff != "" {
		t.Errorf("the mount's attributes differ from the imported directory's (want = directory):\n%s", diff)
	}
	ns, gs := snapshotTree(t, src)
	nm, gm := snapshotTree(t, mnt)
	want, got := map[string]string{}, map[string]string{}
	for k, v := range ns {
		want[k] = v.desc
	}
	for k, v := range nm {
		got[k] = v.desc
	}
	if diff := diffMaps(want, got); diff != "" {
		t.Errorf("the mount differs from the imported directory (want = directory):\n%s", diff)
	}
	if !slices.Equal(gs, gm) {
		t.Errorf("hard-link groups differ:\n  mount: %q\n  directory: %q", gm, gs)
	}
	t.Logf("%d paths, %d hard-link groups compared", len(ns), len(gs))
}

// TestImportSQLite imports a directory holding a SQLite database and a few
// odd files, mounts the new volume, checks the tree and the rows, changes
// them, unmounts, rewinds the volume offline to the import mark and checks
// that the rows are the imported ones again.
func TestImportSQLite(t *testing.T) {
	requireTool(t, "sqlite3")
	src := newDir(t, "src")
	db := filepath.Join(src, "app", "shop.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o750); err != nil {
		t.Fatal(err)
	}
	sqlite(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v INTEGER NOT NULL, pad TEXT NOT NULL);\n"+
		sqliteInsertRange(1, 2000))
	const rows = "SELECT count(*), sum(v), sum(length(pad)) FROM t;"
	want := strings.TrimSpace(sqlite(t, db, rows))
	// Beside it, what a data directory may also hold: a hard link, a
	// symlink, a sparse file, an extended attribute, a set-group-ID
	// directory, an empty file.
	if err := os.Link(db, filepath.Join(src, "shop.db.link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app/shop.db", filepath.Join(src, "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sparse"), []byte("head"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(src, "sparse"), 64<<20); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(src, "app"), "user.owner", []byte("shop team"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(filepath.Join(src, "shared"), 0o2770); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "shared", "empty"), nil, 0o640); err != nil {
		t.Fatal(err)
	}

	// Refusals: a non-empty target, a target inside the source. Each is
	// one line, and leaves nothing.
	full := newDir(t, "full")
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{full, filepath.Join(src, "vol")} {
		r := rwfs(t, "import", src, dst)
		oneLineError(t, r)
		if _, err := os.Stat(filepath.Join(src, "vol")); err == nil {
			t.Errorf("a refused import left %s", filepath.Join(src, "vol"))
		}
	}

	// Bash completion (contrib/) asks the binary: import and its flags,
	// init's settings among them.
	if cmds := mustRwfs(t, "--generate-bash-completion"); !strings.Contains("\n"+cmds, "\nimport\n") {
		t.Errorf("completion of commands lacks import:\n%s", cmds)
	}
	if flags := mustRwfs(t, "import", src, "v", "-", "--generate-bash-completion"); !strings.Contains(flags, "--mark\n") || !strings.Contains(flags, "--window\n") {
		t.Errorf("completion of import's flags lacks --mark or --window:\n%s", flags)
	}

	vol, rep := importVolume(t, src)
	if rep["files"] != 3.0 || rep["hardlinks"] != 1.0 || rep["symlinks"] != 1.0 || rep["holes"] != 1.0 {
		t.Errorf("import report: %v, want 3 files, 1 hard link, 1 symlink, 1 hole", rep)
	}
	if hb, _ := rep["hole_bytes"].(float64); hb < 60<<20 {
		t.Errorf("import report: %v bytes of holes, want about 64 MiB", rep["hole_bytes"])
	}
	mnt := mountVolume(t, vol)
	compareImported(t, src, mnt)
	mdb := filepath.Join(mnt, "app", "shop.db")
	if got := strings.TrimSpace(sqlite(t, mdb, rows)); got != want {
		t.Fatalf("rows on the mount: %s, imported %s", got, want)
	}
	if ic := strings.TrimSpace(sqlite(t, mdb, "PRAGMA integrity_check;")); ic != "ok" {
		t.Fatalf("integrity_check on the mount: %s", ic)
	}

	sqlite(t, mdb, "BEGIN; DELETE FROM t WHERE id % 3 = 0; UPDATE t SET v = -v; COMMIT;")
	changed := strings.TrimSpace(sqlite(t, mdb, rows))
	if changed == want {
		t.Fatal("the change changed nothing")
	}
	writeFileSync(t, filepath.Join(mnt, "after-import"), []byte("new"), 0o644)
	unmount(t, mnt)

	rewindTo(t, vol, "import")
	mountAt(t, vol, mnt)
	if got := strings.TrimSpace(sqlite(t, mdb, rows)); got != want {
		t.Errorf("rows after the rewind to the import mark: %s, want the imported %s (changed: %s)", got, want, changed)
	}
	if _, err := os.Stat(filepath.Join(mnt, "after-import")); !os.IsNotExist(err) {
		t.Errorf("a file made after the import is still there after the rewind: %v", err)
	}
	if st := status(t, mnt); st.int("base_lsn") == 0 {
		t.Errorf("the import was not folded into the base image: %s", st.raw)
	}
}

// TestImportPostgres imports a stopped PostgreSQL data directory (after
// refusing it while the server runs), starts PostgreSQL on the mount,
// changes the rows, stops, rewinds live to the import point and checks
// that the rows are the imported ones.
func TestImportPostgres(t *testing.T) {
	for _, name := range pgTools {
		requireTool(t, name)
	}
	requireFUSE(t)
	src := newDir(t, "pgsrc")
	p := newPG(t, src) // PGDATA at src/pgdata, on a plain directory
	p.start()
	p.psql("CREATE TABLE items(id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL)")
	p.psql("INSERT INTO items SELECT g, 'item ' || g, g % 97 FROM generate_series(1, 20000) g")
	p.psql("CREATE INDEX items_qty ON items(qty)")
	const summary = "SELECT count(*) || ' ' || sum(qty) || ' ' || max(name) FROM items"
	want := p.psql(summary)

	// A copy of a running server is refused, with one line naming the
	// lock file, and leaves nothing.
	refused := filepath.Join(testRootOf(t), "refused")
	r := rwfs(t, "import", src, refused)
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "postmaster.pid") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("import of a running PostgreSQL: %q, want the lock file and --force named", r.stderr)
	}
	if _, err := os.Stat(refused); !os.IsNotExist(err) {
		t.Errorf("a refused import left %s: %v", refused, err)
	}
	p.stop()

	vol, rep := importVolume(t, src)
	if n, _ := rep["files"].(float64); n < 500 {
		t.Errorf("import report: %v, want the ~1000 files of a data directory", rep)
	}
	mnt := mountVolume(t, vol, "--allow-other")
	compareImported(t, src, mnt)

	// The same cluster, now on the mount.
	q := *p
	q.data, q.pid = filepath.Join(mnt, "pgdata"), 0
	t.Cleanup(q.cleanup)
	stopBeforeUnmount(mnt, q.cleanup)
	q.start()
	if got := q.psql(summary); got != want {
		t.Fatalf("rows on the mount: %s, imported %s", got, want)
	}
	q.psql("DELETE FROM items WHERE id % 2 = 0")
	q.psql("UPDATE items SET qty = qty + 1000")
	q.psql("CREATE TABLE extra AS SELECT * FROM items")
	changed := q.psql(summary)
	if changed == want {
		t.Fatal("the change changed nothing")
	}
	q.stop()
	waitNoOpenFiles(t, mnt)
	rewindTo(t, mnt, "import")
	q.start()
	if got := q.psql(summary); got != want {
		t.Errorf("rows after the rewind to the import point: %s, want the imported %s (changed: %s)", got, want, changed)
	}
	if got := q.psql("SELECT count(*) FROM pg_class WHERE relname = 'extra'"); got != "0" {
		t.Errorf("a table made after the import is still there after the rewind: %s", got)
	}
	q.amcheck()
	q.stop()
}

// waitNoOpenFiles waits until the mount has no open file: the stopped
// server's processes may take a moment to leave (a rewind refuses while
// files are open).
func waitNoOpenFiles(t testing.TB, mnt string) {
	t.Helper()
	if !eventually(time.Minute, 50*time.Millisecond, func() bool { return status(t, mnt).int("open_files") == 0 }) {
		t.Fatalf("files are still open on %s: %s", mnt, status(t, mnt).raw)
	}
}

// TestImportFullDisk: an import that fills the disk under the new volume
// fails with one line naming the file and the fix, and leaves nothing.
func TestImportFullDisk(t *testing.T) {
	disk := newDir(t, "disk")
	run(t, "mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk)
	t.Cleanup(func() {
		if r := runCmd(t, cmdOpts{}, "umount", disk); !r.ok() {
			t.Errorf("umount tmpfs %s: %s", disk, r)
		}
	})
	src := newDir(t, "src")
	data := make([]byte, 24<<20)
	for i := range data {
		data[i] = byte(i*7919 + i>>12)
	}
	if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := rwfs(t, "import", src, filepath.Join(disk, "vol"), "--segment-size", "1048576")
	oneLineError(t, r)
	if !strings.Contains(r.stderr, filepath.Join(src, "big")) || !strings.Contains(r.stderr, "free space") {
		t.Errorf("import onto a full disk: %q, want the file and the fix named", r.stderr)
	}
	if ents, err := os.ReadDir(disk); err != nil || len(ents) != 0 {
		t.Errorf("left on the full disk after a failed import: %v %v", ents, err)
	}
}
