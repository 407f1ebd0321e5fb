package e2e

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pgSample is what the test noted about the database at one moment.
type pgSample struct {
	at      time.Time
	head    uint64 // the volume's head LSN then
	summary string // pgbenchSummary: counts and sum(abalance)
}

// TestArchivePostgres runs PostgreSQL under pgbench on a volume with a 30 s
// local window and the archive on (sealing every 3 s), noting the pgbench
// counts every ~20 s; then restores the archive into a new volume at a
// noted time that is older than the local window (no local rewind can
// reach it any more), starts PostgreSQL on it, checks it with pg_amcheck
// and compares the counts. REWINDFS_PG_ARCHIVE_SECS sets how long pgbench
// runs (default 120).
func TestArchivePostgres(t *testing.T) {
	for _, name := range pgTools {
		requireTool(t, name)
	}
	w := startWeed(t)
	runFor := 120 * time.Second
	if s := os.Getenv("REWINDFS_PG_ARCHIVE_SECS"); s != "" {
		n, _ := strconv.Atoi(s)
		runFor = time.Duration(n) * time.Second
	}
	url := "s3://" + weedBucket + "/pg"
	vol := newVolume(t, "--window", "30s", "--segment-size", "4194304", "--compression", "s2",
		"--archive", url, "--archive-endpoint", w.endpoint, "--archive-interval", "3s")
	mnt := newDir(t, "mnt")
	mountAt(t, vol, mnt, "--allow-other")
	pg := newPG(t, mnt)
	pg.start()
	conn := pg.conn()
	pg.as(5*time.Minute, "pgbench", append(conn, "-i", "-s", "2", "-q", "postgres")...)

	// pgbench runs in bursts of ~20 s, and the counts are noted in the
	// pause after each burst, with the time right after. A time target
	// in the middle of a burst would be loose: a transaction whose WAL
	// reached the disk just before it but whose commit the test saw just
	// after would be in the restored database and not in the noted count.
	// In a pause, every transaction counted committed (its WAL fsynced)
	// before the noted time and none commits until the next burst, so
	// state(time), after PostgreSQL's crash recovery, holds exactly the
	// noted counts whichever record the time resolves to.
	var samples []pgSample
	start := time.Now()
	for time.Since(start) < runFor {
		out := pg.as(2*time.Minute, "pgbench", append(conn, "-c", "2", "-j", "2", "-T", "20", "-n", "postgres")...)
		if strings.Contains(out, "number of failed transactions") && !strings.Contains(out, "number of failed transactions: 0") {
			t.Errorf("pgbench reported failed transactions:\n%s", out)
		}
		s := pgSample{summary: pgbenchSummary(t, pg)}
		s.at = time.Now()
		s.head = headLSN(t, mnt) // at or after the record the time resolves to
		samples = append(samples, s)
		a := archiveStatus(t, mnt)
		t.Logf("%s  %s  head LSN %d, archived through %d, lag %vs", s.at.UTC().Format("15:04:05.000"), s.summary, s.head,
			jsonUint(a, "archived_through_lsn"), a["lag_seconds"])
		time.Sleep(time.Second) // the pause lasts past the noted time
	}
	if len(samples) < 3 {
		t.Fatalf("only %d samples", len(samples))
	}
	// The second sample: past pgbench's initial load, and by now well
	// outside the 30 s local window.
	pick := samples[1]
	last := samples[len(samples)-1]
	waitArchived(t, mnt, last.head)
	var st volStatus
	if !eventually(2*time.Minute, 500*time.Millisecond, func() bool {
		st = status(t, mnt)
		e, err := time.Parse(time.RFC3339Nano, st.str("earliest_time"))
		return err == nil && e.After(pick.at)
	}) {
		t.Fatalf("the local window still reaches back to %s: %s", pick.at, st.raw)
	}
	t.Logf("local window: earliest restorable %s, after the picked time %s", st.str("earliest_time"), pick.at.UTC().Format(time.RFC3339Nano))
	if r := rwfs(t, "rewind", mnt, "--to", pick.at.UTC().Format(time.RFC3339Nano), "--dry-run"); r.ok() {
		t.Errorf("a local rewind to %s is still possible: the target is not older than the local window", pick.at)
	}
	a := archiveStatus(t, mnt)
	appended, _ := st.uint("appended_bytes")
	t.Logf("archive: %d bytes uploaded in %d objects; log appended %d bytes (compression s2)", jsonUint(a, "uploaded_bytes"), jsonUint(a, "uploaded_objects"), appended)
	pg.stop()

	dst := newDir(t, "restored")
	out := mustRwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--at", pick.at.UTC().Format(time.RFC3339Nano), "--json")
	var rep struct {
		Bytes   int64   `json:"bytes"`
		Seconds float64 `json:"seconds"`
		Target  uint64  `json:"target_lsn"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("restore --json: %v\n%s", err, out)
	}
	t.Logf("restored %d bytes in %.2fs (%.1f MiB/s) at LSN %d; the volume's head was %d just after the noted time", rep.Bytes, rep.Seconds,
		float64(rep.Bytes)/(1<<20)/max(rep.Seconds, 1e-3), rep.Target, pick.head)
	if rep.Target > pick.head {
		t.Errorf("restore at %s chose LSN %d, after the head %d noted then", pick.at, rep.Target, pick.head)
	}

	// PostgreSQL on the restored volume, mounted elsewhere: the same
	// server settings, its data directory on the new mount.
	rmnt := newDir(t, "rmnt")
	mountAt(t, dst, rmnt, "--allow-other")
	pg2 := *pg
	pg2.t, pg2.data, pg2.pid = t, rmnt+"/pgdata", 0
	t.Cleanup(pg2.cleanup)
	stopBeforeUnmount(rmnt, pg2.cleanup)
	pg2.start()
	pg2.amcheck()
	if got := pgbenchSummary(t, &pg2); got != pick.summary {
		t.Errorf("restored at %s: %s\nnoted then:  %s", pick.at.UTC().Format(time.RFC3339Nano), got, pick.summary)
	} else {
		t.Logf("restored at %s: %s, as noted", pick.at.UTC().Format(time.RFC3339Nano), got)
	}
	pg2.stop()
}
