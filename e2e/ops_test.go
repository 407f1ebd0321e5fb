package e2e

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/lsn"
)

// The tests of the commands an operator uses on the bad day: diff, bisect,
// rewind --stop/--start, and the Go client a test suite uses.

// diffFile is one entry of `diff --json`.
type diffFile struct {
	Change  string   `json:"change"`
	Path    string   `json:"path"`
	OldPath string   `json:"old_path"`
	Type    string   `json:"type"`
	OldSize uint64   `json:"old_size"`
	Size    uint64   `json:"size"`
	Bytes   int64    `json:"bytes_changed"`
	What    []string `json:"what"`
}

type diffOut struct {
	From    uint64     `json:"from_lsn"`
	To      uint64     `json:"to_lsn"`
	Created int        `json:"created"`
	Removed int        `json:"removed"`
	Renamed int        `json:"renamed"`
	Changed int        `json:"changed"`
	Bytes   int64      `json:"bytes_changed"`
	Files   []diffFile `json:"files"`
}

func parseDiff(t testing.TB, out string) diffOut {
	t.Helper()
	var d diffOut
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("diff --json printed %q: %v", out, err)
	}
	return d
}

// TestOpsDiff: after a few file operations, diff names every file created,
// removed, renamed and changed, once, with the bytes changed counted in
// pages; the daemon's answer and an unmounted volume's are the same.
func TestOpsDiff(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	p := func(name string) string { return filepath.Join(mnt, name) }
	page := func(c byte, n int) []byte { return []byte(strings.Repeat(string(c), n)) }
	writeFileSync(t, p("keep"), page('k', 3*4096), 0o644)
	writeFileSync(t, p("gone"), page('g', 5000), 0o644)
	writeFileSync(t, p("old-name"), page('o', 100), 0o644)
	if err := os.Mkdir(p("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileSync(t, p("dir/inner"), page('i', 10), 0o644)
	writeFileSync(t, p("cut"), page('c', 3*4096), 0o644)
	syncDir(t, mnt)
	from := headLSN(t, mnt)

	// One page of keep rewritten in place.
	f, err := os.OpenFile(p("keep"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(page('K', 4096), 4096); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Remove(p("gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p("old-name"), p("dir/new-name")); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p("cut"), 100); err != nil {
		t.Fatal(err)
	}
	writeFileSync(t, p("fresh"), page('f', 10000), 0o644)
	if err := os.Mkdir(p("newdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	syncDir(t, p("dir"))
	to := headLSN(t, mnt)

	out := mustRwfs(t, "diff", mnt, "--from", strconv.FormatUint(from, 10), "--to", strconv.FormatUint(to, 10), "--json")
	d := parseDiff(t, out)
	if d.From != from || d.To != to {
		t.Fatalf("diff compared LSN %d to %d, want %d to %d", d.From, d.To, from, to)
	}
	got := map[string]diffFile{}
	for _, e := range d.Files {
		if _, dup := got[e.Path]; dup {
			t.Errorf("%s listed twice: %s", e.Path, out)
		}
		got[e.Path] = e
	}
	want := func(path, change, oldPath, typ string, minBytes, maxBytes int64) {
		t.Helper()
		e, ok := got[path]
		if !ok {
			t.Errorf("%s is not in the diff: %s", path, out)
			return
		}
		delete(got, path)
		if e.Change != change || e.OldPath != oldPath || e.Type != typ {
			t.Errorf("%s: %s from %q (%s), want %s from %q (%s)", path, e.Change, e.OldPath, e.Type, change, oldPath, typ)
		}
		if e.Bytes < minBytes || e.Bytes > maxBytes {
			t.Errorf("%s: %d bytes changed, want %d to %d", path, e.Bytes, minBytes, maxBytes)
		}
	}
	// The kernel writes back whole pages: one, maybe its neighbour.
	want("/keep", "changed", "", "file", 4096, 2*4096)
	want("/gone", "removed", "", "file", 5000, 5000)
	want("/dir/new-name", "renamed", "/old-name", "file", 0, 0)
	// Page 0 is replaced by the cut page, pages 1 and 2 are dropped.
	want("/cut", "changed", "", "file", 3*4096, 3*4096)
	want("/fresh", "created", "", "file", 10000, 10000)
	want("/newdir", "created", "", "dir", 0, 0)
	for path, e := range got {
		t.Errorf("unexpected entry %s: %+v (a directory whose entries changed, or an entry of a renamed one, is not itself a change)", path, e)
	}
	if d.Created != 2 || d.Removed != 1 || d.Renamed != 1 || d.Changed != 2 {
		t.Errorf("counts created/removed/renamed/changed = %d/%d/%d/%d, want 2/1/1/2", d.Created, d.Removed, d.Renamed, d.Changed)
	}
	if c := got["/cut"]; c.Path != "" && (c.OldSize != 3*4096 || c.Size != 100) {
		t.Errorf("/cut sizes %d -> %d, want %d -> 100", c.OldSize, c.Size, 3*4096)
	}

	text := mustRwfs(t, "diff", mnt, "--from", strconv.FormatUint(from, 10))
	for _, line := range []string{"renamed  /old-name -> /dir/new-name", "removed  /gone", "created  /fresh"} {
		if !strings.Contains(text, line) {
			t.Errorf("diff without --json does not show %q:\n%s", line, text)
		}
	}
	if !strings.Contains(text, "2 created, 1 removed, 1 renamed, 2 changed") {
		t.Errorf("diff without --json has no summary line:\n%s", text)
	}
	r := rwfs(t, "diff", mnt, "--from", strconv.FormatUint(to+1000, 10))
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "window") {
		t.Errorf("a diff from a future LSN does not name the window: %s", r.stderr)
	}

	// The same answer from the volume read offline.
	unmount(t, mnt)
	offline := parseDiff(t, mustRwfs(t, "diff", vol, "--from", strconv.FormatUint(from, 10), "--to", strconv.FormatUint(to, 10), "--json"))
	if !reflect.DeepEqual(offline, d) {
		t.Errorf("offline diff differs from the daemon's:\noffline %+v\ndaemon  %+v", offline, d)
	}
}

// syncPointsUntil returns the sync points with LSN <= until, from log --json.
func syncPointsUntil(t testing.TB, target string, until uint64) []uint64 {
	t.Helper()
	out := mustRwfs(t, "log", target, "--sync-points", "--until", strconv.FormatUint(until, 10), "--json")
	var lsns []uint64
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var e struct {
			LSN uint64 `json:"lsn"`
			Op  string `json:"op"`
		}
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("log --json: %v", err)
		}
		if e.Op == "sync" {
			lsns = append(lsns, e.LSN)
		}
	}
	return lsns
}

// bisectOut is what `bisect --json` prints.
type bisectOut struct {
	LSN         uint64 `json:"lsn"`
	FirstBadLSN uint64 `json:"first_bad_lsn"`
	GoodLSN     uint64 `json:"good_lsn"`
	BadLSN      uint64 `json:"bad_lsn"`
	SyncPoints  int    `json:"sync_points"`
	Views       int    `json:"views"`
	Records     []struct {
		LSN  uint64 `json:"lsn"`
		Op   string `json:"op"`
		Path string `json:"path"`
	} `json:"records"`
	Rewind string `json:"rewind_command"`
}

// bisectWorkload runs one sqlite3 session on the mount: 20 rows, then 300
// more, each its own transaction (a sync point each), the DELETE of row 7,
// and 100 rows more. Between the statements it notes the head LSN with
// `status` (.shell), so that nothing else touches the volume in between.
// It returns the LSNs noted: after row 20 (good), just before the DELETE,
// just after it, and at the end (bad), with the session still open.
func bisectWorkload(t testing.TB, mnt, mode string) (good, before, after, bad uint64) {
	t.Helper()
	aux := newDir(t, "noted")
	note := func(name string) string {
		return fmt.Sprintf(".shell %s status %s --json > %s\n", shellQuote([]string{binPath}), mnt, filepath.Join(aux, name))
	}
	insert := func(b *strings.Builder, lo, hi int) {
		for i := lo; i <= hi; i++ {
			fmt.Fprintf(b, "INSERT INTO t VALUES(%d, hex(randomblob(50)));\n", i)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "PRAGMA journal_mode=%s;\nPRAGMA synchronous=FULL;\nPRAGMA wal_autocheckpoint=0;\n", mode)
	b.WriteString("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n")
	insert(&b, 1, 20)
	b.WriteString(note("good"))
	insert(&b, 21, 320)
	b.WriteString(note("before"))
	b.WriteString("DELETE FROM t WHERE id = 7;\n")
	b.WriteString(note("after"))
	insert(&b, 321, 420)
	b.WriteString(note("bad"))
	sqlite(t, filepath.Join(mnt, "db"), b.String())
	read := func(name string) uint64 {
		data, err := os.ReadFile(filepath.Join(aux, name))
		if err != nil {
			t.Fatal(err)
		}
		st, err := parseStatus(string(data))
		if err != nil {
			t.Fatalf("%s: %v: %s", name, err, data)
		}
		n, ok := st.uint("head_lsn")
		if !ok {
			t.Fatalf("%s: no head_lsn: %s", name, data)
		}
		return n
	}
	return read("good"), read("before"), read("after"), read("bad")
}

// runBisect runs bisect --json with the views made under a directory of the
// test (so that the harness sees a view left behind) and checks that none
// is, and that the views' directory is removed.
func runBisect(t testing.TB, mnt string, good, bad uint64, test string) (bisectOut, result) {
	t.Helper()
	views := newDir(t, "views")
	r := rwfs(t, "bisect", mnt, "--good", strconv.FormatUint(good, 10), "--bad", strconv.FormatUint(bad, 10),
		"--test", test, "--view-dir", views, "--json")
	if left := mountsUnder(views); len(left) > 0 {
		t.Errorf("bisect left views mounted: %v", left)
	}
	if ents, _ := os.ReadDir(views); len(ents) > 0 {
		t.Errorf("bisect left %d entries in %s", len(ents), views)
	}
	if !r.ok() {
		t.Fatalf("bisect failed:\n%s", r)
	}
	t.Logf("bisect took %s:\n%s", r.dur.Round(time.Millisecond), r.stderr)
	var res bisectOut
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("bisect --json printed %q: %v", r.stdout, err)
	}
	n := res.SyncPoints
	if max := 2 + bits.Len(uint(n)); res.Views > max {
		t.Errorf("bisect tested %d views for %d sync points, want at most %d", res.Views, n, max)
	}
	if !strings.Contains(r.stderr, "step 1 of ~") {
		t.Errorf("bisect showed no progress on stderr:\n%s", r.stderr)
	}
	for _, e := range res.Records {
		if e.LSN <= res.LSN || e.LSN > res.FirstBadLSN {
			t.Errorf("record %d is not between the answer %d and the first bad %d", e.LSN, res.LSN, res.FirstBadLSN)
		}
	}
	return res, r
}

// TestOpsBisectSQLiteWAL: among hundreds of sync points, bisect with the
// test "row 7 is there" finds exactly the last sync point before the
// DELETE, checked against the LSN noted just before it was run.
func TestOpsBisectSQLiteWAL(t *testing.T) {
	requireTool(t, "sqlite3")
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	good, before, after, bad := bisectWorkload(t, mnt, "WAL")
	syncs := syncPointsUntil(t, mnt, before)
	want := syncs[len(syncs)-1]
	res, _ := runBisect(t, mnt, good, bad,
		`sqlite3 "$REWINDFS_VIEW/db" 'select count(*) from t where id=7' | grep -q 1`)
	if res.LSN != want {
		t.Fatalf("bisect found LSN %d, want %d: the last sync point before the DELETE (noted at LSN %d)\n%+v", res.LSN, want, before, res)
	}
	if res.FirstBadLSN <= before || res.FirstBadLSN > after {
		t.Errorf("first bad sync point %d is not the DELETE's commit, between LSN %d and %d", res.FirstBadLSN, before, after)
	}
	if res.SyncPoints < 300 {
		t.Errorf("only %d sync points between good and bad; the workload should make hundreds", res.SyncPoints)
	}
	wroteWAL := false
	for _, e := range res.Records {
		wroteWAL = wroteWAL || (e.Op == "write" && e.Path == "/db-wal")
	}
	if !wroteWAL {
		t.Errorf("the records after the answer do not include the DELETE's write to /db-wal: %+v", res.Records)
	}
	if !strings.Contains(res.Rewind, "rewind") || !strings.HasSuffix(res.Rewind, "--to "+strconv.FormatUint(want, 10)) {
		t.Errorf("rewind command %q does not rewind to %d", res.Rewind, want)
	}
	// The answer is a rewind target that brings the row back.
	rewindTo(t, mnt, strconv.FormatUint(res.LSN, 10))
	if got := strings.TrimSpace(sqlite(t, filepath.Join(mnt, "db"), "SELECT count(*) FROM t WHERE id = 7;")); got != "1" {
		t.Fatalf("after rewinding to the answer, row 7 count = %q", got)
	}
}

// TestOpsBisectSQLiteRollbackJournal: with a rollback journal every sync
// point of a transaction has a hot journal, which SQLite must roll back and
// cannot on a read-only view; the test runs on a copy of the view instead,
// as the database would recover after a rewind. The answer is the last
// crash image from which recovery keeps row 7: the record after it is the
// journal's deletion, SQLite's commit of the DELETE.
func TestOpsBisectSQLiteRollbackJournal(t *testing.T) {
	requireTool(t, "sqlite3")
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	good, before, after, bad := bisectWorkload(t, mnt, "DELETE")
	res, _ := runBisect(t, mnt, good, bad, `d=$(mktemp -d) && cp "$REWINDFS_VIEW"/db* "$d"/ &&
sqlite3 "$d/db" 'select count(*) from t where id=7' | grep -q 1; rc=$?; rm -rf "$d"; exit $rc`)
	syncs := syncPointsUntil(t, mnt, before)
	if res.LSN < syncs[len(syncs)-1] || res.LSN > after {
		t.Fatalf("bisect found LSN %d, want one between the last sync point before the DELETE (%d) and its end (%d)", res.LSN, syncs[len(syncs)-1], after)
	}
	if len(res.Records) == 0 || res.Records[0].Op != "unlink" || res.Records[0].Path != "/db-journal" {
		t.Fatalf("the record after the answer is not the unlink of /db-journal (the DELETE's commit): %+v", res.Records)
	}
}

// TestOpsRewindStopStart: rewind --stop --start with a tiny "database", a
// process that holds a file on the mount open. Stop kills it, the rewind
// waits for the file to close, start runs a new one; a failing stop changes
// nothing and starts nothing; a stop that leaves files open times out naming
// the process, and start still runs; a failing start leaves the rewind done.
func TestOpsRewindStopStart(t *testing.T) {
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	data := filepath.Join(mnt, "data")
	writeFileSync(t, data, []byte("version one"), 0o644)
	good := strconv.FormatUint(headLSN(t, mnt), 10)
	writeFileSync(t, data, []byte("version two"), 0o644)
	aux := newDir(t, "db")
	pidFile := filepath.Join(aux, "pid")
	// The database: holds data open on descriptor 3 until killed.
	startDB := fmt.Sprintf(`sh -c 'exec 3<"$1"; exec sleep 300' db %s </dev/null >/dev/null 2>&1 & echo $! > %s`,
		shellQuote([]string{data}), shellQuote([]string{pidFile}))
	stopDB := fmt.Sprintf(`kill $(cat %s)`, shellQuote([]string{pidFile}))
	dbPID := func() int {
		b, _ := os.ReadFile(pidFile)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	var pids []int
	killAll := func() {
		for _, pid := range append(pids, dbPID()) {
			if pid > 0 && pidAlive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				waitGone(pid, 10*time.Second)
			}
		}
	}
	stopBeforeUnmount(mnt, killAll)
	t.Cleanup(killAll)
	holding := func(pid int) bool {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if p, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); p == data {
				return true
			}
		}
		return false
	}
	startRunning := func() int {
		t.Helper()
		run(t, "sh", "-c", startDB)
		pid := dbPID()
		pids = append(pids, pid)
		if !eventually(10*time.Second, 10*time.Millisecond, func() bool { return holding(pid) }) {
			t.Fatalf("the database (pid %d) did not open %s", pid, data)
		}
		return pid
	}
	read := func() string {
		b, err := os.ReadFile(data)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := startRunning()

	// Stop, wait, rewind, start.
	r := rwfs(t, "rewind", mnt, "--to", good, "--stop", stopDB, "--start", startDB, "--json")
	if !r.ok() {
		t.Fatalf("rewind --stop --start failed:\n%s", r)
	}
	var rep struct {
		To      uint64 `json:"to_lsn"`
		Rewound bool   `json:"rewound"`
		Steps   []struct {
			Step    string  `json:"step"`
			Seconds float64 `json:"seconds"`
			OK      bool    `json:"ok"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("rewind --json printed %q: %v", r.stdout, err)
	}
	var steps []string
	for _, s := range rep.Steps {
		if !s.OK || s.Seconds < 0 {
			t.Errorf("step %s: %+v", s.Step, s)
		}
		steps = append(steps, s.Step)
	}
	if strings.Join(steps, ",") != "stop,wait,rewind,start" || !rep.Rewound || strconv.FormatUint(rep.To, 10) != good {
		t.Fatalf("report: %+v, want the steps stop,wait,rewind,start and a rewind to %s", rep, good)
	}
	if pidAlive(first) {
		t.Errorf("the stopped database %d is still running", first)
	}
	second := dbPID()
	if second == first || !eventually(10*time.Second, 10*time.Millisecond, func() bool { return holding(second) }) {
		t.Fatalf("--start did not start the database again (pid %d, before %d)", second, first)
	}
	pids = append(pids, second)
	if got := read(); got != "version one" {
		t.Fatalf("after the rewind data = %q, want \"version one\"", got)
	}

	// A failing stop: nothing rewound, nothing started, not a byte changed.
	writeFileSync(t, data, []byte("version three"), 0o644)
	head := headLSN(t, mnt)
	hashes := settledHashes(t, vol)
	marker := filepath.Join(aux, "started")
	r = rwfs(t, "rewind", mnt, "--to", good, "--stop", "exit 3", "--start", "touch "+marker)
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "--stop failed") || !strings.Contains(r.stderr, "nothing was rewound") {
		t.Errorf("a failing stop says %q", r.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("--start ran after --stop failed")
	}
	if got := headLSN(t, mnt); got != head {
		t.Errorf("a failing --stop moved the head from %d to %d", head, got)
	}
	if diff := diffMaps(hashes, volumeHashes(t, vol)); diff != "" {
		t.Errorf("a failing --stop changed the volume:\n%s", diff)
	}
	if got := read(); got != "version three" {
		t.Errorf("after a failing --stop data = %q", got)
	}

	// A stop that leaves the file open: the wait times out naming the
	// process, nothing is rewound, and start runs.
	r = rwfs(t, "rewind", mnt, "--to", good, "--stop", "true", "--start", "touch "+marker, "--open-timeout", "1s")
	oneLineError(t, r)
	if !strings.Contains(r.stderr, fmt.Sprintf("pid %d (sleep)", second)) || !strings.Contains(r.stderr, "nothing was rewound") {
		t.Errorf("the open-file timeout does not name pid %d (sleep): %q", second, r.stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("--start did not run after the rewind failed: %v", err)
	}
	if got := headLSN(t, mnt); got != head {
		t.Errorf("a timed-out wait moved the head from %d to %d", head, got)
	}

	// A failing start: the rewind stays done and the error says so.
	r = rwfs(t, "rewind", mnt, "--to", good, "--stop", stopDB, "--start", "exit 4")
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "--start failed") || !strings.Contains(r.stderr, "the rewind stays done") {
		t.Errorf("a failing start says %q", r.stderr)
	}
	if got := read(); got != "version one" {
		t.Errorf("after a rewind whose start failed data = %q, want \"version one\"", got)
	}
	if tl, _ := status(t, mnt).m["timeline"].([]any); len(tl) != 2 {
		t.Errorf("timeline has %d rewinds, want 2", len(tl))
	}
}

// TestOpsControlClient: the Go client marks a SQLite database's state and
// rewinds to the mark a hundred times, the rows checked each time, as a
// test suite resetting its database after every test would.
func TestOpsControlClient(t *testing.T) {
	requireTool(t, "sqlite3")
	vol := newVolume(t)
	mnt := mountVolume(t, vol)
	db := filepath.Join(mnt, "app.db")
	sqlite(t, db, "PRAGMA journal_mode=WAL;\nCREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n"+
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<100) INSERT INTO t SELECT i, 'row '||i FROM c;\n")
	const want = "100|5050"
	rows := func() string { return strings.TrimSpace(sqlite(t, db, "SELECT count(*), sum(id) FROM t;")) }

	marked, err := control.Mark(vol, "clean")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := status(t, mnt).uint("last_sync_lsn"); lsn.LSN(n) != marked {
		t.Fatalf("Mark returned LSN %d, status says the last sync point is %d", marked, n)
	}
	for i := 0; i < 100; i++ {
		if i > 0 && i%10 == 0 {
			// Marking again moves the mark to the newest sync point.
			if marked, err = control.Mark(vol, "clean"); err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
		got := strings.TrimSpace(sqlite(t, db, fmt.Sprintf(
			"DELETE FROM t WHERE id %% 7 = %d; INSERT INTO t VALUES(%d, 'new'); SELECT count(*), sum(id) FROM t;", i%7, 1000+i)))
		if got == want {
			t.Fatalf("round %d: the change did not change the rows", i)
		}
		r, err := control.Rewind(vol, "clean")
		if err != nil {
			t.Fatalf("round %d: rewind: %v", i, err)
		}
		if r.To != marked || r.Undone == 0 || r.RewindLSN <= r.From {
			t.Fatalf("round %d: rewind answered %+v, want a rewind to %d", i, r, marked)
		}
		if got := rows(); got != want {
			t.Fatalf("round %d: after the rewind rows = %q, want %q", i, got, want)
		}
	}
	if _, err := control.Rewind(vol, "no-such-mark"); err == nil || !strings.Contains(err.Error(), "no such mark") {
		t.Errorf("rewind to an unknown mark: %v", err)
	}
	// A refusal changes nothing: with the database open, the rewind is refused.
	cmd := exec.Command("sh", "-c", `exec 3<"$1"; exec sleep 300`, "holder", db)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }
	stopBeforeUnmount(mnt, stop)
	t.Cleanup(stop)
	if !eventually(10*time.Second, 10*time.Millisecond, func() bool { return status(t, mnt).int("open_files") > 0 }) {
		t.Fatal("the holder did not open the database")
	}
	head := headLSN(t, mnt)
	if _, err := control.Rewind(vol, "clean"); err == nil || !strings.Contains(err.Error(), "open") {
		t.Errorf("rewind with a file open: %v", err)
	}
	if got := headLSN(t, mnt); got != head {
		t.Errorf("a refused rewind moved the head from %d to %d", head, got)
	}
}
