package baseimage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rewindfs/rewindfs/lsn"
)

// A read-only view reads page files that a fold of the live volume may
// rewrite, so a view pins the state it shows: no fold goes past it. The
// handshake uses two kinds of flock, on real files (not the FS seam):
//
//   - base/lock: a fold holds it exclusively from choosing its target to
//     its commit; a view holds it shared while it loads and registers. So
//     a view never loads a base image in the middle of a fold it did not
//     see, and a fold never misses a view that loaded before it.
//   - base/pins/<pid>-<random>: holds "LSN what"; the view keeps it
//     flock'ed exclusively for its lifetime. A pin file whose lock can be
//     taken belongs to a view that is gone, and is removed.
const (
	lockFile = "lock"
	pinsDir  = "pins"
)

// LockFolds takes base/lock, exclusively for a fold, shared for a view.
// The returned function releases it.
func LockFolds(volumeDir string, exclusive bool) (func(), error) {
	dir := filepath.Join(volumeDir, Dir)
	if !exclusive {
		// A view of a volume that was never opened read-write since
		// compaction came has no base image, and nothing can be folding:
		// it need not lock, and it creates nothing.
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return func() {}, nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create base image directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open base image lock: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock base image: %w", err)
	}
	return func() { f.Close() }, nil
}

// Pin is a view's registration.
type Pin struct {
	f    *os.File
	path string
}

// PinInfo is a live pin.
type PinInfo struct {
	LSN  lsn.LSN
	What string
}

// RegisterView pins state(l) for a view described by what. The caller
// holds LockFolds shared.
func RegisterView(volumeDir string, l lsn.LSN, what string) (*Pin, error) {
	dir := filepath.Join(volumeDir, Dir, pinsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pins directory: %w", err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	path := filepath.Join(dir, fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(rnd[:])))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("register view: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("register view: lock %s: %w", path, err)
	}
	what = strings.ReplaceAll(what, "\n", " ")
	if _, err := f.WriteString(fmt.Sprintf("%d %s\n", l, what)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("register view: %w", err)
	}
	return &Pin{f: f, path: path}, nil
}

// Release removes the pin.
func (p *Pin) Release() {
	if p == nil || p.f == nil {
		return
	}
	os.Remove(p.path)
	p.f.Close()
	p.f = nil
}

// Pins returns the pins of live views. With prune, which a fold does while
// it holds LockFolds exclusively, it also removes the pins of views that
// are gone; without, it changes nothing (status).
func Pins(volumeDir string, prune bool) ([]PinInfo, error) {
	dir := filepath.Join(volumeDir, Dir, pinsDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list view pins: %w", err)
	}
	var out []PinInfo
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			continue // removed by its view just now
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if prune {
				os.Remove(path) // its view is gone
			}
			f.Close()
			continue
		}
		b, _ := os.ReadFile(path)
		f.Close()
		num, what, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
		v, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			// A view writes its pin right after creating it; until then
			// the file is empty. Hold compaction entirely for that moment.
			out = append(out, PinInfo{LSN: 0, What: "a view being mounted"})
			continue
		}
		out = append(out, PinInfo{LSN: lsn.LSN(v), What: what})
	}
	return out, nil
}
