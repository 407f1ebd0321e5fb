package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/volume"
)

// gateBucket holds every Get until want of them are in flight at once (or
// a second has passed), and counts the most it saw in flight. The gate
// opens once: later Gets, which may bring the count to want again, pass.
type gateBucket struct {
	*memBucket
	want     int
	mu       sync.Mutex
	inFlight int
	most     int
	opened   bool
	all      chan struct{}
}

func (g *gateBucket) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	g.mu.Lock()
	g.inFlight++
	g.most = max(g.most, g.inFlight)
	if g.inFlight == g.want && !g.opened {
		g.opened = true
		close(g.all)
	}
	g.mu.Unlock()
	select {
	case <-g.all:
	case <-time.After(time.Second):
	}
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	return g.memBucket.Get(ctx, key)
}

// downloadJobs puts n objects of distinct bytes into b and returns jobs
// that download them into dir.
func downloadJobs(t testing.TB, b *memBucket, dir string, n int) []downloadJob {
	return sizedJobs(t, b, dir, n, 10000)
}

// sizedJobs is downloadJobs with objects of about size bytes.
func sizedJobs(t testing.TB, b *memBucket, dir string, n, size int) []downloadJob {
	t.Helper()
	jobs := make([]downloadJob, n)
	for i := range jobs {
		data := make([]byte, size+i)
		for k := range data {
			data[k] = byte(i + k)
		}
		key := fmt.Sprintf("obj/%03d", i)
		b.put(key, data, map[string]string{metaCRC32C: Checksum(data)})
		jobs[i] = downloadJob{
			obj:  Object{Kind: KindSegment, Key: key, Size: int64(len(data)), CRC32C: Checksum(data)},
			path: filepath.Join(dir, fmt.Sprintf("%03d", i)),
		}
	}
	return jobs
}

// A restore downloads restoreParallel objects at once, each whole and
// checked under its final name, and progress counts every byte.
func TestDownloadAllInParallel(t *testing.T) {
	g := &gateBucket{memBucket: newMemBucket(), want: restoreParallel, all: make(chan struct{})}
	dir := t.TempDir()
	jobs := downloadJobs(t, g.memBucket, dir, 3*restoreParallel)
	var got atomic.Int64
	require.NoError(t, downloadAll(context.Background(), g, 1, jobs, restoreParallel, func(n int) { got.Add(int64(n)) }))
	require.Greater(t, restoreParallel, 1)
	require.Equal(t, restoreParallel, g.most, "downloads in flight at once")
	var want int64
	for _, j := range jobs {
		b, err := os.ReadFile(j.path)
		require.NoError(t, err)
		require.Equal(t, Checksum(b), j.obj.CRC32C, j.path)
		want += j.obj.Size
		_, err = os.Stat(j.path + ".tmp")
		require.ErrorIs(t, err, os.ErrNotExist)
	}
	require.Equal(t, want, got.Load())
}

// With bad objects among many, the error names the first bad one in the
// chain's order, however the downloads interleave, and the rest stop.
func TestDownloadAllNamesTheFirstBadObject(t *testing.T) {
	for range 20 {
		b := newMemBucket()
		jobs := downloadJobs(t, b, t.TempDir(), 4*restoreParallel)
		b.damage(jobs[5].obj.Key, 10)
		b.damage(jobs[2].obj.Key, 10)
		b.remove(jobs[9].obj.Key)
		err := downloadAll(context.Background(), b, 1, jobs, restoreParallel, nil)
		require.ErrorIs(t, err, ErrChecksum)
		require.Contains(t, err.Error(), jobs[2].obj.Key)
	}
	// The caller's cancellation is the error when nothing else failed.
	b := newMemBucket()
	jobs := downloadJobs(t, b, t.TempDir(), 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, downloadAll(ctx, b, 1, jobs, restoreParallel, nil), context.Canceled)
}

// slowBucket answers each Get after a delay: an object store's round trip.
type slowBucket struct {
	*memBucket
	delay time.Duration
}

func (s slowBucket) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	time.Sleep(s.delay)
	return s.memBucket.Get(ctx, key)
}

// BenchmarkDownload is a restore's download of 32 segments of 1 MiB, each
// synced: one at a time (as before) and restoreParallel at a time, with
// no round trip and with 20 ms a GET (an S3 bucket in another zone).
func BenchmarkDownload(b *testing.B) {
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		for _, par := range []int{1, restoreParallel} {
			b.Run(fmt.Sprintf("rtt=%s/parallel=%d", delay, par), func(b *testing.B) {
				mb := newMemBucket()
				jobs := sizedJobs(b, mb, b.TempDir(), 32, 1<<20)
				bucket := slowBucket{memBucket: mb, delay: delay}
				b.SetBytes(32 << 20)
				for b.Loop() {
					if err := downloadAll(context.Background(), bucket, 1, jobs, par, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// flakyBucket fails every Get of an object in fail, and counts the Gets
// of each key.
type flakyBucket struct {
	*memBucket
	mu   sync.Mutex
	fail map[string]bool
	gets map[string]int
}

func (f *flakyBucket) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	f.mu.Lock()
	f.gets[key]++
	bad := f.fail[key]
	f.mu.Unlock()
	if bad {
		return nil, ObjectInfo{}, errStoreDown
	}
	return f.memBucket.Get(ctx, key)
}

// A restore cut off by the store going away keeps what it downloaded in
// its work directory, and the next restore into the same place downloads
// only the rest: a kept file that is not whole, and anything else left
// there, are not trusted.
func TestRestoreResumes(t *testing.T) {
	tv, mb, m := archivedTestVolume(t, 400<<10)
	segs := m.Objects
	require.GreaterOrEqual(t, len(segs), 6)

	// The store fails the last segment: everything before it arrives.
	b := &flakyBucket{memBucket: mb, fail: map[string]bool{segs[len(segs)-1].Key: true}, gets: map[string]int{}}
	dst := filepath.Join(t.TempDir(), "restored")
	_, err := Restore(context.Background(), b, RestoreOptions{Dir: dst})
	require.ErrorIs(t, err, errStoreDown)
	require.Contains(t, err.Error(), "run the same restore again")
	_, serr := os.Stat(dst)
	require.ErrorIs(t, serr, os.ErrNotExist, "nothing at the destination")
	workDir := filepath.Join(filepath.Dir(dst), ".restored.restoring")
	kept, err := filepath.Glob(filepath.Join(workDir, "vol", "log", "*.seg"))
	require.NoError(t, err)
	require.Len(t, kept, len(segs)-1, "every segment but the failed one is kept")

	// Damage one kept file and leave junk beside them.
	sort.Strings(kept)
	flip, err := os.ReadFile(kept[1])
	require.NoError(t, err)
	flip[len(flip)/2] ^= 1
	require.NoError(t, os.WriteFile(kept[1], flip, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(workDir, "vol", "rewindfs.json"), []byte("{}"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(workDir, "vol", "log", "junk.seg.tmp"), []byte("x"), 0o600))

	b.fail = nil
	b.gets = map[string]int{}
	var total int64
	var got atomic.Int64
	rep, err := Restore(context.Background(), b, RestoreOptions{Dir: dst,
		Started: func(n int64) { total = n }, Progress: func(n int) { got.Add(int64(n)) }})
	require.NoError(t, err)
	for i, s := range segs {
		want := 0
		if i == 1 || i == len(segs)-1 {
			want = 1 // the damaged copy and the one never downloaded
		}
		require.Equal(t, want, b.gets[s.Key], "GETs of %s", s.Key)
	}
	require.Equal(t, rep.Bytes-segs[1].Size-segs[len(segs)-1].Size, rep.ReusedBytes)
	require.Equal(t, total, got.Load(), "progress counts the kept bytes too")
	_, serr = os.Stat(workDir)
	require.ErrorIs(t, serr, os.ErrNotExist, "the work directory is gone after success")

	r, err := volume.Open(dst, volume.Options{ReadOnly: true, Logf: t.Logf})
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, m.Objects[len(segs)-1].LastLSN, r.Head())
	buf := make([]byte, len(tv.data))
	n, err := r.Read(tv.ino, 0, buf)
	require.NoError(t, err)
	require.Positive(t, n)
	require.True(t, bytes.Equal(tv.data[:n], buf[:n]), "the restored file is the archived part of the written one")
}

// Two restores into one place: the second is refused while the first
// holds the work directory.
func TestRestoreRefusesASecondRestoreIntoThePlace(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "restored")
	w, err := openWork(dst)
	require.NoError(t, err)
	_, err = openWork(dst)
	require.ErrorIs(t, err, ErrRestoreRunning)
	w.unlock()
	w2, err := openWork(dst)
	require.NoError(t, err, "free again once the first let go")
	w2.unlock()
}

// cancelBucket calls cancel at the n-th Get of a segment (Ctrl-C while
// downloading), then serves Gets as usual.
type cancelBucket struct {
	*memBucket
	n      atomic.Int64
	at     int64
	cancel context.CancelFunc
}

func (c *cancelBucket) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if strings.HasPrefix(key, "segments/") && c.n.Add(1) == c.at {
		c.cancel()
		return nil, ObjectInfo{}, ctx.Err()
	}
	return c.memBucket.Get(ctx, key)
}

// A cancelled restore (the CLI cancels on SIGINT and SIGTERM) keeps its
// work directory like one cut off by the store; a restore that finds a bad
// object removes it.
func TestRestoreCancelledKeepsBadObjectRemoves(t *testing.T) {
	_, mb, m := archivedTestVolume(t, 400<<10)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &cancelBucket{memBucket: mb, at: 3, cancel: cancel}
	dst := filepath.Join(t.TempDir(), "restored")
	workDir := filepath.Join(filepath.Dir(dst), ".restored.restoring")
	_, err := Restore(ctx, b, RestoreOptions{Dir: dst})
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, err.Error(), workDir)
	_, serr := os.Stat(workDir)
	require.NoError(t, serr, "kept for the next run")

	// The next run meets a damaged object in the store: bad data, so the
	// work directory goes, and nothing is left.
	mb.damage(m.Objects[len(m.Objects)-1].Key, 100)
	_, err = Restore(context.Background(), mb, RestoreOptions{Dir: dst})
	require.ErrorIs(t, err, ErrChecksum)
	requireNothingAt(t, dst)
}
