package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// headLSN returns the volume's head LSN from status --json.
func headLSN(t testing.TB, target string) uint64 {
	t.Helper()
	st := status(t, target)
	n, ok := st.uint("head_lsn")
	if !ok {
		t.Fatalf("status --json has no head_lsn: %s", st.raw)
	}
	return n
}

// rewindTo runs `rewindfs rewind TARGET --to TO --json` and returns the plan.
func rewindTo(t testing.TB, target, to string, extra ...string) map[string]any {
	t.Helper()
	out := mustRwfs(t, append([]string{"rewind", target, "--to", to, "--json"}, extra...)...)
	var plan map[string]any
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("rewind --json printed %q: %v", out, err)
	}
	return plan
}

// TestRewindSQLiteSeedScenario is the seed's story on SQLite: 500 orders,
// note the LSN and the time, the forgotten WHERE and a dropped table, a live
// rewind to the LSN, forward to the mistake, back by time, and new writes.
func TestRewindSQLiteSeedScenario(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	db := filepath.Join(mnt, "shop.db")
	sqlite(t, db, "PRAGMA journal_mode=WAL;"+
		"CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT, qty INT);"+
		"CREATE TABLE audit(at TEXT, what TEXT);"+
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<500) "+
		"INSERT INTO orders SELECT i, 'item-'||i, i%7 FROM c;"+
		"INSERT INTO audit VALUES('now', 'loaded');")
	good := headLSN(t, mnt)
	// Time targets have record-time resolution: let the clock move on
	// before the mistake so the noted time falls between the two.
	time.Sleep(50 * time.Millisecond)
	goodTime := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(50 * time.Millisecond)
	check := func(wantOrders string, wantAudit bool) {
		t.Helper()
		got := strings.TrimSpace(sqlite(t, db, "SELECT count(*) FROM orders; PRAGMA integrity_check;"))
		if got != wantOrders+"\nok" {
			t.Fatalf("orders and integrity_check: got %q, want %q", got, wantOrders+"\nok")
		}
		tables := strings.TrimSpace(sqlite(t, db, "SELECT count(*) FROM sqlite_master WHERE name='audit';"))
		if (tables == "1") != wantAudit {
			t.Fatalf("table audit present = %v, want %v", tables == "1", wantAudit)
		}
	}
	check("500", true)

	sqlite(t, db, "DELETE FROM orders; DROP TABLE audit;")
	check("0", false)
	bad := headLSN(t, mnt)

	plan := rewindTo(t, mnt, strconv.FormatUint(good, 10), "--dry-run")
	if n, _ := plan["records_undone"].(float64); n == 0 {
		t.Fatalf("dry run says nothing would be undone: %v", plan)
	}
	if headLSN(t, mnt) != bad {
		t.Fatalf("a dry run changed the head")
	}
	check("0", false)

	rewindTo(t, mnt, strconv.FormatUint(good, 10))
	check("500", true)

	rewindTo(t, mnt, strconv.FormatUint(bad, 10))
	check("0", false)

	rewindTo(t, mnt, goodTime)
	check("500", true)

	sqlite(t, db, "INSERT INTO orders VALUES(501, 'after the rewind', 1);")
	check("501", true)

	// The timeline shows all three rewinds, and the state survives a remount.
	st := status(t, mnt)
	if tl, _ := st.m["timeline"].([]any); len(tl) != 3 {
		t.Fatalf("status timeline has %d rewinds, want 3: %s", len(tl), st.raw)
	}
	unmount(t, mnt)
	mountAt(t, vol, mnt)
	check("501", true)
}

// TestRewindPostgres: under pgbench, the forgotten WHERE and a dropped table;
// stop PostgreSQL, rewind to the time before, start: sums and counts as they
// were, pg_amcheck clean.
func TestRewindPostgres(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol, "--allow-other")
	pg := newPG(t, mnt)
	pg.start()
	pg.as(5*time.Minute, "pgbench", append(pg.conn(), "-i", "-s", "2", "postgres")...)
	pg.as(5*time.Minute, "pgbench", append(pg.conn(), "-c", "2", "-T", "5", "postgres")...)
	pg.psql("CHECKPOINT")
	want := pg.psql("SELECT (SELECT count(*) FROM pgbench_accounts)||' '||(SELECT sum(abalance) FROM pgbench_accounts)||' '||(SELECT count(*) FROM pgbench_history)")
	time.Sleep(50 * time.Millisecond)
	before := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(50 * time.Millisecond)

	pg.psql("DELETE FROM pgbench_accounts")
	pg.psql("DROP TABLE pgbench_history")
	postmaster := pg.pid
	pg.stop()
	// The rewound PGDATA holds the postmaster.pid of the server that ran
	// at the target time, as after a power cut. PostgreSQL starts anyway
	// once that pid is gone, but a zombie not yet reaped still counts.
	if !eventually(30*time.Second, 20*time.Millisecond, func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", postmaster))
		return os.IsNotExist(err)
	}) {
		t.Fatalf("postmaster %d was not reaped within 30s", postmaster)
	}

	plan := rewindTo(t, mnt, before)
	t.Logf("rewind: %v", plan)
	pg.start()
	got := pg.psql("SELECT (SELECT count(*) FROM pgbench_accounts)||' '||(SELECT sum(abalance) FROM pgbench_accounts)||' '||(SELECT count(*) FROM pgbench_history)")
	if got != want {
		t.Fatalf("after the rewind: accounts, balance sum, history = %q, want %q", got, want)
	}
	pg.amcheck()
	pg.stop()
}

// TestRewindMariaDB: InnoDB on the mount (O_DIRECT), the forgotten WHERE,
// stop, rewind, start: the rows are back and CHECK TABLE is clean.
func TestRewindMariaDB(t *testing.T) {
	mariadbd := requireTool(t, "mariadbd")
	install := requireTool(t, "mariadb-install-db")
	client := requireTool(t, "mariadb")
	admin := requireTool(t, "mariadb-admin")
	vol := newVolume(t)
	mnt := mountVolume(t, vol, "--allow-other")
	aux := newDir(t, "mariadb")
	if err := os.Chmod(aux, 0o777); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(mnt, "mysql")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	run(t, "chown", "mysql:mysql", data)
	sock := filepath.Join(aux, "my.sock")
	// MariaDB runs as mysql and takes its temporary directory from TMPDIR,
	// which the test runner may point at a directory only root can write.
	tmp := filepath.Join(aux, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	env := []string{"TMPDIR=" + tmp}
	runIn(t, cmdOpts{timeout: 3 * time.Minute, env: env}, install, "--no-defaults", "--user=mysql", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--tmpdir="+tmp)

	var server *exec.Cmd
	start := func() {
		t.Helper()
		server = exec.Command(mariadbd, "--no-defaults", "--user=mysql", "--datadir="+data, "--socket="+sock,
			"--skip-networking", "--pid-file="+filepath.Join(aux, "my.pid"), "--log-error="+filepath.Join(aux, "err.log"),
			"--innodb-flush-method=O_DIRECT", "--tmpdir="+tmp)
		server.Env = append(os.Environ(), env...)
		if err := server.Start(); err != nil {
			t.Fatal(err)
		}
		if !eventually(2*time.Minute, 100*time.Millisecond, func() bool {
			return runCmd(t, cmdOpts{timeout: 10 * time.Second}, client, "-S", sock, "-e", "SELECT 1").ok()
		}) {
			log, _ := os.ReadFile(filepath.Join(aux, "err.log"))
			t.Fatalf("mariadbd did not start:\n%s", log)
		}
	}
	stop := func() {
		t.Helper()
		if server == nil {
			return
		}
		runIn(t, cmdOpts{timeout: 2 * time.Minute}, admin, "-S", sock, "shutdown")
		_ = server.Wait()
		server = nil
	}
	t.Cleanup(func() {
		if server != nil {
			_ = server.Process.Kill()
			_ = server.Wait()
		}
	})
	sql := func(q string) string {
		t.Helper()
		return strings.TrimSpace(runIn(t, cmdOpts{timeout: 2 * time.Minute}, client, "-S", sock, "-N", "-B", "-e", q))
	}

	start()
	sql("CREATE DATABASE shop; USE shop; CREATE TABLE orders(id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB;" +
		"INSERT INTO orders SELECT seq, MD5(seq) FROM seq_1_to_500")
	want := sql("SELECT count(*), sum(id) FROM shop.orders")
	stop()
	good := headLSN(t, mnt)
	start()
	sql("DELETE FROM shop.orders")
	if got := sql("SELECT count(*) FROM shop.orders"); got != "0" {
		t.Fatalf("after DELETE: %q rows", got)
	}
	stop()
	rewindTo(t, mnt, strconv.FormatUint(good, 10))
	start()
	if got := sql("SELECT count(*), sum(id) FROM shop.orders"); got != want {
		t.Fatalf("after the rewind: %q, want %q", got, want)
	}
	if got := sql("CHECK TABLE shop.orders"); !strings.HasSuffix(got, "OK") {
		t.Fatalf("CHECK TABLE: %q", got)
	}
	stop()
}

// TestViewBesideLiveMount: a read-only view of a past LSN, mounted while the
// volume is mounted read-write, shows exactly that state and refuses writes;
// `mount --at` read-write rewinds first.
func TestViewBesideLiveMount(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	writeFileSync(t, filepath.Join(mnt, "a"), []byte("version one"), 0o644)
	if err := os.Mkdir(filepath.Join(mnt, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	past := headLSN(t, mnt)
	want := treeHashes(t, mnt, nil)
	writeFileSync(t, filepath.Join(mnt, "a"), []byte("version two, longer"), 0o644)
	writeFileSync(t, filepath.Join(mnt, "b"), []byte("new"), 0o644)
	if err := os.Remove(filepath.Join(mnt, "dir")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	head := headLSN(t, mnt)

	view := mountVolume(t, vol, "--read-only", "--at", strconv.FormatUint(past, 10))
	if got := treeHashes(t, view, nil); diffMaps(want, got) != "" {
		t.Fatalf("view at LSN %d differs from the tree noted there:\n%s", past, diffMaps(want, got))
	}
	err := os.WriteFile(filepath.Join(view, "c"), []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write into a view: %v, want a read-only file system error", err)
	}
	if got := headLSN(t, mnt); got != head {
		t.Fatalf("mounting a view moved the live head from %d to %d", head, got)
	}
	unmount(t, view)
	unmount(t, mnt)

	// mount --at read-write: a rewind, then the live volume.
	mountAt(t, vol, mnt, "--at", strconv.FormatUint(past, 10))
	if got := treeHashes(t, mnt, nil); diffMaps(want, got) != "" {
		t.Fatalf("mount --at %d shows another tree:\n%s", past, diffMaps(want, got))
	}
	st := status(t, mnt)
	if tl, _ := st.m["timeline"].([]any); len(tl) != 1 {
		t.Fatalf("mount --at did not record a rewind: %s", st.raw)
	}
}

// TestRewindBadInput: each refusal is one line on stderr, a non-zero exit,
// and the volume's head unchanged.
func TestRewindBadInput(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	writeFileSync(t, filepath.Join(mnt, "f"), []byte("data"), 0o644)
	head := headLSN(t, mnt)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cases := map[string][]string{
		"malformed target":   {"rewind", mnt, "--to", "yesterday-ish!"},
		"future time":        {"rewind", mnt, "--to", future},
		"LSN after the head": {"rewind", mnt, "--to", strconv.FormatUint(head+1000, 10)},
		"before the window":  {"rewind", mnt, "--to", "2001-01-01T00:00:00Z"},
		"unknown mark":       {"rewind", mnt, "--to", "no-such-mark"},
		"no --to":            {"rewind", mnt},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			r := rwfs(t, args...)
			if r.ok() {
				t.Fatalf("%v succeeded:\n%s", args, r)
			}
			oneLineError(t, r)
			if got := headLSN(t, mnt); got != head {
				t.Fatalf("a refused rewind moved the head from %d to %d", head, got)
			}
		})
	}
	t.Run("window named", func(t *testing.T) {
		r := rwfs(t, "rewind", mnt, "--to", "2001-01-01T00:00:00Z")
		if !strings.Contains(r.stderr, "the window holds LSN 1") {
			t.Fatalf("the refusal does not name the restorable window: %q", r.stderr)
		}
	})
	t.Run("open file", func(t *testing.T) {
		f, err := os.Open(filepath.Join(mnt, "f"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r := rwfs(t, "rewind", mnt, "--to", "1")
		if r.ok() || !strings.Contains(r.stderr, "open") {
			t.Fatalf("rewind with an open file: %s", r)
		}
		oneLineError(t, r)
		if got := headLSN(t, mnt); got != head {
			t.Fatalf("a refused rewind moved the head from %d to %d", head, got)
		}
	})
	t.Run("other user", func(t *testing.T) {
		runuser := requireTool(t, "runuser")
		r := runCmd(t, cmdOpts{timeout: time.Minute}, runuser, "-u", "nobody", "--", binPath, "rewind", mnt, "--to", "1")
		if r.ok() {
			t.Fatalf("user nobody rewound the volume:\n%s", r)
		}
		if got := headLSN(t, mnt); got != head {
			t.Fatalf("another user's rewind moved the head from %d to %d", head, got)
		}
	})
	t.Run("earliest if unavailable", func(t *testing.T) {
		out := mustRwfs(t, "rewind", mnt, "--to", "2001-01-01T00:00:00Z", "--earliest-if-unavailable", "--json")
		var plan map[string]any
		if err := json.Unmarshal([]byte(out), &plan); err != nil {
			t.Fatal(err)
		}
		if to, _ := plan["to_lsn"].(float64); to != 1 {
			t.Fatalf("--earliest-if-unavailable rewound to %v, want LSN 1", plan["to_lsn"])
		}
	})
}

// TestRewindOffline: an unmounted volume is rewound in place; a read-only
// status afterwards shows the rewind, and the next mount serves the target.
func TestRewindOffline(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	writeFileSync(t, filepath.Join(mnt, "f"), []byte("before"), 0o644)
	good := headLSN(t, mnt)
	writeFileSync(t, filepath.Join(mnt, "f"), []byte("after!"), 0o644)
	unmount(t, mnt)
	rewindTo(t, vol, strconv.FormatUint(good, 10))
	mountAt(t, vol, mnt)
	got, err := os.ReadFile(filepath.Join(mnt, "f"))
	if err != nil || string(got) != "before" {
		t.Fatalf("after an offline rewind f = %q, %v; want \"before\"", got, err)
	}
	if st := status(t, mnt); !strings.Contains(st.raw, fmt.Sprintf(`"target":%d`, good)) {
		t.Fatalf("status does not show the rewind to %d: %s", good, st.raw)
	}
}
