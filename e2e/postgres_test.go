package e2e

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgServer is a PostgreSQL cluster whose data directory is on a mount. Its
// socket directory and server log live outside the mount. It runs as the user
// postgres (it refuses root); every command goes through runuser.
type pgServer struct {
	t       testing.TB
	bin     map[string]string
	data    string // PGDATA, on the mount
	aux     string // outside the mount: socket directory, server log
	sock    string
	logFile string
	port    int
	pid     int // postmaster pid while running
	uid     int
	gid     int
}

var pgTools = []string{"initdb", "pg_ctl", "postgres", "psql", "pgbench", "pg_amcheck", "runuser"}

// newPG prepares a cluster with PGDATA at MNT/pgdata and runs initdb. Cleanup
// stops the server (immediate mode) if it still runs, before the mount's
// cleanup unmounts.
func newPG(t testing.TB, mnt string) *pgServer {
	t.Helper()
	p := &pgServer{t: t, bin: map[string]string{}}
	for _, name := range pgTools {
		p.bin[name] = requireTool(t, name)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		skipOrFail(t, "no postgres user: %v", err)
	}
	p.uid, _ = strconv.Atoi(u.Uid)
	p.gid, _ = strconv.Atoi(u.Gid)

	p.aux = newDir(t, "pg")
	p.sock = filepath.Join(p.aux, "sock")
	p.logFile = filepath.Join(p.aux, "server.log")
	if err := os.Mkdir(p.sock, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{p.aux, p.sock} {
		if err := os.Chown(d, p.uid, p.gid); err != nil {
			t.Fatal(err)
		}
	}
	p.data = filepath.Join(mnt, "pgdata")
	if err := os.Mkdir(p.data, 0o700); err != nil {
		t.Fatalf("mkdir PGDATA on the mount: %v", err)
	}
	if err := os.Chown(p.data, p.uid, p.gid); err != nil {
		t.Fatalf("chown PGDATA on the mount: %v", err)
	}
	p.port = freePort(t)
	t.Cleanup(p.cleanup)
	stopBeforeUnmount(mnt, p.cleanup)

	p.as(5*time.Minute, "initdb", "-D", p.data, "-U", "postgres", "-A", "trust", "--no-locale", "-E", "UTF8")
	return p
}

// as runs one of PostgreSQL's programs as the user postgres and fails the test on error.
func (p *pgServer) as(timeout time.Duration, prog string, args ...string) string {
	p.t.Helper()
	r := p.asRes(timeout, prog, args...)
	if !r.ok() {
		p.t.Fatalf("%s failed:\n%s\nserver log:\n%s", prog, r, p.serverLog())
	}
	return r.stdout
}

func (p *pgServer) asRes(timeout time.Duration, prog string, args ...string) result {
	p.t.Helper()
	full := append([]string{"-u", "postgres", "--", p.bin[prog]}, args...)
	return runCmd(p.t, cmdOpts{timeout: timeout, dir: p.aux}, p.bin["runuser"], full...)
}

func (p *pgServer) serverLog() string {
	data, _ := os.ReadFile(p.logFile)
	s := string(data)
	if len(s) > 6000 {
		s = "...\n" + s[len(s)-6000:]
	}
	return s
}

// conn is the connection options for clients.
func (p *pgServer) conn() []string {
	return []string{"-h", p.sock, "-p", strconv.Itoa(p.port), "-U", "postgres"}
}

// start starts the server and waits until it accepts connections; extra are
// further "-c name=value" settings.
func (p *pgServer) start(extra ...string) {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on", p.port, p.sock)
	for _, e := range extra {
		opts += " -c " + e
	}
	p.as(3*time.Minute, "pg_ctl", "-D", p.data, "-l", p.logFile, "-w", "-t", "150", "-o", opts, "start")
	pidFile, err := os.ReadFile(filepath.Join(p.data, "postmaster.pid"))
	if err != nil {
		p.t.Fatalf("read postmaster.pid: %v", err)
	}
	first, _, _ := strings.Cut(string(pidFile), "\n")
	p.pid, err = strconv.Atoi(strings.TrimSpace(first))
	if err != nil || !pidAlive(p.pid) {
		p.t.Fatalf("postmaster.pid names %q, not a live process", first)
	}
}

// stop shuts the server down cleanly (mode fast).
func (p *pgServer) stop() {
	p.t.Helper()
	p.as(3*time.Minute, "pg_ctl", "-D", p.data, "-m", "fast", "-w", "-t", "150", "stop")
	if !waitGone(p.pid, 30*time.Second) {
		p.t.Fatalf("postmaster %d still running after pg_ctl stop", p.pid)
	}
	p.pid = 0
}

// kill SIGKILLs the postmaster and all its children at once, as a power cut would.
func (p *pgServer) kill() {
	p.t.Helper()
	if p.pid == 0 {
		return
	}
	killTree(p.pid)
	// The next postmaster refuses to start while the old pid still exists,
	// even as a zombie: wait until init has reaped it.
	pid := p.pid
	if !eventually(30*time.Second, 20*time.Millisecond, func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return os.IsNotExist(err)
	}) {
		p.t.Fatalf("postmaster %d was killed but not reaped within 30s", pid)
	}
	p.pid = 0
}

// cleanup stops a server that is still running: pg_ctl stop -m immediate, then
// SIGKILL for whatever is left.
func (p *pgServer) cleanup() {
	if p.pid == 0 || !pidAlive(p.pid) {
		return
	}
	r := p.asRes(30*time.Second, "pg_ctl", "-D", p.data, "-m", "immediate", "-w", "-t", "20", "stop")
	if !r.ok() {
		p.t.Logf("cleanup: pg_ctl stop -m immediate:\n%s", r)
	}
	if !waitGone(p.pid, 10*time.Second) {
		killTree(p.pid)
	}
	if p.t.Failed() {
		p.t.Logf("server log:\n%s", p.serverLog())
	}
}

// psql runs one SQL command and returns its unaligned, tuples-only output.
func (p *pgServer) psql(sql string) string {
	p.t.Helper()
	args := append(p.conn(), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql)
	return strings.TrimSpace(p.as(2*time.Minute, "psql", args...))
}

// amcheck runs pg_amcheck over every database, heap and index, and fails the
// test if it reports anything.
func (p *pgServer) amcheck() {
	p.t.Helper()
	args := append(p.conn(), "--install-missing", "--heapallindexed", "--rootdescend", "-a")
	r := p.asRes(5*time.Minute, "pg_amcheck", args...)
	if !r.ok() || strings.TrimSpace(r.stdout) != "" {
		p.t.Errorf("pg_amcheck reported a problem:\n%s", r)
	}
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok {
				if pp, _ := strconv.Atoi(strings.TrimSpace(v)); pp == pid {
					out = append(out, c)
				}
				break
			}
		}
	}
	return out
}

// killTree SIGKILLs pid and all its descendants and waits for them to go.
func killTree(pid int) {
	all := []int{pid}
	for i := 0; i < len(all); i++ {
		all = append(all, children(all[i])...)
	}
	for _, p := range all {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	for _, p := range all {
		waitGone(p, 10*time.Second)
	}
}

const pgbenchSummarySQL = `SELECT (SELECT count(*) FROM pgbench_accounts) || ' ' ||
 (SELECT count(*) FROM pgbench_branches) || ' ' ||
 (SELECT count(*) FROM pgbench_tellers) || ' ' ||
 (SELECT count(*) FROM pgbench_history) || ' ' ||
 (SELECT sum(abalance) FROM pgbench_accounts) || ' ' ||
 (SELECT sum(bbalance) FROM pgbench_branches) || ' ' ||
 (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' ||
 (SELECT coalesce(sum(delta), 0) FROM pgbench_history)`

// pgbenchSummary returns the row counts of the four pgbench tables and the
// balance sums, and checks pgbench's own invariant: every balance sum equals
// the sum of the history's deltas.
func pgbenchSummary(t testing.TB, p *pgServer) string {
	t.Helper()
	s := p.psql(pgbenchSummarySQL)
	f := strings.Fields(s)
	if len(f) != 8 {
		t.Fatalf("unexpected summary %q", s)
	}
	if f[4] != f[7] || f[5] != f[7] || f[6] != f[7] {
		t.Errorf("pgbench balances disagree: accounts %s, branches %s, tellers %s, history %s", f[4], f[5], f[6], f[7])
	}
	return fmt.Sprintf("accounts=%s branches=%s tellers=%s history=%s sum(abalance)=%s", f[0], f[1], f[2], f[3], f[4])
}

// TestPostgres runs pgbench on PostgreSQL 15 on the mount, stops it cleanly,
// unmounts, remounts, restarts and checks with pg_amcheck that every heap and
// index is sound and that every row is still there.
func TestPostgres(t *testing.T) {
	for _, name := range pgTools {
		requireTool(t, name)
	}
	vol := newVolume(t)
	mnt := newDir(t, "mnt")
	mountAt(t, vol, mnt, "--allow-other")
	pg := newPG(t, mnt)
	pg.start()

	conn := pg.conn()
	pg.as(5*time.Minute, "pgbench", append(conn, "-i", "-s", "2", "-q", "postgres")...)
	out := pg.as(2*time.Minute, "pgbench", append(conn, "-c", "2", "-j", "2", "-T", "10", "-n", "postgres")...)
	if !strings.Contains(out, "number of failed transactions: 0") && strings.Contains(out, "number of failed transactions") {
		t.Errorf("pgbench reported failed transactions:\n%s", out)
	}
	before := pgbenchSummary(t, pg)
	t.Logf("before: %s", before)
	if !strings.Contains(before, "accounts=200000 branches=2 tellers=20") {
		t.Errorf("unexpected pgbench table sizes at scale 2: %s", before)
	}
	if strings.Contains(before, "history=0 ") {
		t.Errorf("pgbench -T 10 committed no transaction: %s", before)
	}
	pg.stop()

	unmount(t, mnt)
	if r := rwfs(t, "verify", vol); !r.ok() {
		t.Errorf("verify after unmount failed:\n%s", r)
	}
	mountAt(t, vol, mnt, "--allow-other")
	pg.start()
	pg.amcheck()
	after := pgbenchSummary(t, pg)
	if after != before {
		t.Errorf("after remount: %s\nwant:         %s", after, before)
	}
	pg.stop()
}
