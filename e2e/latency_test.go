package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindfs/rewindfs/fusetrace"
)

// TestLatency runs `rewindfs latency --json` while the test makes a known
// number of requests, stops it with Ctrl-C, and checks its counts.
func TestLatency(t *testing.T) {
	requireFUSE(t)
	if _, err := os.Stat("/sys/kernel/tracing/events/fuse/fuse_request_send"); err != nil || os.Geteuid() != 0 {
		skipOrFail(t, "rewindfs latency needs root and the kernel's FUSE tracepoints in /sys/kernel/tracing")
	}
	vol := newVolume(t)
	mnt := mountVolume(t, vol)

	cmd := exec.Command(binPath, "latency", mnt, "--for", "10m", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	// The measurement has begun once the command's trace instance exists.
	inst := filepath.Join("/sys/kernel/tracing/instances", fusetrace.InstancePrefix+strconv.Itoa(cmd.Process.Pid))
	if !eventually(time.Minute, 10*time.Millisecond, func() bool { _, err := os.Stat(inst); return err == nil }) {
		t.Fatalf("no trace instance %s after a minute; stderr: %s", inst, stderr.String())
	}
	// A new instance traces from the start (tracing_on 1) until Start
	// turns it off to set it up; Start turns it on again last, after
	// enabling the events. So: the end event enabled, and after that
	// tracing on, means set up and measuring.
	isOne := func(file string) bool {
		b, err := os.ReadFile(filepath.Join(inst, file))
		return err == nil && strings.TrimSpace(string(b)) == "1"
	}
	if !eventually(time.Minute, 10*time.Millisecond, func() bool {
		return isOne("events/fuse/fuse_request_end/enable") && isOne("tracing_on")
	}) {
		t.Fatalf("tracing never turned on in %s", inst)
	}

	const n = 10
	f, err := os.Create(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := f.WriteAt([]byte("one page of the log"), int64(i)*4096); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("latency after Ctrl-C: %v; stderr: %s", err, stderr.String())
	}
	var rep struct {
		Mountpoint string  `json:"mountpoint"`
		Volume     string  `json:"volume"`
		Seconds    float64 `json:"seconds"`
		Unanswered int     `json:"unanswered"`
		Ops        []struct {
			Op     string  `json:"op"`
			Count  int     `json:"count"`
			Errors int     `json:"errors"`
			P50    float64 `json:"p50_us"`
			Max    float64 `json:"max_us"`
		} `json:"ops"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("latency --json printed %q: %v", stdout.String(), err)
	}
	// The kernel sends the RELEASE of a close after close returns, so it
	// may still be in flight when the measurement stops.
	if rep.Mountpoint != mnt || rep.Volume != vol || rep.Seconds <= 0 || rep.Unanswered > 1 {
		t.Errorf("report %+v: want mountpoint %s, volume %s, seconds > 0, at most the RELEASE unanswered", rep, mnt, vol)
	}
	counts := map[string]int{}
	for _, o := range rep.Ops {
		counts[o.Op] = o.Count
		if o.Count <= 0 || o.P50 <= 0 || o.P50 > o.Max {
			t.Errorf("op %+v: want a count and 0 < p50 <= max", o)
		}
	}
	// Each fsync after a write is one FSYNC; the write-back cache sends the
	// one dirty page as at least one WRITE.
	if counts["fsync"] != n || counts["write"] < n || counts["create"] != 1 {
		t.Errorf("counts %v: want %d fsync, at least %d write, 1 create", counts, n, n)
	}
	if _, err := os.Stat(inst); err == nil {
		t.Errorf("trace instance %s is still there after the command ended", inst)
	}

	// A volume that is not mounted has no requests to time.
	other := newVolume(t)
	r := rwfs(t, "latency", other, "--for", "1s")
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "not mounted") {
		t.Errorf("latency of an unmounted volume: want \"not mounted\" in %q", r.stderr)
	}
}
