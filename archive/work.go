package archive

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/volume"
)

// A restore into DIR works in the hidden sibling .DIR.restoring:
//
//	.DIR.restoring/lock        flock(2)ed by the restore that works here
//	.DIR.restoring/vol/log/    the segments, as downloaded
//	.DIR.restoring/base/       the base image's objects, until vol is made
//
// Once every object is downloaded and checked, vol becomes the volume
// (settings made, base/ moved into it, state rebuilt) and is renamed to
// DIR. A restore that fails on bad data (a checksum, a missing object, a
// record that does not check out) removes the work directory; one that
// is interrupted (the network, a full disk, Ctrl-C, a crash) leaves it,
// and the next restore into DIR keeps every file in it that is one of the
// objects it needs, whole: same size and CRC-32C as its manifest says.
type work struct {
	dir  string
	lock *os.File
}

const workLockName = "lock"

// openWork makes or reopens the work directory of a restore into dest and
// locks it.
func openWork(dest string) (*work, error) {
	dir := filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".restoring")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, workLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by it; wait for it to end", ErrRestoreRunning, dir)
		}
		return nil, fmt.Errorf("restore: lock %s: %w", dir, err)
	}
	w := &work{dir: dir, lock: f}
	for _, d := range []string{w.logDir(), filepath.Join(w.baseDir(), baseimage.PagesDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			w.unlock()
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	return w, nil
}

func (w *work) volDir() string  { return filepath.Join(w.dir, "vol") }
func (w *work) logDir() string  { return filepath.Join(w.volDir(), volume.LogDir) }
func (w *work) baseDir() string { return filepath.Join(w.dir, baseimage.Dir) }

// unlock releases the work directory (closing the file drops the flock).
func (w *work) unlock() { _ = w.lock.Close() }

// prepare removes from the work directory everything that is not one of
// the jobs' files, whole, and returns the jobs still to download and the
// bytes of those kept (each reported to progress, as if downloaded).
func (w *work) prepare(jobs []downloadJob, progress func(int)) ([]downloadJob, int64, error) {
	want := map[string]downloadJob{}
	for _, j := range jobs {
		want[j.path] = j
	}
	keepDirs := map[string]bool{w.dir: true, w.volDir(): true, w.logDir(): true,
		w.baseDir(): true, filepath.Join(w.baseDir(), baseimage.PagesDir): true}
	whole := map[string]bool{}
	var reused int64
	err := filepath.WalkDir(w.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if keepDirs[p] {
				return nil
			}
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		if p == filepath.Join(w.dir, workLockName) {
			return nil
		}
		if j, ok := want[p]; ok && d.Type().IsRegular() {
			ok, err := fileMatches(p, j.obj)
			if err != nil {
				return err
			}
			if ok {
				whole[p] = true
				reused += j.obj.Size
				if progress != nil {
					progress(int(j.obj.Size))
				}
				return nil
			}
		}
		return os.Remove(p)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("restore: tidy %s: %w", w.dir, err)
	}
	var todo []downloadJob
	for _, j := range jobs {
		if !whole[j.path] {
			todo = append(todo, j)
		}
	}
	return todo, reused, nil
}

// fileMatches says whether the file at p holds exactly the object's bytes.
func fileMatches(p string, o Object) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := crc32.New(crcTable)
	n, err := io.Copy(h, io.LimitReader(f, o.Size+1))
	if err != nil {
		return false, err
	}
	return n == o.Size && formatCRC(h.Sum32()) == o.CRC32C, nil
}

// resumable says whether a download that failed with err is worth going
// on with later: it did not fail on the archive's own bytes.
func resumable(err error) bool {
	return !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrNotFound)
}
