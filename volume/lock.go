package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned when another process has the volume open read-write
// (a mounted daemon, or a rewind or compaction running offline).
var ErrLocked = errors.New("volume is in use")

// Lock is an exclusive flock on the volume's lock file. The kernel drops it
// when the holder dies, so a SIGKILLed daemon never leaves a stale lock.
type Lock struct{ f *os.File }

// AcquireLock takes the volume's lock without waiting. The holder's pid and
// purpose are written into the file so that a refusal can name them.
func AcquireLock(dir, purpose string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(f.Name())
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held by %s", ErrLocked, dir, describeHolder(string(holder)))
		}
		return nil, err
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), purpose)), 0)
	}
	return &Lock{f: f}, nil
}

func describeHolder(s string) string {
	pid, what, ok := strings.Cut(strings.TrimSpace(s), " ")
	if _, err := strconv.Atoi(pid); !ok || err != nil {
		return "another process"
	}
	return fmt.Sprintf("process %s (%s)", pid, what)
}

// Locked reports whether some process holds the volume's lock. It only
// probes: it creates and writes nothing.
func Locked(dir string) bool {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return false // no lock file: nobody has ever held it
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
