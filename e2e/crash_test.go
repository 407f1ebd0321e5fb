package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writer is a process (group) that commits rows one transaction each and
// appends each committed id to an acknowledgement file outside the mount,
// only after the commit returned.
type writer struct {
	t       testing.TB
	cmd     *exec.Cmd
	ack     string
	errFile string
	done    chan struct{}
}

// startWriter starts a program in its own process group; cleanup kills the group.
func startWriter(t testing.TB, ack string, stdin *os.File, name string, args ...string) *writer {
	t.Helper()
	w := &writer{t: t, ack: ack, errFile: ack + ".stderr", done: make(chan struct{})}
	errF, err := os.Create(w.errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer errF.Close()
	w.cmd = exec.Command(name, args...)
	w.cmd.Stderr = errF
	w.cmd.Stdin = stdin
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if strings.HasSuffix(ack, ".out") {
		// The acknowledgements are the program's own standard output.
		outF, err := os.Create(ack)
		if err != nil {
			t.Fatal(err)
		}
		defer outF.Close()
		w.cmd.Stdout = outF
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start writer: %v", err)
	}
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(w.stop)
	return w
}

// stop kills the writer's whole process group and waits for it.
func (w *writer) stop() {
	select {
	case <-w.done:
		return
	default:
	}
	_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		w.t.Errorf("writer %d did not exit 30s after SIGKILL", w.cmd.Process.Pid)
	}
	// Stragglers of the group (a sqlite3 or psql child) are killed too.
	_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
}

func (w *writer) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *writer) stderr() string {
	data, _ := os.ReadFile(w.errFile)
	return string(data)
}

// acks reads the acknowledged ids; a torn last line (the writer was killed
// while writing it) is ignored.
func (w *writer) acks() []int {
	data, _ := os.ReadFile(w.ack)
	var ids []int
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if i == len(lines)-1 {
			break // no newline after it yet: not a complete acknowledgement
		}
		if id, err := strconv.Atoi(strings.TrimSpace(line)); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// runUntilCrash lets the writer commit for a while (at least minAcks
// acknowledgements and the given time), then SIGKILLs the daemon, then the
// writer, and lazily unmounts the dead mount. It returns the acknowledged ids.
func runUntilCrash(t testing.TB, w *writer, mnt string, daemon int, after time.Duration, minAcks int) []int {
	t.Helper()
	start := time.Now()
	ok := eventually(60*time.Second, 10*time.Millisecond, func() bool {
		return w.exited() || (time.Since(start) >= after && len(w.acks()) >= minAcks)
	})
	if w.exited() {
		t.Fatalf("writer exited before the crash, after %d acknowledgements:\n%s", len(w.acks()), w.stderr())
	}
	if !ok {
		w.stop()
		t.Fatalf("writer acknowledged only %d commits in 60s; stderr:\n%s", len(w.acks()), w.stderr())
	}
	killDaemon(t, mnt, daemon)
	w.stop()
	ids := w.acks()
	for i, id := range ids {
		if i > 0 && id != ids[i-1]+1 {
			t.Fatalf("acknowledgement file is not consecutive at %d: %d after %d", i, id, ids[i-1])
		}
	}
	t.Logf("crashed after %v with %d acknowledged commits (%v)", time.Since(start).Round(time.Millisecond), len(ids), firstLast(ids))
	return ids
}

func firstLast(ids []int) string {
	if len(ids) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d..%d", ids[0], ids[len(ids)-1])
}

// checkAcked checks that the ids present are exactly first..m (commits are
// serial, so a prefix-consistent recovery leaves a contiguous range) and that
// m covers every acknowledged id. It returns m.
func checkAcked(t testing.TB, what string, count, minID, maxID, first int, acked []int) int {
	t.Helper()
	if count == 0 {
		maxID = first - 1
	} else if minID != 1 || count != maxID {
		t.Errorf("%s: ids present are not contiguous from 1: count %d, min %d, max %d", what, count, minID, maxID)
	}
	if n := len(acked); n > 0 && maxID < acked[n-1] {
		t.Errorf("%s: lost acknowledged commits: ids %d..%d were acknowledged, only up to %d survived", what, max(maxID+1, acked[0]), acked[n-1], maxID)
	}
	if maxID < first-1 {
		t.Errorf("%s: rows from before this round are gone: max id %d, want at least %d", what, maxID, first-1)
	}
	return maxID
}

// TestCrashSQLite SIGKILLs the daemon while sqlite3 (WAL, synchronous=FULL)
// commits one row per transaction, remounts, and checks that the database is
// intact and that every acknowledged commit survived. Rounds alternate
// between a shell loop (one sqlite3 process per commit) and one long-lived
// sqlite3 process fed through its standard input.
func TestCrashSQLite(t *testing.T) {
	sqlite3 := requireTool(t, "sqlite3")
	bash := requireTool(t, "bash")
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	daemon := mountAt(t, vol, mnt)
	db := filepath.Join(mnt, "crash.db")
	sqlite(t, db, "PRAGMA journal_mode=WAL;\nCREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT NOT NULL);\n")
	aux := newDir(t, "acks")

	next := 1
	const rounds = 4
	for round := 1; round <= rounds; round++ {
		var w *writer
		if round%2 == 1 {
			ack := filepath.Join(aux, fmt.Sprintf("round%d.ack", round))
			script := `i=$1; while [ "$i" -le "$2" ]; do
  "$5" -batch -bail "$3" "PRAGMA synchronous=FULL; INSERT INTO t VALUES($i, hex(randomblob(200)));" >/dev/null || exit 1
  echo "$i" >> "$4"
  i=$((i+1))
done`
			w = startWriter(t, ack, nil, bash, "-c", script, "writer",
				strconv.Itoa(next), strconv.Itoa(next+1000000), db, ack, sqlite3)
		} else {
			ack := filepath.Join(aux, fmt.Sprintf("round%d.out", round))
			in := filepath.Join(aux, fmt.Sprintf("round%d.sql", round))
			var b strings.Builder
			b.WriteString("PRAGMA synchronous=FULL;\n")
			for i := next; i < next+50000; i++ {
				fmt.Fprintf(&b, "INSERT INTO t VALUES(%d, hex(randomblob(200)));\n.print %d\n", i, i)
			}
			if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			w = startWriter(t, ack, f, sqlite3, "-batch", "-bail", db)
			f.Close()
		}
		after := time.Second + time.Duration(rng.Int64N(int64(time.Second)))
		acked := runUntilCrash(t, w, mnt, daemon, after, 5)

		daemon = mountAt(t, vol, mnt)
		integ := strings.TrimSpace(sqlite(t, db, "PRAGMA integrity_check;\n"))
		if integ != "ok" {
			t.Errorf("round %d: integrity_check after crash = %q", round, integ)
		}
		out := strings.Fields(strings.ReplaceAll(sqlite(t, db, "SELECT count(*), coalesce(min(id),0), coalesce(max(id),0) FROM t;\n"), "|", " "))
		if len(out) != 3 {
			t.Fatalf("round %d: unexpected count output %q", round, out)
		}
		count, _ := strconv.Atoi(out[0])
		minID, _ := strconv.Atoi(out[1])
		maxID, _ := strconv.Atoi(out[2])
		m := checkAcked(t, fmt.Sprintf("round %d", round), count, minID, maxID, next, acked)
		t.Logf("round %d: %d rows survive, %d acknowledged this round", round, count, len(acked))
		if t.Failed() {
			break
		}
		next = m + 1
	}

	unmount(t, mnt)
	if r := rwfs(t, "verify", vol); !r.ok() {
		t.Errorf("verify after the crash rounds and a clean unmount failed:\n%s", r)
	}
}

// TestCrashPostgres SIGKILLs the daemon (and then PostgreSQL, as a power cut
// would) while psql commits one row per transaction with fsync=on and
// synchronous_commit=on; after a remount PostgreSQL's crash recovery must
// find every acknowledged row, and pg_amcheck must find nothing wrong.
// It runs twice: with PostgreSQL's default wal_sync_method (write, then
// fdatasync), and with open_datasync on a mount with --dsync-direct, where
// each WAL write is a single WRITE the daemon syncs before answering.
func TestCrashPostgres(t *testing.T) {
	t.Run("fdatasync", func(t *testing.T) { crashPostgres(t, nil, nil) })
	t.Run("open_datasync", func(t *testing.T) {
		crashPostgres(t, []string{"--dsync-direct"}, []string{"wal_sync_method=open_datasync"})
	})
}

// crashPostgres is TestCrashPostgres with extra mount flags and server
// settings.
func crashPostgres(t *testing.T, mountFlags, settings []string) {
	for _, name := range pgTools {
		requireTool(t, name)
	}
	bash := requireTool(t, "bash")
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	mountArgs := append([]string{"--allow-other"}, mountFlags...)
	daemon := mountAt(t, vol, mnt, mountArgs...)
	pg := newPG(t, mnt)
	pg.start(settings...)
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		if got := strings.TrimSpace(pg.psql("SHOW " + k)); got != v {
			t.Fatalf("SHOW %s: %q, want %q", k, got, v)
		}
	}
	pg.psql("CREATE TABLE t(id int PRIMARY KEY, pad text NOT NULL)")
	aux := newDir(t, "acks")

	next := 1
	const rounds = 3
	for round := 1; round <= rounds; round++ {
		ack := filepath.Join(aux, fmt.Sprintf("round%d.ack", round))
		psqlArgs := append([]string{pg.bin["psql"]}, pg.conn()...)
		psqlArgs = append(psqlArgs, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres")
		var w *writer
		if round%2 == 1 {
			// One psql (one connection) per commit.
			script := `i=$1; shift; end=$1; shift; ack=$1; shift
while [ "$i" -le "$end" ]; do
  "$@" -c "INSERT INTO t VALUES ($i, repeat(md5($i::text), 8))" >/dev/null || exit 1
  echo "$i" >> "$ack"
  i=$((i+1))
done`
			w = startWriter(t, ack, nil, bash, append([]string{"-c", script, "writer",
				strconv.Itoa(next), strconv.Itoa(next + 1000000), ack}, psqlArgs...)...)
		} else {
			// One session; psql runs the acknowledging shell command only
			// after the INSERT before it has committed.
			in := filepath.Join(aux, fmt.Sprintf("round%d.sql", round))
			var b strings.Builder
			for i := next; i < next+20000; i++ {
				fmt.Fprintf(&b, "INSERT INTO t VALUES (%d, repeat(md5('%d'), 8));\n\\! echo %d >> %s\n", i, i, i, ack)
			}
			if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			w = startWriter(t, ack, nil, psqlArgs[0], append(psqlArgs[1:], "-f", in)...)
		}
		after := time.Second + time.Duration(rng.Int64N(int64(time.Second)))
		acked := runUntilCrash(t, w, mnt, daemon, after, 5)
		pg.kill()

		daemon = mountAt(t, vol, mnt, mountArgs...)
		pg.start(settings...)
		out := strings.Fields(pg.psql("SELECT count(*), coalesce(min(id),0), coalesce(max(id),0) FROM t"))
		if len(out) != 1 {
			t.Fatalf("round %d: unexpected output %q", round, out)
		}
		f := strings.Split(out[0], "|")
		count, _ := strconv.Atoi(f[0])
		minID, _ := strconv.Atoi(f[1])
		maxID, _ := strconv.Atoi(f[2])
		m := checkAcked(t, fmt.Sprintf("round %d", round), count, minID, maxID, next, acked)
		t.Logf("round %d: %d rows survive, %d acknowledged this round", round, count, len(acked))
		if t.Failed() {
			break
		}
		next = m + 1
	}
	pg.amcheck()
	pg.stop()
	unmount(t, mnt)
	if r := rwfs(t, "verify", vol); !r.ok() {
		t.Errorf("verify after the crash rounds and a clean unmount failed:\n%s", r)
	}
}
