package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rewindfs/rewindfs/archive"
)

// The archive's tests run against SeaweedFS, an S3-compatible store, built
// by scripts/seaweedfs.sh (bash scripts/seaweedfs.sh build) and started
// here on 127.0.0.1 with free ports, a fresh data directory and telemetry
// off. REWINDFS_WEED=path names another weed binary. Without weed the
// tests skip, or fail under CI=true.

const (
	weedAccessKey = "rewindfs-test"
	weedSecretKey = "rewindfs-test-secret-0123456789"
	weedBucket    = "rewindfs-test"
)

// weedServer is a running `weed server -s3`.
type weedServer struct {
	t        testing.TB
	bin      string
	dir      string
	ports    map[string]int
	endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
}

// weedBinary finds the weed binary, or skips (fails under CI).
func weedBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("REWINDFS_WEED"); p != "" {
		return p
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("%v", err)
	}
	out, err := exec.Command("bash", filepath.Join(root, "scripts", "seaweedfs.sh"), "path").Output()
	if err != nil {
		t.Fatalf("bash scripts/seaweedfs.sh path: %v", err)
	}
	p := strings.TrimSpace(string(out))
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		skipOrFail(t, "SeaweedFS's weed is not built at %s: run bash scripts/seaweedfs.sh build", p)
	}
	return p
}

// startWeed starts SeaweedFS in a fresh directory, makes the test bucket,
// and registers a cleanup that stops it (registered before any mount, so
// that it runs after every unmount). The test's S3 credentials go into the
// environment, for rewindfs and the daemons it starts.
func startWeed(t *testing.T) *weedServer {
	t.Helper()
	bin := weedBinary(t)
	w := &weedServer{t: t, bin: bin, dir: newDir(t, "weed"), ports: map[string]int{}}
	names := []string{"master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc"}
	for i, p := range freePorts(t, len(names)) {
		w.ports[names[i]] = p
	}
	w.endpoint = fmt.Sprintf("http://127.0.0.1:%d", w.ports["s3"])
	cfg := fmt.Sprintf(`{"identities": [{"name": "rewindfs-test", "credentials": [{"accessKey": %q, "secretKey": %q}], "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}`,
		weedAccessKey, weedSecretKey)
	if err := os.WriteFile(filepath.Join(w.dir, "s3.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", weedAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", weedSecretKey)
	t.Cleanup(w.stop)
	w.start()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := w.client()
	// The S3 port answers before the volume server has joined: make the
	// bucket, then write an object, until both work.
	var err error
	if !eventually(90*time.Second, 250*time.Millisecond, func() bool {
		if err = c.MakeBucket(ctx, weedBucket, minio.MakeBucketOptions{}); err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return false
		}
		_, err = c.PutObject(ctx, weedBucket, "probe", strings.NewReader("probe"), 5, minio.PutObjectOptions{})
		return err == nil
	}) {
		t.Fatalf("SeaweedFS at %s did not take a write within 90s: %v\n%s", w.endpoint, err, w.logTail())
	}
	return w
}

func (w *weedServer) args() []string {
	p := w.ports
	// -logtostderr: into weed.log, not into files in /tmp.
	return []string{"-logtostderr", "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + filepath.Join(w.dir, "data"),
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=100", "-volume.preStopSeconds=0",
		"-master.port=" + strconv.Itoa(p["master"]), "-master.port.grpc=" + strconv.Itoa(p["master.grpc"]),
		"-volume.port=" + strconv.Itoa(p["volume"]), "-volume.port.grpc=" + strconv.Itoa(p["volume.grpc"]),
		"-filer.port=" + strconv.Itoa(p["filer"]), "-filer.port.grpc=" + strconv.Itoa(p["filer.grpc"]),
		"-filer.localSocket=" + filepath.Join(w.dir, "filer.sock"),
		"-s3", "-s3.port=" + strconv.Itoa(p["s3"]), "-s3.port.grpc=" + strconv.Itoa(p["s3.grpc"]),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.localSocket=" + filepath.Join(w.dir, "s3.sock"),
		"-s3.config=" + filepath.Join(w.dir, "s3.json"),
	}
}

// start runs the server (again, after stop: same directory and ports) and
// waits until its S3 port answers.
func (w *weedServer) start() {
	t := w.t
	t.Helper()
	if err := os.MkdirAll(filepath.Join(w.dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(w.dir, "weed.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(w.bin, w.args()...)
	cmd.Dir = w.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", w.bin, err)
	}
	w.cmd, w.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(w.done)
	}()
	if !eventually(60*time.Second, 100*time.Millisecond, func() bool {
		select {
		case <-w.done:
			return true
		default:
		}
		resp, err := http.Get(w.endpoint + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}) {
		t.Fatalf("SeaweedFS did not answer on %s within 60s\n%s", w.endpoint, w.logTail())
	}
	select {
	case <-w.done:
		t.Fatalf("SeaweedFS exited at start:\n%s", w.logTail())
	default:
	}
}

// stop ends the server: SIGTERM to its process group, SIGKILL after 5s
// (weed server often hangs in its shutdown; its data is throwaway).
func (w *weedServer) stop() {
	if w.cmd == nil {
		return
	}
	_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.done
	}
	w.cmd = nil
	// weed puts its gRPC unix sockets in /tmp whatever TMPDIR says, and a
	// killed one leaves them there.
	for _, kind := range []string{"master", "volume", "filer", "s3"} {
		_ = os.Remove(fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", kind, w.ports[kind+".grpc"]))
	}
}

func (w *weedServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(w.dir, "weed.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (w *weedServer) client() *minio.Client {
	c, err := minio.New(strings.TrimPrefix(w.endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(weedAccessKey, weedSecretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// listensOnlyOnLoopback checks, with ss, that every TCP socket the server
// listens on is bound to 127.0.0.1.
func (w *weedServer) listensOnlyOnLoopback(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ss"); err != nil {
		t.Logf("ss not found: not checking the listening addresses")
		return
	}
	out := run(t, "ss", "-ltnpH")
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, fmt.Sprintf("pid=%d,", w.cmd.Process.Pid)) {
			continue
		}
		n++
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[3], "127.0.0.1:") {
			t.Errorf("SeaweedFS listens beyond the loopback address: %s", line)
		}
	}
	if n == 0 {
		t.Errorf("ss shows no listening socket of SeaweedFS (pid %d):\n%s", w.cmd.Process.Pid, out)
	}
}

// archiveStatus returns the "archive" object of status --json.
func archiveStatus(t *testing.T, target string) map[string]any {
	t.Helper()
	st := status(t, target)
	a, ok := st.m["archive"].(map[string]any)
	if !ok {
		t.Fatalf("status --json of %s has no archive object: %s", target, st.raw)
	}
	return a
}

func jsonUint(m map[string]any, key string) uint64 {
	switch v := m[key].(type) {
	case json.Number:
		n, _ := strconv.ParseUint(v.String(), 10, 64)
		return n
	case float64:
		return uint64(v)
	}
	return 0
}

// waitArchived waits until the archive confirms LSN l.
func waitArchived(t *testing.T, mnt string, l uint64) {
	t.Helper()
	var a map[string]any
	if !eventually(2*time.Minute, 250*time.Millisecond, func() bool {
		a = archiveStatus(t, mnt)
		return jsonUint(a, "archived_through_lsn") >= l
	}) {
		t.Fatalf("the archive did not confirm LSN %d within 2 minutes: %v", l, a)
	}
}

// sealSegments writes a file larger than two segments and fsyncs it, so
// that every record before it is in a sealed segment.
func sealSegments(t *testing.T, mnt, name string) {
	t.Helper()
	data := bytes.Repeat([]byte(name+"\n"), (256<<10)/(len(name)+1))
	writeFileSync(t, filepath.Join(mnt, name), data, 0o644)
}

func TestArchive(t *testing.T) {
	requireTool(t, "sqlite3")
	requireFUSE(t)
	needBinary(t)
	w := startWeed(t)
	w.listensOnlyOnLoopback(t)
	t.Run("ConditionalPut", func(t *testing.T) { checkConditionalPut(t, w) })
	url := "s3://" + weedBucket + "/vol1"
	vol := newVolume(t, "--segment-size", "65536", "--archive", url, "--archive-endpoint", w.endpoint)
	mnt := mountVolume(t, vol)
	db := filepath.Join(mnt, "test.db")

	scripts := sqliteWorkload("WAL")
	for _, s := range scripts {
		sqlite(t, db, s)
	}
	integ, sum, dump := sqliteSummary(t, db)
	if integ != "ok" {
		t.Fatalf("integrity_check on the mount: %s", integ)
	}
	noted := headLSN(t, mnt)
	t.Logf("after the workload: head LSN %d, %s", noted, sum)
	sealSegments(t, mnt, "filler-1")
	waitArchived(t, mnt, noted)

	a := archiveStatus(t, mnt)
	for _, k := range []string{"url", "manifest", "archived_through_lsn", "lag_lsns", "lag_bytes", "lag_seconds", "requests"} {
		if _, ok := a[k]; !ok {
			t.Errorf("status --json archive has no %q: %v", k, a)
		}
	}
	if a["url"] != url || a["error"] != nil {
		t.Errorf("status --json archive: %v", a)
	}

	// An idle volume costs no request: the uploader looks at the log's
	// segment table in memory and only talks to the store when a segment
	// has been sealed.
	before := jsonUint(archiveStatus(t, mnt), "requests")
	time.Sleep(5 * time.Second) // an interval in which nothing may happen
	if after := jsonUint(archiveStatus(t, mnt), "requests"); after != before {
		t.Errorf("an idle volume sent %d request(s) to the store in 5s", after-before)
	}
	if out := mustRwfs(t, "status", mnt); !strings.Contains(out, "archived through LSN") {
		t.Errorf("status does not show the archive:\n%s", out)
	}
	if !strings.Contains(daemonLogs(vol), "archive: manifest 1:") {
		t.Errorf("the daemon's log does not tell of the manifests:\n%s", clip(daemonLogs(vol)))
	}

	// archive ls: the restorable range, from the manifest alone.
	ls := mustRwfs(t, "archive", "ls", url, "--endpoint", w.endpoint, "--json")
	var listing struct {
		VolumeID    string `json:"volume_id"`
		Manifest    uint64 `json:"manifest"`
		EarliestLSN uint64 `json:"earliest_lsn"`
		LatestLSN   uint64 `json:"latest_lsn"`
		Segments    int    `json:"segments"`
		Gap         string `json:"gap"`
		Objects     []struct {
			Key    string `json:"key"`
			Size   int64  `json:"size"`
			CRC32C string `json:"crc32c"`
		} `json:"objects"`
	}
	if err := json.Unmarshal([]byte(ls), &listing); err != nil {
		t.Fatalf("archive ls --json: %v\n%s", err, ls)
	}
	if listing.EarliestLSN != 1 || listing.LatestLSN < noted || listing.Gap != "" || listing.Segments < 3 || listing.Segments != len(listing.Objects) {
		t.Fatalf("archive ls --json: earliest %d latest %d (want 1 and >= %d), %d segments, gap %q\n%s",
			listing.EarliestLSN, listing.LatestLSN, noted, listing.Segments, listing.Gap, ls)
	}
	t.Logf("archive: manifest %d, %d segments, LSN %d..%d", listing.Manifest, listing.Segments, listing.EarliestLSN, listing.LatestLSN)

	checkRestored := func(t *testing.T, restored string, wantSum, wantDump string) {
		t.Helper()
		if r := rwfs(t, "verify", restored); !r.ok() {
			t.Fatalf("verify of the restored volume:\n%s", r)
		}
		st := status(t, restored)
		if st.has("archive") {
			t.Errorf("a restored volume must not archive to its source's prefix: %s", st.raw)
		}
		rmnt := mountVolume(t, restored)
		integ, sum, dump := sqliteSummary(t, filepath.Join(rmnt, "test.db"))
		if integ != "ok" {
			t.Errorf("restored database: PRAGMA integrity_check = %q", integ)
		}
		if sum != wantSum {
			t.Errorf("restored database: count|sum(v)|... = %s, want %s", sum, wantSum)
		}
		if wantDump != "" && dump != wantDump {
			t.Errorf("restored database: .dump differs (sha %s, want %s)", dump, wantDump)
		}
		unmount(t, rmnt)
	}

	t.Run("RestoreAtLSN", func(t *testing.T) {
		dst := newDir(t, "restored")
		r := rwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--at", strconv.FormatUint(noted, 10), "--progress")
		if !r.ok() {
			t.Fatalf("restore failed:\n%s", r)
		}
		if !strings.Contains(r.stderr, "restoring") {
			t.Errorf("restore --progress drew no progress bar on stderr:\n%s", r)
		}
		t.Logf("%s", strings.TrimSpace(r.stdout))
		checkRestored(t, dst, sum, dump)
	})

	t.Run("RestoreNewest", func(t *testing.T) {
		dst := newDir(t, "restored")
		out := mustRwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--json")
		var rep struct {
			Target  uint64 `json:"target_lsn"`
			LastLSN uint64 `json:"last_lsn"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Target != listing.LatestLSN {
			t.Fatalf("restore --json: %v, want target %d:\n%s", err, listing.LatestLSN, out)
		}
		checkRestored(t, dst, sum, dump)
	})

	t.Run("Resume", func(t *testing.T) {
		// What an interrupted restore leaves: some of the segments in the
		// work directory beside the destination (archive.TestRestoreResumes
		// cuts one off; here the files are put there by hand, so that the
		// test does not race the download).
		full := newDir(t, "restored")
		mustRwfs(t, "restore", url, full, "--endpoint", w.endpoint)
		segs, err := filepath.Glob(filepath.Join(full, "log", "*.seg"))
		if err != nil || len(segs) < 3 {
			t.Fatalf("the restored volume has %d segments (%v)", len(segs), err)
		}
		sort.Strings(segs)
		dst := filepath.Join(newDir(t, "resume"), "vol")
		work := filepath.Join(filepath.Dir(dst), ".vol.restoring")
		if err := os.MkdirAll(filepath.Join(work, "vol", "log"), 0o700); err != nil {
			t.Fatal(err)
		}
		var kept int64
		for _, s := range segs[:len(segs)-1] {
			data, err := os.ReadFile(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(work, "vol", "log", filepath.Base(s)), data, 0o600); err != nil {
				t.Fatal(err)
			}
			kept += int64(len(data))
		}
		out := mustRwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--json")
		var rep struct {
			Bytes  int64 `json:"bytes"`
			Reused int64 `json:"reused_bytes"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Reused != kept || rep.Bytes <= kept {
			t.Fatalf("restore --json: %v, want reused_bytes %d of more:\n%s", err, kept, out)
		}
		if _, err := os.Stat(work); !os.IsNotExist(err) {
			t.Errorf("the work directory %s is still there after the restore: %v", work, err)
		}
		checkRestored(t, dst, sum, dump)
	})

	t.Run("StoreDown", func(t *testing.T) {
		w.stop()
		// Writes on the mount go on while the store is down.
		sqlite(t, db, "PRAGMA synchronous=FULL;\nBEGIN;\n"+sqliteInsertRange(10001, 12000)+"COMMIT;\n")
		_, sum2, _ := sqliteSummary(t, db)
		noted2 := headLSN(t, mnt)
		sealSegments(t, mnt, "filler-2")
		var a map[string]any
		if !eventually(time.Minute, 250*time.Millisecond, func() bool {
			a = archiveStatus(t, mnt)
			return a["error"] != nil && jsonUint(a, "lag_lsns") > 0
		}) {
			t.Fatalf("status shows no archive error or lag while the store is down: %v", a)
		}
		if jsonUint(a, "archived_through_lsn") >= noted2 {
			t.Fatalf("archived through %d with the store down, after head %d", jsonUint(a, "archived_through_lsn"), noted2)
		}
		t.Logf("store down: %v", a)
		w.start()
		waitArchived(t, mnt, noted2)
		if a := archiveStatus(t, mnt); a["error"] != nil {
			t.Errorf("archive error after the store came back: %v", a)
		}
		dst := newDir(t, "restored")
		mustRwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--at", strconv.FormatUint(noted2, 10))
		checkRestored(t, dst, sum2, "")
	})

	t.Run("CorruptObject", func(t *testing.T) {
		c := w.client()
		ctx := context.Background()
		victim := "vol1/" + listing.Objects[1].Key
		obj, err := c.GetObject(ctx, weedBucket, victim, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		orig, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.StatObject(ctx, weedBucket, victim, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		put := func(data []byte) {
			t.Helper()
			meta := map[string]string{}
			for k, v := range info.UserMetadata {
				meta[k] = v
			}
			if _, err := c.PutObject(ctx, weedBucket, victim, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{UserMetadata: meta}); err != nil {
				t.Fatal(err)
			}
		}
		bad := bytes.Clone(orig)
		bad[len(bad)/2] ^= 0x55
		put(bad)
		defer put(orig)
		dst := newDir(t, "restored")
		r := rwfs(t, "restore", url, dst, "--endpoint", w.endpoint)
		oneLineError(t, r)
		if !strings.Contains(r.stderr, "checksum mismatch") || !strings.Contains(r.stderr, listing.Objects[1].Key) {
			t.Errorf("want a checksum error naming %s:\n%s", listing.Objects[1].Key, r)
		}
		if ents, _ := os.ReadDir(dst); len(ents) != 0 {
			t.Errorf("a failed restore left files in %s: %v", dst, ents)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		other := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		cases := map[string][]string{
			"unknown scheme":    {"--archive", "gs://bucket/x", "--archive-endpoint", w.endpoint},
			"missing bucket":    {"--archive", "s3://no-such-bucket/x", "--archive-endpoint", w.endpoint},
			"unreachable":       {"--archive", "s3://" + weedBucket + "/y", "--archive-endpoint", other},
			"prefix in use":     {"--archive", url, "--archive-endpoint", w.endpoint},
			"endpoint only":     {"--archive-endpoint", w.endpoint},
			"not an endpoint":   {"--archive", "s3://" + weedBucket + "/z", "--archive-endpoint", "ftp://x"},
			"wrong credentials": {"--archive", "s3://" + weedBucket + "/w", "--archive-endpoint", w.endpoint},
		}
		for name, args := range cases {
			dir := filepath.Join(testRootOf(t), "never-"+strings.ReplaceAll(name, " ", "-"))
			r := runCmd(t, cmdOpts{env: wrongKey(name)}, binPath, append([]string{"init", dir}, args...)...)
			oneLineError(t, r)
			t.Logf("%s: %s", name, strings.TrimSpace(r.stderr))
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("%s: init failed but made %s", name, dir)
			}
		}
		// Restore refuses a non-empty directory before reading anything.
		full := newDir(t, "full")
		writeFileSync(t, filepath.Join(full, "keep"), []byte("x"), 0o644)
		r := rwfs(t, "restore", url, full, "--endpoint", w.endpoint)
		oneLineError(t, r)
		// And a target outside the archive.
		dst := newDir(t, "restored")
		r = rwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--at", "999999999")
		oneLineError(t, r)
		if !strings.Contains(r.stderr, "outside the archive") {
			t.Errorf("want an error naming the archive's range:\n%s", r)
		}
	})
}

// checkConditionalPut shows that the server honours If-None-Match: * on
// PUT, which the archive relies on to never overwrite an object, and
// keeps the objects' metadata.
func checkConditionalPut(t *testing.T, w *weedServer) {
	b, err := archive.Connect(archive.Location{Bucket: weedBucket, Prefix: "probe"}, archive.Config{Endpoint: w.endpoint})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	meta := map[string]string{"rewindfs-crc32c": "01234567"}
	if err := b.PutIfAbsent(ctx, "once", strings.NewReader("first"), 5, meta); err != nil {
		t.Fatalf("first PUT: %v", err)
	}
	err = b.PutIfAbsent(ctx, "once", strings.NewReader("other"), 5, nil)
	if !errors.Is(err, archive.ErrExists) {
		t.Fatalf("second PUT with If-None-Match: * = %v, want ErrExists (412)", err)
	}
	rc, info, err := b.Get(ctx, "once")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "first" || info.Meta["rewindfs-crc32c"] != "01234567" {
		t.Fatalf("after a refused overwrite: %q, metadata %v; want %q and the first metadata", got, info.Meta, "first")
	}
	if _, err := b.Stat(ctx, "never"); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Stat of a missing key = %v, want ErrNotFound", err)
	}
}

// wrongKey gives the "wrong credentials" case a key the server does not know.
func wrongKey(name string) []string {
	if name != "wrong credentials" {
		return nil
	}
	return []string{"AWS_ACCESS_KEY_ID=nobody", "AWS_SECRET_ACCESS_KEY=wrong-secret"}
}
