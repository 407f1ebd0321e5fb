package fusefs

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/volume"
)

// opCounter counts the requests a mount answered, by FUSE name.
type opCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newOpCounter() *opCounter { return &opCounter{n: map[string]int{}} }

func (c *opCounter) observe(op string, _ time.Duration, _ fuse.Status) {
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
}

func (c *opCounter) get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

// TestDsyncWrite: a write(2) to a file opened with O_DSYNC is durable when
// it returns, with and without DsyncDirect; with it, each write is exactly
// one WRITE request and no FSYNC follows.
func TestDsyncWrite(t *testing.T) {
	for _, direct := range []bool{false, true} {
		name := map[bool]string{false: "cached", true: "direct"}[direct]
		t.Run(name, func(t *testing.T) {
			ops := newOpCounter()
			mnt, _, v := mountWith(t, volume.InitOptions{SegmentSize: 4 << 20}, volume.Options{Logf: t.Logf},
				Options{DsyncDirect: direct}, ops.observe)
			p := filepath.Join(mnt, "wal")
			f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|syscall.O_DSYNC, 0o600)
			require.NoError(t, err)
			defer f.Close()
			writes, fsyncs := ops.get("write"), ops.get("fsync")
			var want []byte
			for i := range 3 {
				page := bytes.Repeat([]byte{byte('a' + i)}, 8192)
				_, err := f.WriteAt(page, int64(i*8192))
				require.NoError(t, err)
				want = append(want, page...)
				s := v.Status()
				require.Equal(t, s.HeadLSN, s.DurableLSN, "write %d to an O_DSYNC file returned before it was durable", i)
			}
			if direct {
				require.Equal(t, 3, ops.get("write")-writes, "one WRITE per write(2)")
				require.Equal(t, 0, ops.get("fsync")-fsyncs, "no FSYNC after a direct O_DSYNC write")
			} else {
				require.GreaterOrEqual(t, ops.get("fsync")-fsyncs, 3, "the kernel syncs each cached O_DSYNC write")
			}
			got, err := os.ReadFile(p)
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got), "read back what the O_DSYNC writes wrote")
		})
	}
}

// TestDsyncDirectCoherent: a file open twice, once cached and once O_DSYNC
// (direct): a page dirtied through the cached descriptor and then
// overwritten through the direct one must end as the direct write left it,
// in the kernel's cache and in the log. The kernel writes the dirty page out
// before the direct WRITE (CAP_DIRECT_IO_ALLOW_MMAP); if it did not, the
// later write-back of the stale page would undo the direct write.
func TestDsyncDirectCoherent(t *testing.T) {
	mnt, _, v := mountWith(t, volume.InitOptions{SegmentSize: 4 << 20}, volume.Options{Logf: t.Logf},
		Options{DsyncDirect: true}, nil)
	p := filepath.Join(mnt, "f")
	cached, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(t, err)
	defer cached.Close()
	_, err = cached.WriteAt(bytes.Repeat([]byte("A"), 4096), 0) // dirty in the page cache
	require.NoError(t, err)

	direct, err := os.OpenFile(p, os.O_RDWR|syscall.O_DSYNC, 0)
	require.NoError(t, err)
	defer direct.Close()
	_, err = direct.WriteAt(bytes.Repeat([]byte("B"), 4096), 0)
	require.NoError(t, err)

	buf := make([]byte, 4096)
	_, err = cached.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte("B"), 4096), buf, "the cached descriptor reads the page the direct write replaced")

	_, err = cached.WriteAt(bytes.Repeat([]byte("C"), 4096), 4096)
	require.NoError(t, err)
	require.NoError(t, cached.Sync())
	st, err := cached.Stat()
	require.NoError(t, err)
	ino := st.Sys().(*syscall.Stat_t).Ino

	got := make([]byte, 8192)
	n, err := v.Read(ino, 0, got)
	require.NoError(t, err)
	require.Equal(t, 8192, n)
	require.Equal(t, bytes.Repeat([]byte("B"), 4096), got[:4096], "the log holds the direct write, not the stale cached page")
	require.Equal(t, bytes.Repeat([]byte("C"), 4096), got[4096:])
}
