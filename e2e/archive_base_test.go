package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestArchiveBase runs base images and archive retention against the real
// SeaweedFS server: a volume with a 2 s local window, a base image due
// after 64 KiB or 3 s and a 4 s archive window. The daemon uploads base
// images as compaction moves the local base; a restore after the base
// downloads it and only the segments after it; retention removes the
// objects before it from the bucket, after a manifest dropped them.
//
// REWINDFS_BASE_MIB=N makes the file in the base image N MiB (default 8)
// and the segments 4 MiB, for the restore speed figure in the README.
func TestArchiveBase(t *testing.T) {
	requireFUSE(t)
	needBinary(t)
	w := startWeed(t)
	prefix := "vol-base"
	url := "s3://" + weedBucket + "/" + prefix
	var mnt string
	bigMiB, segSize := 8, 64<<10
	if n, err := strconv.Atoi(os.Getenv("REWINDFS_BASE_MIB")); err == nil && n > 0 {
		bigMiB, segSize = n, 4<<20
	}
	seal := func(name string) {
		writeFileSync(t, filepath.Join(mnt, name), bytes.Repeat([]byte("x"), 3*segSize), 0o644)
	}
	vol := newVolume(t, "--segment-size", strconv.Itoa(segSize), "--window", "2s",
		"--archive", url, "--archive-endpoint", w.endpoint,
		"--archive-base-every", "64KiB,3s", "--archive-window", "4s")
	mnt = mountVolume(t, vol)

	// Phase 1: a file that compaction will fold into the base image.
	rnd := rand.New(rand.NewSource(1))
	big := make([]byte, bigMiB<<20)
	rnd.Read(big)
	writeFileSync(t, filepath.Join(mnt, "big"), big, 0o644)
	first := headLSN(t, mnt)
	seal("filler-1")
	waitArchived(t, mnt, first)

	// The window moves past phase 1; phase 2 follows, and the base image
	// that holds "big" reaches the archive once the segments after it do.
	var base uint64
	if !eventually(time.Minute, 250*time.Millisecond, func() bool {
		base, _ = status(t, mnt).uint("base_lsn")
		return base >= first
	}) {
		t.Fatalf("compaction did not fold phase 1 (head %d) within a minute: %s", first, status(t, mnt).raw)
	}
	small := bytes.Repeat([]byte("after the base\n"), 1000)
	writeFileSync(t, filepath.Join(mnt, "small"), small, 0o644)
	second := headLSN(t, mnt)
	seal("filler-2")
	waitArchived(t, mnt, second)
	var a map[string]any
	if !eventually(time.Minute, 250*time.Millisecond, func() bool {
		a = archiveStatus(t, mnt)
		return jsonUint(a, "newest_base_lsn") >= first
	}) {
		t.Fatalf("no base image at or after LSN %d reached the archive within a minute: %v\n%s", first, a, clip(daemonLogs(vol)))
	}
	t.Logf("archive: %v", a)
	if out := mustRwfs(t, "status", mnt); !strings.Contains(out, "newest base image LSN") || !strings.Contains(out, "restorable from LSN") {
		t.Errorf("status does not show the archive's base image:\n%s", out)
	}

	// Retention: the base images older than the archive window leave,
	// with every segment before the newest of them; the bucket shows it.
	if !eventually(time.Minute, 250*time.Millisecond, func() bool {
		a = archiveStatus(t, mnt)
		return jsonUint(a, "restorable_from_lsn") > 1 && jsonUint(a, "pending_deletes") == 0
	}) {
		t.Fatalf("retention dropped nothing within a minute: %v\n%s", a, clip(daemonLogs(vol)))
	}
	from := jsonUint(a, "restorable_from_lsn")
	ls := mustRwfs(t, "archive", "ls", url, "--endpoint", w.endpoint, "--json")
	var listing struct {
		EarliestLSN uint64 `json:"earliest_lsn"`
		LatestLSN   uint64 `json:"latest_lsn"`
		Objects     []struct {
			Key     string `json:"key"`
			LastLSN uint64 `json:"last_lsn"`
		} `json:"objects"`
		Bases []struct {
			LSN uint64 `json:"lsn"`
		} `json:"base_images"`
	}
	if err := json.Unmarshal([]byte(ls), &listing); err != nil {
		t.Fatalf("archive ls --json: %v\n%s", err, ls)
	}
	if listing.EarliestLSN < from || len(listing.Bases) == 0 || listing.Bases[0].LSN != listing.EarliestLSN {
		t.Fatalf("archive ls --json: earliest LSN %d, bases %v; status says restorable from %d\n%s", listing.EarliestLSN, listing.Bases, from, ls)
	}
	named := map[string]bool{}
	for _, o := range listing.Objects {
		named[prefix+"/"+o.Key] = true
	}
	segs, bases := baseTestBucketKeys(t, w, prefix+"/segments/"), baseTestBucketKeys(t, w, prefix+"/base/")
	if len(segs) != len(listing.Objects) {
		t.Errorf("the bucket holds %d segment objects, the manifest names %d:\n%v", len(segs), len(listing.Objects), segs)
	}
	for _, k := range segs {
		if !named[k] {
			t.Errorf("%s is in the bucket but no manifest names it: retention did not delete it", k)
		}
	}
	if seg1 := prefix + "/segments/0000000000000001.seg"; slices.Contains(segs, seg1) {
		t.Errorf("%s is still in the bucket though the archive starts at LSN %d", seg1, from)
	}
	for _, k := range bases {
		lsnHex := strings.SplitN(strings.TrimPrefix(k, prefix+"/base/"), "/", 2)[0]
		l, _ := strconv.ParseUint(lsnHex, 16, 64)
		kept := false
		for _, b := range listing.Bases {
			kept = kept || b.LSN == l
		}
		if !kept {
			t.Errorf("%s belongs to a base image the manifest no longer names", k)
		}
	}

	// Restore at a point after the base: the base image and the segments
	// after it, not those below it.
	at := second
	if at < from {
		at = listing.LatestLSN
	}
	dst := newDir(t, "restored")
	start := time.Now()
	out := mustRwfs(t, "restore", url, dst, "--endpoint", w.endpoint, "--at", strconv.FormatUint(at, 10), "--json")
	elapsed := time.Since(start)
	var rep struct {
		BaseLSN     uint64  `json:"base_lsn"`
		BaseObjects int     `json:"base_objects"`
		BaseBytes   int64   `json:"base_bytes"`
		FirstLSN    uint64  `json:"first_lsn"`
		Target      uint64  `json:"target_lsn"`
		Bytes       int64   `json:"bytes"`
		Seconds     float64 `json:"seconds"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("restore --json: %v\n%s", err, out)
	}
	if rep.BaseLSN < from || rep.BaseLSN > at || rep.BaseObjects < 2 || rep.FirstLSN > rep.BaseLSN+1 || rep.FirstLSN <= 1 || rep.Target != at {
		t.Fatalf("restore --at %d: want a base image at or after LSN %d and only the segments after it:\n%s", at, from, out)
	}
	t.Logf("restore from the base image at LSN %d: %d bytes (base %d) in %.2fs (%s wall): %.1f MiB/s",
		rep.BaseLSN, rep.Bytes, rep.BaseBytes, rep.Seconds, elapsed.Round(time.Millisecond), float64(rep.Bytes)/(1<<20)/rep.Seconds)
	if r := rwfs(t, "verify", dst); !r.ok() {
		t.Fatalf("verify of the restored volume:\n%s", r)
	}
	rmnt := mountVolume(t, dst)
	for name, want := range map[string][]byte{"big": big, "small": small} {
		got, err := os.ReadFile(filepath.Join(rmnt, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s: %d bytes (%v), want the %d written", name, len(got), err, len(want))
		}
	}
	unmount(t, rmnt)

	// A target before the archive's start is refused, naming the range.
	r := rwfs(t, "restore", url, newDir(t, "old"), "--endpoint", w.endpoint, "--at", "1")
	if r.ok() || !strings.Contains(r.stderr, "target outside the archive") {
		t.Errorf("restore --at 1 after retention: want an error naming the range:\n%s", r)
	}
}

// baseTestBucketKeys lists the keys under prefix.
func baseTestBucketKeys(t *testing.T, w *weedServer, prefix string) []string {
	t.Helper()
	var keys []string
	for o := range w.client().ListObjects(context.Background(), weedBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", prefix, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}
