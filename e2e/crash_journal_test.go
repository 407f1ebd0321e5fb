package e2e

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCrashSQLiteRollbackJournal: SQLite's default journal mode commits by
// unlinking the journal, which it does not fsync. A kill -9 of the daemon
// right after such a commit, with the connection still open (no close, so
// no FUSE flush, in between), must not bring the journal back: SQLite would
// roll the acknowledged transaction back. Before namespace changes left the
// daemon's write buffer at once, every round here lost its commit.
func TestCrashSQLiteRollbackJournal(t *testing.T) {
	sqlite3 := requireTool(t, "sqlite3")
	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	daemon := mountAt(t, vol, mnt)
	db := filepath.Join(mnt, "journal.db")
	sqlite(t, db, "PRAGMA journal_mode=DELETE;\nCREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT NOT NULL);\n")
	for round := 1; round <= 3; round++ {
		cmd := exec.Command(sqlite3, "-batch", "-bail", db)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(in, "PRAGMA synchronous=FULL;\nINSERT INTO t VALUES(%d, hex(randomblob(300)));\n.print committed\n", round)
		lines := bufio.NewScanner(out)
		committed := false
		for lines.Scan() {
			if lines.Text() == "committed" {
				committed = true
				break
			}
		}
		if !committed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("round %d: sqlite3 did not commit: %s", round, stderr.String())
		}
		killDaemon(t, mnt, daemon) // sqlite3 still holds the database open
		_ = cmd.Process.Kill()
		_ = cmd.Wait()

		daemon = mountAt(t, vol, mnt)
		if integ := strings.TrimSpace(sqlite(t, db, "PRAGMA integrity_check;\n")); integ != "ok" {
			t.Fatalf("round %d: integrity_check = %q", round, integ)
		}
		got := strings.TrimSpace(sqlite(t, db, "SELECT count(*) || ' ' || coalesce(max(id), 0) FROM t;\n"))
		if want := fmt.Sprintf("%d %d", round, round); got != want {
			t.Fatalf("round %d: count and max id %q, want %q: the acknowledged commit was rolled back", round, got, want)
		}
	}
}
