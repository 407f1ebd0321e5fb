package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCloneMountedAtMark: a volume mounted with SQLite on it is cloned at a
// mark while another sqlite3 process keeps writing. The clone, mounted
// beside the parent, shows exactly what a read-only view at the mark shows;
// SQLite finds its database whole there; writes to the clone leave the
// parent's mount and its volume files untouched; and the clone rewinds to
// the mark it took along.
func TestCloneMountedAtMark(t *testing.T) {
	requireTool(t, "sqlite3")
	vol := newVolume(t, "--segment-size", "65536")
	mnt := mountVolume(t, vol)
	db := filepath.Join(mnt, "shop.db")
	sqlite(t, db, "PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\n"+
		"CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v INTEGER NOT NULL, pad TEXT NOT NULL);\n"+
		"BEGIN;\n"+sqliteInsertRange(1, 3000)+"COMMIT;\n")
	syncDir(t, mnt)
	mustRwfs(t, "mark", mnt, "before-clone")
	wantRows := strings.TrimSpace(sqlite(t, db, "SELECT count(*) || ' ' || sum(v) FROM t;"))

	// Another process writes while the clone is made.
	bin := requireTool(t, "sqlite3")
	script := "i=0; while [ $i -lt 60 ]; do " + bin + " " + db +
		" 'PRAGMA synchronous=FULL; INSERT INTO t SELECT max(id)+1, \"w\", 1, \"x\" FROM t;' || exit 1; i=$((i+1)); done"
	writer := exec.Command("sh", "-c", script)
	var werr strings.Builder
	writer.Stderr = &werr
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = writer.Process.Kill()
			_ = writer.Wait()
		}
	})
	clone := filepath.Join(newDir(t, "clones"), "shop-clone")
	out := mustRwfs(t, "clone", mnt, clone, "--at", "before-clone", "--json")
	waited = true
	if err := writer.Wait(); err != nil {
		t.Fatalf("the writer beside the clone failed: %v\n%s", err, werr.String())
	}
	var rep struct {
		LSN            uint64   `json:"lsn"`
		SegmentsLinked int      `json:"segments_linked"`
		Marks          []string `json:"marks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("clone --json: %v\n%s", err, out)
	}
	if rep.SegmentsLinked == 0 || len(rep.Marks) != 1 || rep.Marks[0] != "before-clone" {
		t.Fatalf("clone --json: want linked segments and the mark: %s", out)
	}
	mustRwfs(t, "verify", clone)

	view := mountVolume(t, vol, "--read-only", "--at", "before-clone")
	want := treeHashes(t, view, nil)
	unmount(t, view)

	// The parent, as it is now, byte for byte (after the view, which adds
	// base/pins/ to it).
	syncDir(t, mnt)
	parentTree := treeHashes(t, mnt, nil)
	parentFiles := settledHashes(t, vol)
	cmnt := mountVolume(t, clone)
	if got := treeHashes(t, cmnt, nil); diffMaps(want, got) != "" {
		t.Fatalf("the clone differs from a view at the mark:\n%s", diffMaps(want, got))
	}
	cdb := filepath.Join(cmnt, "shop.db")
	if got := strings.TrimSpace(sqlite(t, cdb, "SELECT count(*) || ' ' || sum(v) FROM t;")); got != wantRows {
		t.Fatalf("the clone has rows %q, the parent had %q at the mark", got, wantRows)
	}
	if got := strings.TrimSpace(sqlite(t, cdb, "PRAGMA integrity_check;")); got != "ok" {
		t.Fatalf("integrity_check on the clone: %s", got)
	}
	sqlite(t, cdb, "PRAGMA synchronous=FULL;\nBEGIN;\nDELETE FROM t WHERE id % 2 = 0;\nCOMMIT;\n")
	syncDir(t, cmnt)

	if got := treeHashes(t, mnt, nil); diffMaps(parentTree, got) != "" {
		t.Fatalf("writes to the clone changed the parent's mount:\n%s", diffMaps(parentTree, got))
	}
	if got := volumeHashes(t, vol); diffMaps(parentFiles, got) != "" {
		t.Fatalf("writes to the clone changed the parent's volume files:\n%s", diffMaps(parentFiles, got))
	}

	// The clone's own history: back to the mark it took along.
	st := status(t, cmnt)
	if n, _ := st.uint("head_lsn"); n <= rep.LSN {
		t.Fatalf("the clone's head %d is not past its start %d: %s", n, rep.LSN, st.raw)
	}
	mustRwfs(t, "rewind", cmnt, "--to", "before-clone")
	if got := treeHashes(t, cmnt, nil); diffMaps(want, got) != "" {
		t.Fatalf("the clone rewound to the mark differs from the view at it:\n%s", diffMaps(want, got))
	}
	unmount(t, cmnt)

	// Refusals: one line each, nothing made.
	for _, args := range [][]string{
		{"clone", vol, clone},
		{"clone", vol, filepath.Join(filepath.Dir(clone), "c2"), "--at", "no-such-mark"},
		{"clone", filepath.Dir(clone), filepath.Join(filepath.Dir(clone), "c3")},
	} {
		r := rwfs(t, args...)
		if r.ok() {
			t.Fatalf("rewindfs %s succeeded", strings.Join(args, " "))
		}
		oneLineError(t, r)
	}
	ents, err := os.ReadDir(filepath.Dir(clone))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("refused clones left files beside the clone: %v", ents)
	}
}
