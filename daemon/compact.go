package daemon

import (
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/pagelog"
	"github.com/rewindfs/rewindfs/volume"
)

// compactEvery runs compaction in the background: every period it folds
// what has left the window, in bounded batches with a pause between them,
// so that the application's writes never wait long for the volume's lock.
func (d *daemon) compactEvery(period time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	lastHeld := ""
	every(period, stop, done, func() {
		for {
			r, err := d.v.Compact()
			if err != nil {
				log.Printf("background compaction: %v", err)
				break
			}
			if r.HeldBy != lastHeld {
				if r.HeldBy != "" {
					log.Printf("compaction held back by %s: history older than the window is kept until it goes", r.HeldBy)
				}
				lastHeld = r.HeldBy
			}
			if r.Done() || r.ToLSN == r.FromLSN {
				break
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}

// compactNow runs compaction until nothing is left to do (or max has
// passed) and sums up what it did, for `rewindfs compact`.
func compactNow(v *volume.Volume, max time.Duration) (volume.CompactReport, error) {
	start := time.Now()
	var total volume.CompactReport
	for i := 0; ; i++ {
		r, err := v.Compact()
		if i == 0 {
			total.FromLSN = r.FromLSN
		}
		if r.ToLSN > 0 {
			total.ToLSN = r.ToLSN
		}
		total.FilesWritten += r.FilesWritten
		total.PagesCopied += r.PagesCopied
		total.SegmentsRemoved += r.SegmentsRemoved
		total.BytesFreed += r.BytesFreed
		total.LagRecords, total.HeldBy = r.LagRecords, r.HeldBy
		total.Seconds = time.Since(start).Seconds()
		if err != nil || r.Done() || r.ToLSN == r.FromLSN || time.Since(start) > max {
			return total, err
		}
	}
}

// CompactNow is compactNow for the command line on an unmounted volume.
func CompactNow(v *volume.Volume) (volume.CompactReport, error) { return compactNow(v, 24*time.Hour) }

// crashEnv names the test hook of crashFS.
const crashEnv = "REWINDFS_TEST_CRASH_AT_BASE_OP"

// crashFS returns nil (the real disk) unless crashEnv=N is set: then a file
// system that SIGKILLs this process just before its Nth changing call on
// the base image (counting from 1), so that end-to-end tests can stop a
// compaction at a step of their choosing. Never set it in production.
func crashFS() pagelog.FS {
	n, err := strconv.Atoi(os.Getenv(crashEnv))
	if err != nil || n <= 0 {
		return nil
	}
	log.Printf("test hook %s=%d: this daemon kills itself at its %dth change to the base image", crashEnv, n, n)
	efs := pagelog.NewErrorFS(pagelog.Disk)
	var mu sync.Mutex
	seen := 0
	efs.SetHook(func(op pagelog.Op, name string) {
		if !strings.Contains(name, string(filepath.Separator)+baseimage.Dir+string(filepath.Separator)) {
			return
		}
		mu.Lock()
		seen++
		hit := seen == n
		mu.Unlock()
		if hit {
			log.Printf("test hook: SIGKILL before %s %s", op, name)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	})
	return efs
}
