package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rewindfs/rewindfs/archive"
)

// The archive's operational promises against SeaweedFS: the timer that
// seals a quiet volume's active segment, `config --archive` on an existing
// volume, what happens when the disk cap is reached while the store is
// down, and daemon and store killed at random moments during uploads.
// Helpers for the store (startWeed, archiveStatus, waitArchived) are in
// archive_test.go.

// kill SIGKILLs the store's whole process group (a crash, not a shutdown)
// and waits for it; start brings it back on the same directory and ports.
func (w *weedServer) kill() {
	if w.cmd == nil {
		return
	}
	_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
	<-w.done
	w.stop() // forgets the process and removes the sockets it left
}

// settingsFile returns the bytes of the volume's settings.
func settingsFile(t testing.TB, vol string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vol, "rewindfs.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// archiveBucket connects to prefix in the test bucket, as the daemon does.
func archiveBucket(t testing.TB, w *weedServer, prefix string) *archive.S3 {
	t.Helper()
	b, err := archive.Connect(archive.Location{Bucket: weedBucket, Prefix: prefix}, archive.Config{Endpoint: w.endpoint})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkArchiveObjects reads the newest manifest of prefix and checks that
// every object it names exists with its size and checksum: in its
// metadata (Stat) and in its bytes (a download). It returns the manifest.
func checkArchiveObjects(t testing.TB, w *weedServer, prefix string) *archive.Manifest {
	t.Helper()
	b := archiveBucket(t, w, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, _, err := archive.Latest(ctx, b, 0)
	if err != nil {
		t.Fatalf("newest manifest of %s: %v", prefix, err)
	}
	if _, err := m.Restorable(); err != nil {
		t.Errorf("manifest %d: %v", m.Seq, err)
	}
	for _, o := range m.Objects {
		info, err := b.Stat(ctx, o.Key)
		if err != nil {
			t.Errorf("manifest %d names %s: %v", m.Seq, o.Key, err)
			continue
		}
		if info.Size != o.Size || info.Meta["rewindfs-crc32c"] != o.CRC32C {
			t.Errorf("%s: %d bytes, crc32c %q in its metadata; the manifest says %d bytes, %s", o.Key, info.Size, info.Meta["rewindfs-crc32c"], o.Size, o.CRC32C)
		}
		rc, _, err := b.Get(ctx, o.Key)
		if err != nil {
			t.Errorf("download %s: %v", o.Key, err)
			continue
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || int64(len(data)) != o.Size || archive.Checksum(data) != o.CRC32C {
			t.Errorf("download %s: %d bytes, crc32c %s (err %v); the manifest says %d bytes, %s", o.Key, len(data), archive.Checksum(data), err, o.Size, o.CRC32C)
		}
	}
	return m
}

// idleRequests watches a mounted, idle volume for d and returns the
// requests it sent to the store and the segments it made meanwhile.
func idleRequests(t *testing.T, mnt, vol string, d time.Duration) (requests uint64, newSegments int) {
	t.Helper()
	segs := len(segments(t, vol))
	before := jsonUint(archiveStatus(t, mnt), "requests")
	time.Sleep(d) // the interval being measured: nothing may happen in it
	after := jsonUint(archiveStatus(t, mnt), "requests")
	return after - before, len(segments(t, vol)) - segs
}

func TestArchiveOps(t *testing.T) {
	requireFUSE(t)
	needBinary(t)
	w := startWeed(t)

	// A quiet volume: a few records that never fill a segment reach the
	// archive within about the interval, because the daemon seals the
	// active segment; then, idle, it sends nothing and makes no segment.
	t.Run("TimerSeal", func(t *testing.T) {
		url := "s3://" + weedBucket + "/timer"
		vol := newVolume(t, "--archive", url, "--archive-endpoint", w.endpoint, "--archive-interval", "2s")
		mnt := mountVolume(t, vol)
		writeFileSync(t, filepath.Join(mnt, "small"), []byte("a few records, far from a full 64 MiB segment\n"), 0o644)
		head := headLSN(t, mnt)
		start := time.Now()
		waitArchived(t, mnt, head)
		t.Logf("LSN %d archived %.1fs after its fsync (archive interval 2s, segment size 64 MiB)", head, time.Since(start).Seconds())
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("a quiet volume's record took %s to reach the archive with a 2s interval", d)
		}
		idle := 6 * time.Second
		if s := os.Getenv("REWINDFS_IDLE_SECS"); s != "" {
			n, _ := strconv.Atoi(s)
			idle = time.Duration(n) * time.Second
		}
		reqs, segs := idleRequests(t, mnt, vol, idle)
		t.Logf("idle for %s with archive interval 2s: %d request(s), %d new segment(s); %.1f requests per hour", idle, reqs, segs, float64(reqs)*float64(time.Hour)/float64(idle))
		if reqs != 0 || segs != 0 {
			t.Errorf("an idle volume sent %d request(s) and made %d segment(s) in %s", reqs, segs, idle)
		}
	})

	// config --archive on an existing volume, unmounted and mounted, and
	// --archive none; bad settings are refused with one line and change
	// nothing.
	t.Run("Config", func(t *testing.T) {
		vol := newVolume(t)
		url := "s3://" + weedBucket + "/config"
		other := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		bad := []struct {
			name string
			env  []string
			args []string
			want string
		}{
			{"unknown scheme", nil, []string{"--archive", "gs://" + weedBucket + "/x", "--archive-endpoint", w.endpoint}, "s3://"},
			{"missing bucket", nil, []string{"--archive", "s3://no-such-bucket/x", "--archive-endpoint", w.endpoint}, "does not exist"},
			{"wrong credentials", []string{"AWS_ACCESS_KEY_ID=nobody", "AWS_SECRET_ACCESS_KEY=wrong-secret"}, []string{"--archive", url, "--archive-endpoint", w.endpoint}, "credentials"},
			{"unreachable endpoint", nil, []string{"--archive", url, "--archive-endpoint", other}, "cannot reach"},
			{"interval too short", nil, []string{"--archive", url, "--archive-endpoint", w.endpoint, "--archive-interval", "10ms"}, "at least 1s"},
			{"none with an endpoint", nil, []string{"--archive", "none", "--archive-endpoint", w.endpoint}, "none"},
		}
		for _, c := range bad {
			before := volumeHashes(t, vol)
			r := runCmd(t, cmdOpts{env: c.env, timeout: 3 * time.Minute}, binPath, append([]string{"config", vol}, c.args...)...)
			oneLineError(t, r)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("%s: want an error mentioning %q:\n%s", c.name, c.want, r)
			}
			if d := diffMaps(before, volumeHashes(t, vol)); d != "" {
				t.Errorf("%s: a refused config changed the volume:\n%s", c.name, d)
			}
			t.Logf("%s: %s", c.name, strings.TrimSpace(r.stderr))
		}

		// Unmounted: the settings change; the next mount archives.
		out := mustRwfs(t, "config", vol, "--archive", url, "--archive-endpoint", w.endpoint, "--archive-interval", "1s")
		if !strings.Contains(out, "archive "+url) {
			t.Errorf("config --archive did not print the archive:\n%s", out)
		}
		mnt := mountVolume(t, vol)
		writeFileSync(t, filepath.Join(mnt, "one"), []byte("before\n"), 0o644)
		waitArchived(t, mnt, headLSN(t, mnt))

		// Mounted: --archive none stops the uploader at once; nothing is
		// deleted from the archive.
		m1 := checkArchiveObjects(t, w, "config")
		out = mustRwfs(t, "config", mnt, "--archive", "none")
		if !strings.Contains(out, "nothing was deleted") {
			t.Errorf("config --archive none does not say what happens to the archive:\n%s", out)
		}
		if st := status(t, mnt); st.has("archive") {
			t.Errorf("status still shows an archive after --archive none: %s", st.raw)
		}
		writeFileSync(t, filepath.Join(mnt, "two"), []byte("while off\n"), 0o644)
		if m2 := checkArchiveObjects(t, w, "config"); m2.Seq != m1.Seq || len(m2.Objects) != len(m1.Objects) {
			t.Errorf("after --archive none the archive changed: manifest %d with %d objects, was %d with %d", m2.Seq, len(m2.Objects), m1.Seq, len(m1.Objects))
		}

		// Mounted, on again (to a fresh prefix): the daemon takes it up
		// without a remount and archives from LSN 1.
		url2 := "s3://" + weedBucket + "/config2"
		mustRwfs(t, "config", mnt, "--archive", url2, "--archive-endpoint", w.endpoint)
		head := headLSN(t, mnt)
		waitArchived(t, mnt, head)
		if a := archiveStatus(t, mnt); a["url"] != url2 {
			t.Errorf("status after config --archive %s: %v", url2, a)
		}
		if r := rwfs(t, "config", mnt, "--archive", "s3://"+weedBucket+"/timer", "--archive-endpoint", w.endpoint); r.ok() || !strings.Contains(r.stderr, "another volume") && !strings.Contains(r.stderr, "archive of volume") {
			t.Errorf("config --archive to another volume's prefix: want a refusal:\n%s", r)
		}
		if a := archiveStatus(t, mnt); a["url"] != url2 {
			t.Errorf("a refused config changed the mounted daemon's archive: %v", a)
		}

		// A volume whose first segments compaction already removed (it ran
		// longer than its window before it got an archive): its archive
		// begins with its base image, and restores.
		old := newVolume(t, "--window", "1s", "--segment-size", "65536")
		omnt := mountVolume(t, old)
		sealSegments(t, omnt, "filler")
		if !eventually(30*time.Second, 200*time.Millisecond, func() bool {
			segs := segments(t, old)
			return len(segs) > 0 && filepath.Base(segs[0]) != "0000000000000001.seg"
		}) {
			t.Fatalf("compaction removed no segment of a volume with a 1s window: %v", segments(t, old))
		}
		url3 := "s3://" + weedBucket + "/config3"
		mustRwfs(t, "config", omnt, "--archive", url3, "--archive-endpoint", w.endpoint)
		// The archive begins with the base image and the first sealed
		// segment after it; with a 1 s window compaction folds what is
		// written almost at once, so keep writing, as a database would.
		var a map[string]any
		n := 0
		if !eventually(2*time.Minute, 250*time.Millisecond, func() bool {
			a = archiveStatus(t, omnt)
			if jsonUint(a, "archived_through_lsn") > 0 {
				return true
			}
			n++
			sealSegments(t, omnt, fmt.Sprintf("after-config-%d", n%4))
			return false
		}) {
			t.Fatalf("the archive of a compacted volume confirmed nothing within 2 minutes: %v\n%s", a, clip(daemonLogs(old)))
		}
		var listing struct {
			EarliestLSN uint64 `json:"earliest_lsn"`
			LatestLSN   uint64 `json:"latest_lsn"`
		}
		if err := json.Unmarshal([]byte(mustRwfs(t, "archive", "ls", url3, "--endpoint", w.endpoint, "--json")), &listing); err != nil {
			t.Fatal(err)
		}
		if listing.EarliestLSN <= 1 || listing.LatestLSN < listing.EarliestLSN {
			t.Errorf("archive ls of a compacted volume's archive: want it to begin at its base image, after LSN 1: %+v", listing)
		}
		dst := filepath.Join(newDir(t, "restored3"), "vol")
		mustRwfs(t, "restore", url3, dst, "--endpoint", w.endpoint)
		mustRwfs(t, "verify", dst)

		// A clone from the archive: a volume of its own that names the
		// archived one as its parent; it verifies and takes writes.
		branch := filepath.Join(newDir(t, "branch3"), "vol")
		var cl struct {
			VolumeID string `json:"volume_id"`
			ParentID string `json:"parent_id"`
			Target   uint64 `json:"target_lsn"`
		}
		if err := json.Unmarshal([]byte(mustRwfs(t, "clone", url3, branch, "--endpoint", w.endpoint, "--json")), &cl); err != nil {
			t.Fatal(err)
		}
		if cl.ParentID == "" || cl.ParentID == cl.VolumeID || cl.Target == 0 {
			t.Errorf("clone from the archive: want an ID of its own and the archived volume as parent: %+v", cl)
		}
		bmnt := mountVolume(t, branch)
		writeFileSync(t, filepath.Join(bmnt, "branch-only"), bytes.Repeat([]byte("b"), 300<<10), 0o644)
		unmount(t, bmnt)
		mustRwfs(t, "verify", branch)

		// Its retention changes while mounted, checked as at init.
		mustRwfs(t, "config", omnt, "--archive-window", "2d", "--archive-base-every", "1MiB,1h")
		var cfg struct {
			ArchiveWindow         string `json:"archive_window"`
			ArchiveBaseEveryBytes int64  `json:"archive_base_every_bytes"`
			ArchiveBaseEvery      string `json:"archive_base_every"`
		}
		if err := json.Unmarshal([]byte(mustRwfs(t, "config", omnt, "--json")), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.ArchiveWindow != "48h0m0s" || cfg.ArchiveBaseEveryBytes != 1<<20 || cfg.ArchiveBaseEvery != "1h0m0s" {
			t.Errorf("config --archive-window 2d --archive-base-every 1MiB,1h: settings now %+v", cfg)
		}
		oneLineError(t, rwfs(t, "config", omnt, "--archive-window", "10ms"))
	})

	// A restore target older than the archive, and restore into a
	// non-empty directory: one line, nothing made. (It uses the archive
	// TimerSeal made, as Config uses it for "another volume's prefix".)
	t.Run("RestoreBadInput", func(t *testing.T) {
		url := "s3://" + weedBucket + "/timer"
		dst := filepath.Join(testRootOf(t), "never-restored")
		r := rwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--at", "2001-01-01T00:00:00Z")
		oneLineError(t, r)
		if !strings.Contains(r.stderr, "outside the archive") {
			t.Errorf("want an error naming the archive's range:\n%s", r)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Errorf("a refused restore made %s", dst)
		}
		full := newDir(t, "full")
		writeFileSync(t, filepath.Join(full, "keep"), []byte("x"), 0o644)
		before := treeHashes(t, full, nil)
		oneLineError(t, rwfs(t, "restore", url, full, "--endpoint", w.endpoint))
		if d := diffMaps(before, treeHashes(t, full, nil)); d != "" {
			t.Errorf("restore into a non-empty directory changed it:\n%s", d)
		}
	})

	t.Run("CapWhileStoreDown", func(t *testing.T) { capWhileStoreDown(t, w) })
	t.Run("Figures", func(t *testing.T) { archiveFigures(t, w) })
}

// archiveFigures measures, for the README, the archive's bytes per byte
// written with each compression setting and the restore speed. The data
// is the module's Go source repeated: text that compresses about as well
// as a database's pages with free space in them.
func archiveFigures(t *testing.T, w *weedServer) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var src []byte
	files, _ := filepath.Glob(filepath.Join(root, "*", "*.go"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		src = append(src, b...)
	}
	if len(src) == 0 {
		t.Fatal("no Go source to write")
	}
	const total = 16 << 20
	for _, codec := range []string{"none", "s2", "zstd"} {
		prefix := "figures-" + codec
		url := "s3://" + weedBucket + "/" + prefix
		vol := newVolume(t, "--compression", codec, "--segment-size", "4194304",
			"--archive", url, "--archive-endpoint", w.endpoint, "--archive-interval", "1s")
		mnt := mountVolume(t, vol)
		written := 0
		for i := 0; written < total; i++ {
			n := min(1<<20, total-written)
			chunk := make([]byte, n)
			for j := range chunk {
				chunk[j] = src[(written+j)%len(src)]
			}
			writeFileSync(t, filepath.Join(mnt, fmt.Sprintf("f%03d", i)), chunk, 0o644)
			written += n
		}
		waitArchived(t, mnt, headLSN(t, mnt))
		unmount(t, mnt)
		m := checkArchiveObjects(t, w, prefix)
		var archived int64
		for _, o := range m.Objects {
			archived += o.Size
		}
		dst := newDir(t, "restored")
		out := mustRwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--json")
		var rep struct {
			Bytes   int64   `json:"bytes"`
			Seconds float64 `json:"seconds"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("restore --json: %v\n%s", err, out)
		}
		t.Logf("compression %s: %d bytes written, %d bytes archived in %d objects (%.2f archive bytes per byte written); restore %d bytes in %.2fs, %.1f MiB/s",
			codec, written, archived, len(m.Objects), float64(archived)/float64(written), rep.Bytes, rep.Seconds, float64(rep.Bytes)/(1<<20)/max(rep.Seconds, 1e-3))
	}
}

// capWhileStoreDown shows the documented choice when the disk cap is
// reached while the archive is behind: the mount keeps taking writes and
// the log grows past the cap (status warns with the numbers, a metric
// counts the excess), no unarchived segment is deleted; once the store is
// back, the archive catches up and compaction brings the log back under
// the cap.
func capWhileStoreDown(t *testing.T, w *weedServer) {
	const capBytes = 1 << 20
	url := "s3://" + weedBucket + "/cap"
	vol := newVolume(t, "--window", "1s", "--max-log-bytes", strconv.Itoa(capBytes), "--segment-size", "131072",
		"--archive", url, "--archive-endpoint", w.endpoint, "--archive-interval", "1s")
	mnt := mountVolume(t, vol)
	writeFileSync(t, filepath.Join(mnt, "first"), bytes.Repeat([]byte("a"), 64<<10), 0o644)
	waitArchived(t, mnt, headLSN(t, mnt))
	through := jsonUint(archiveStatus(t, mnt), "archived_through_lsn")

	w.stop()
	defer func() {
		if w.cmd == nil {
			w.start()
		}
	}()
	// Four times the cap, in fsynced files: every write succeeds.
	for i := range 32 {
		writeFileSync(t, filepath.Join(mnt, fmt.Sprintf("f%02d", i)), bytes.Repeat([]byte{byte(i)}, 128<<10), 0o644)
	}
	head := headLSN(t, mnt)
	var st volStatus
	if !eventually(30*time.Second, 250*time.Millisecond, func() bool {
		st = status(t, mnt)
		return strings.Contains(st.raw, "over its cap")
	}) {
		t.Fatalf("no status warning about the cap with the store down: %s", st.raw)
	}
	logBytes, _ := st.uint("log_bytes")
	a := archiveStatus(t, mnt)
	t.Logf("store down: log %d bytes, cap %d, over by %d, %d bytes unarchived; warnings: %v", logBytes, capBytes, jsonUint(a, "over_cap_bytes"), jsonUint(a, "lag_bytes"), st.m["warnings"])
	if logBytes <= capBytes || jsonUint(a, "over_cap_bytes") != logBytes-capBytes {
		t.Errorf("log %d bytes, over_cap_bytes %d, cap %d", logBytes, jsonUint(a, "over_cap_bytes"), capBytes)
	}
	if ws := fmt.Sprint(st.m["warnings"]); !strings.Contains(ws, strconv.FormatUint(logBytes, 10)) && !strings.Contains(ws, "max_log_bytes "+strconv.Itoa(capBytes)) {
		t.Errorf("the warning does not give the numbers: %s", ws)
	}
	// Every segment after what the archive confirmed is still there: the
	// oldest file starts at or before the first unarchived LSN.
	segs := segments(t, vol)
	first, _ := strconv.ParseUint(strings.TrimSuffix(filepath.Base(segs[0]), ".seg"), 16, 64)
	if first > through+1 {
		t.Errorf("with the archive at LSN %d, the oldest segment starts at %d: unarchived records were deleted", through, first)
	}
	// The metric says the same.
	if addr := st.str("metrics_addr"); addr != "" {
		t.Logf("metrics at %s", addr)
	}

	w.start()
	waitArchived(t, mnt, head)
	if !eventually(time.Minute, 250*time.Millisecond, func() bool {
		st = status(t, mnt)
		n, _ := st.uint("log_bytes")
		return n <= capBytes
	}) {
		t.Fatalf("the log did not shrink back under the cap after the archive caught up: %s", st.raw)
	}
	if strings.Contains(st.raw, "over its cap") {
		t.Errorf("status still warns about the cap: %s", st.raw)
	}
	n, _ := st.uint("log_bytes")
	t.Logf("store back: archived through %d, log %d bytes (cap %d)", head, n, capBytes)
}

// segWatch records, from outside the daemon, every segment file that
// disappears and what the volume's archive.json confirmed right after: a
// segment whose records go past the confirmed LSN must never go.
type segWatch struct {
	mu      sync.Mutex
	seen    map[string]bool
	gone    []string
	bad     []string
	stop    chan struct{}
	stopped chan struct{}
}

func watchSegments(t *testing.T, vol string) *segWatch {
	sw := &segWatch{seen: map[string]bool{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(sw.stopped)
		for {
			names, _ := filepath.Glob(filepath.Join(vol, "log", "*.seg"))
			cur := map[string]bool{}
			for _, n := range names {
				cur[filepath.Base(n)] = true
			}
			confirmed := readConfirmed(vol)
			sw.mu.Lock()
			for n := range sw.seen {
				if cur[n] {
					continue
				}
				delete(sw.seen, n)
				sw.gone = append(sw.gone, n)
				// The segment's last LSN is below the next segment's first.
				next := uint64(0)
				for c := range cur {
					f, _ := strconv.ParseUint(strings.TrimSuffix(c, ".seg"), 16, 64)
					first, _ := strconv.ParseUint(strings.TrimSuffix(n, ".seg"), 16, 64)
					if f > first && (next == 0 || f < next) {
						next = f
					}
				}
				if next == 0 || next-1 > confirmed {
					sw.bad = append(sw.bad, fmt.Sprintf("%s deleted (records up to LSN %d) while archive.json confirmed only LSN %d", n, next-1, confirmed))
				}
			}
			for n := range cur {
				sw.seen[n] = true
			}
			sw.mu.Unlock()
			select {
			case <-sw.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(sw.close)
	return sw
}

func (sw *segWatch) close() {
	select {
	case <-sw.stop:
	default:
		close(sw.stop)
	}
	<-sw.stopped
}

// readConfirmed is the LSN the volume's archive.json says is archived.
func readConfirmed(vol string) uint64 {
	b, err := os.ReadFile(filepath.Join(vol, archive.StateFile))
	if err != nil {
		return 0
	}
	var st archive.State
	if json.Unmarshal(b, &st) != nil {
		return 0
	}
	return uint64(st.ArchivedThrough)
}

// bgWriter writes and fsyncs files on a mount until stopped; errors (the
// daemon was killed under it) end it quietly.
type bgWriter struct {
	stop    chan struct{}
	stopped chan struct{}
	n       atomic.Int64
}

func startBgWriter(mnt string, round int, rng *rand.Rand) *bgWriter {
	bw := &bgWriter{stop: make(chan struct{}), stopped: make(chan struct{})}
	seed := rng.Uint64()
	go func() {
		defer close(bw.stopped)
		r := rand.New(rand.NewPCG(seed, uint64(round)))
		buf := make([]byte, 48<<10)
		for i := 0; ; i++ {
			select {
			case <-bw.stop:
				return
			default:
			}
			for j := range buf {
				buf[j] = byte(r.UintN(8)) // compressible, not constant
			}
			f, err := os.OpenFile(filepath.Join(mnt, fmt.Sprintf("r%02d-%03d", round, i%40)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return
			}
			_, err = f.Write(buf)
			if err == nil {
				err = f.Sync()
			}
			f.Close()
			if err != nil {
				return
			}
			bw.n.Add(1)
		}
	}()
	return bw
}

func (bw *bgWriter) halt() int64 {
	select {
	case <-bw.stop:
	default:
		close(bw.stop)
	}
	<-bw.stopped
	return bw.n.Load()
}

// TestArchiveKillRounds kills the daemon (SIGKILL) at random moments while
// files are written and segments uploaded, and separately kills or stops
// the store mid-upload, many rounds. After each restart the archive goes
// on; at the end every object the newest manifest names is there with its
// checksum, a restore of the newest confirmed point equals the volume's
// read-only view at that LSN, and no segment was deleted before the
// archive confirmed it (watched from outside the daemon all along).
// REWINDFS_KILL_ROUNDS sets the number of daemon kills (default 8),
// REWINDFS_STORE_KILL_ROUNDS those of the store (default 2: one SIGKILL,
// one stop).
func TestArchiveKillRounds(t *testing.T) {
	requireFUSE(t)
	needBinary(t)
	w := startWeed(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REWINDFS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (REWINDFS_SEED=%d replays the kill moments)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	rounds, storeRounds := 8, 2
	if s := os.Getenv("REWINDFS_KILL_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	// A store round costs ~40 s: the uploader backs off while the
	// restarted store's volume server joins.
	if s := os.Getenv("REWINDFS_STORE_KILL_ROUNDS"); s != "" {
		storeRounds, _ = strconv.Atoi(s)
	}
	prefix := "kill"
	url := "s3://" + weedBucket + "/" + prefix
	// Small segments and a short window: many uploads, and compaction
	// would delete segments quickly if the archive let it.
	vol := newVolume(t, "--window", "2s", "--segment-size", "262144", "--compression", "s2",
		"--archive", url, "--archive-endpoint", w.endpoint, "--archive-interval", "1s")
	sw := watchSegments(t, vol)
	mnt := newDir(t, "mnt")

	daemonKills, storeKills := 0, 0
	for round := range rounds + storeRounds {
		began := time.Now()
		pid := mountAt(t, vol, mnt)
		bw := startBgWriter(mnt, round, rng)
		wait := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		time.Sleep(wait) // the random moment of the kill
		if round < rounds {
			// SIGKILL first, then let the writer fail on the dead mount
			// (ENOTCONN), then remove the mount: a writer still running
			// after the unmount would write into the bare directory.
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill -9 %d: %v", pid, err)
			}
			if !waitGone(pid, 10*time.Second) {
				t.Fatalf("daemon %d survived SIGKILL", pid)
			}
			n := bw.halt()
			lazyUnmount(t, mnt)
			daemonKills++
			t.Logf("round %d: daemon SIGKILLed after %s, %d files written; archive.json confirms LSN %d (round took %s)", round, wait, n, readConfirmed(vol), time.Since(began).Round(time.Millisecond))
			continue
		}
		// The store's rounds: kill -9 or a stop mid-upload, writes going on.
		if (round-rounds)%2 == 0 {
			w.kill()
		} else {
			w.stop()
		}
		storeKills++
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		n := bw.halt()
		w.start()
		head := headLSN(t, mnt)
		waitArchived(t, mnt, head)
		t.Logf("round %d: store killed or stopped after %s, %d files written; archive caught up to LSN %d (round took %s)", round, wait, n, head, time.Since(began).Round(time.Millisecond))
		unmount(t, mnt)
	}

	// Quiet now: one more mount lets the timer seal the rest.
	mountAt(t, vol, mnt)
	head := headLSN(t, mnt)
	waitArchived(t, mnt, head)
	unmount(t, mnt)
	sw.close()

	m := checkArchiveObjects(t, w, prefix)
	r, err := m.Restorable()
	if err != nil {
		t.Fatal(err)
	}
	sw.mu.Lock()
	t.Logf("%d daemon kills, %d store kills/stops; manifest %d, %d objects, LSN %d..%d; %d segments deleted locally meanwhile",
		daemonKills, storeKills, m.Seq, len(m.Objects), r.FirstLSN, r.LastLSN, len(sw.gone))
	for _, b := range sw.bad {
		t.Errorf("%s", b)
	}
	// Every segment deleted locally is in the archive.
	inArchive := map[string]bool{}
	for _, o := range m.Objects {
		inArchive[filepath.Base(o.Key)] = true
	}
	for _, g := range sw.gone {
		if !inArchive[g] {
			t.Errorf("segment %s was deleted locally but the archive does not have it", g)
		}
	}
	sw.mu.Unlock()
	if len(sw.gone) == 0 {
		t.Errorf("no segment was deleted locally: the test did not exercise compaction against the archive")
	}
	if uint64(r.LastLSN) < head {
		t.Errorf("archive ends at LSN %d, the volume's head is %d", r.LastLSN, head)
	}

	// Restore the newest confirmed point and compare it with a read-only
	// view of the volume at that LSN.
	dst := newDir(t, "restored")
	mustRwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--at", strconv.FormatUint(uint64(r.LastLSN), 10))
	rm := mountVolume(t, dst)
	view := newDir(t, "view")
	mountAt(t, vol, view, "--read-only", "--at", strconv.FormatUint(uint64(r.LastLSN), 10))
	want, got := treeHashes(t, view, nil), treeHashes(t, rm, nil)
	if d := diffMaps(want, got); d != "" {
		t.Errorf("restored volume at LSN %d differs from the view at that LSN:\n%s", r.LastLSN, d)
	}
	t.Logf("restore at LSN %d: %d files, same as the read-only view", r.LastLSN, len(got))
	unmount(t, view)
	unmount(t, rm)
}
