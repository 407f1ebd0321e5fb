package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// sqlite runs the sqlite3 CLI on db with sql on its standard input and returns
// what it printed; any error (exit status or a message on stderr) fails the test.
// The database is only ever opened by this separate process, never by the test.
func sqlite(t testing.TB, db, sql string) string {
	t.Helper()
	bin := requireTool(t, "sqlite3")
	r := runCmd(t, cmdOpts{stdin: strings.NewReader(sql)}, bin, "-batch", "-bail", db)
	if !r.ok() || strings.TrimSpace(r.stderr) != "" {
		t.Fatalf("sqlite3 failed:\n%s\nscript:\n%s", r, clip(sql))
	}
	return r.stdout
}

// sqlitePad is a deterministic text of 50..549 letters for row x.
func sqlitePad(x string) string {
	return fmt.Sprintf("substr(replace(hex(zeroblob(300)), '0', char(65 + (%[1]s %% 26))), 1, 50 + (%[1]s %% 500))", x)
}

// sqliteInsertRange inserts rows lo..hi into t in one statement.
func sqliteInsertRange(lo, hi int) string {
	return fmt.Sprintf("WITH RECURSIVE c(x) AS (SELECT %d UNION ALL SELECT x + 1 FROM c WHERE x < %d) "+
		"INSERT INTO t SELECT x, 'k' || (x * 7919 %% 1009), x * 3, %s FROM c;\n", lo, hi, sqlitePad("x"))
}

// sqliteWorkload is a few transactions in several sqlite3 processes: inserts,
// updates, deletes, a rolled back transaction, an index, a second table, and
// a checkpoint (WAL) or VACUUM (rollback journal) that rewrites the file.
func sqliteWorkload(mode string) []string {
	var p1, p2, p3 strings.Builder
	fmt.Fprintf(&p1, "PRAGMA journal_mode=%s;\nPRAGMA synchronous=FULL;\n", mode)
	p1.WriteString("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v INTEGER NOT NULL, pad TEXT NOT NULL);\n")
	p1.WriteString("CREATE INDEX t_k ON t(k, v);\n")
	for lo := 1; lo <= 3000; lo += 750 {
		fmt.Fprintf(&p1, "BEGIN;\n%sCOMMIT;\n", sqliteInsertRange(lo, lo+749))
	}

	p2.WriteString("PRAGMA synchronous=FULL;\n")
	p2.WriteString("BEGIN;\nUPDATE t SET v = v * 2 + 1, k = k || 'u' WHERE id % 7 = 0;\nCOMMIT;\n")
	p2.WriteString("BEGIN;\nDELETE FROM t WHERE id % 11 = 0;\nCOMMIT;\n")
	p2.WriteString("BEGIN;\nDELETE FROM t;\nROLLBACK;\n")
	fmt.Fprintf(&p2, "BEGIN;\n%sCOMMIT;\n", sqliteInsertRange(3001, 4200))
	p2.WriteString("CREATE TABLE t2 AS SELECT id, v, k FROM t WHERE id % 3 = 0;\nCREATE UNIQUE INDEX t2_id ON t2(id);\n")

	p3.WriteString("PRAGMA synchronous=FULL;\n")
	p3.WriteString("BEGIN;\nDELETE FROM t WHERE id BETWEEN 100 AND 900;\nCOMMIT;\n")
	if strings.EqualFold(mode, "wal") {
		p3.WriteString("PRAGMA wal_checkpoint(TRUNCATE);\n")
	} else {
		p3.WriteString("VACUUM;\n")
	}
	fmt.Fprintf(&p3, "BEGIN;\n%sUPDATE t SET pad = lower(pad) WHERE id %% 5 = 0;\nCOMMIT;\n", sqliteInsertRange(500, 600))
	p3.WriteString("BEGIN;\nUPDATE t2 SET v = -v WHERE id % 2 = 0;\nDELETE FROM t2 WHERE id > 3900;\nCOMMIT;\n")
	return []string{p1.String(), p2.String(), p3.String()}
}

// sqliteSummary is what must survive: the integrity check, counts and sums, and
// a hash of the whole .dump.
func sqliteSummary(t testing.TB, db string) (integrity, summary, dumpHash string) {
	t.Helper()
	integrity = strings.TrimSpace(sqlite(t, db, "PRAGMA integrity_check;\n"))
	summary = strings.TrimSpace(sqlite(t, db,
		"SELECT count(*), sum(v), sum(length(pad)), min(id), max(id), (SELECT count(*) || '/' || sum(v) FROM t2) FROM t;\n"))
	dump := sqlite(t, db, ".dump\n")
	return integrity, summary, sha([]byte(dump))
}

func TestSQLite(t *testing.T) {
	for _, mode := range []string{"WAL", "DELETE"} {
		t.Run(mode, func(t *testing.T) {
			requireTool(t, "sqlite3")
			vol := newVolume(t)
			mnt := mountVolume(t, vol)

			// The same workload on a plain directory is the oracle.
			ref := filepath.Join(newDir(t, "ref"), "ref.db")
			db := filepath.Join(mnt, "test.db")
			for i, script := range sqliteWorkload(mode) {
				want := sqlite(t, ref, script)
				got := sqlite(t, db, script)
				if got != want {
					t.Fatalf("script %d printed %q on the mount, %q on a plain directory", i+1, got, want)
				}
			}
			if mode == "WAL" {
				if jm := strings.TrimSpace(sqlite(t, db, "PRAGMA journal_mode;\n")); jm != "wal" {
					t.Fatalf("journal_mode on the mount is %q, want wal", jm)
				}
			}

			refInteg, refSum, refDump := sqliteSummary(t, ref)
			if refInteg != "ok" {
				t.Fatalf("reference database is not ok: %s", refInteg)
			}
			t.Logf("reference: %s", refSum)
			check := func(when string) {
				t.Helper()
				integ, sum, dump := sqliteSummary(t, db)
				if integ != "ok" {
					t.Errorf("%s: PRAGMA integrity_check = %q, want ok", when, integ)
				}
				if sum != refSum {
					t.Errorf("%s: count|sum(v)|sum(len(pad))|min|max|t2 = %s, want %s", when, sum, refSum)
				}
				if dump != refDump {
					t.Errorf("%s: .dump differs from the same workload on a plain directory (sha %s, want %s)", when, dump, refDump)
				}
			}
			check("before unmount")

			unmount(t, mnt)
			if r := rwfs(t, "verify", vol); !r.ok() {
				t.Errorf("verify after unmount failed:\n%s", r)
			}
			mountAt(t, vol, mnt)
			check("after remount")
		})
	}
}
