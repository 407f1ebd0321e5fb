package archive

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gateBucket holds every Get until want of them are in flight at once (or
// a second has passed), and counts the most it saw in flight.
type gateBucket struct {
	*memBucket
	want     int
	mu       sync.Mutex
	inFlight int
	most     int
	all      chan struct{}
}

func (g *gateBucket) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	g.mu.Lock()
	g.inFlight++
	g.most = max(g.most, g.inFlight)
	if g.inFlight == g.want {
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
