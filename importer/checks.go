package importer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// checkPaths returns the source and the new volume as absolute paths with
// symbolic links resolved, after checking that the source is a directory,
// that the new volume does not exist or is an empty directory, and that
// neither is inside the other: a volume built inside its own source would
// copy itself, and a source inside the volume would be replaced by it.
//
// A source on a rewindfs mount of the new volume cannot happen (the new
// volume does not exist yet, or is empty, so nothing can have it mounted);
// a source on a mount of another volume is an ordinary tree.
func checkPaths(source, vol string) (string, string, error) {
	src, err := filepath.EvalSymlinks(source)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w (give the data directory to import)", source, unwrapErrno(err))
	}
	if src, err = filepath.Abs(src); err != nil {
		return "", "", err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return "", "", err
	}
	if !fi.IsDir() {
		return "", "", fmt.Errorf("%s is not a directory (give the data directory to import, not a file in it)", source)
	}

	abs, err := filepath.Abs(vol)
	if err != nil {
		return "", "", err
	}
	if fi, err := os.Lstat(abs); err == nil {
		if !fi.IsDir() {
			return "", "", fmt.Errorf("%s exists and is not a directory: give a new volume's path", vol)
		}
		f, err := os.Open(abs)
		if err != nil {
			return "", "", err
		}
		names, err := f.Readdirnames(1)
		f.Close()
		if len(names) > 0 {
			return "", "", fmt.Errorf("%s is not empty: import makes a new volume; give a path that does not exist or an empty directory", vol)
		}
		if err != nil && err != io.EOF {
			return "", "", err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", err
	}
	// The volume's parent must exist (its temporary sibling is made there);
	// resolve it so that the two paths can be compared.
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", "", fmt.Errorf("%s: %w (make the new volume's parent directory first)", filepath.Dir(abs), unwrapErrno(err))
	}
	dst := filepath.Join(parent, filepath.Base(abs))
	if within(dst, src) {
		return "", "", fmt.Errorf("the new volume %s is inside the directory to import %s: give a path outside it", vol, source)
	}
	if within(src, dst) {
		return "", "", fmt.Errorf("the directory to import %s is inside the new volume %s: give a path outside it", source, vol)
	}
	return src, dst, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// runningPostgres looks for a PostgreSQL lock file, postmaster.pid, at the
// top of the scanned tree and in its directories one level down (a mount
// often holds the data directory as data/), and returns the pid it names
// if that process is alive, with the file's path. A copy of a running
// server's files is not a consistent state. It works from the scan, so
// that it follows no symbolic link and reads no directory again (either
// would change access times in the source).
func runningPostgres(es []entry) (int, string) {
	for _, e := range es {
		if e.name != "postmaster.pid" || e.st.Mode&unix.S_IFMT != unix.S_IFREG || strings.Count(e.rel, "/") > 1 {
			continue
		}
		b, err := os.ReadFile(e.path)
		if err != nil {
			continue
		}
		line, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil || pid <= 0 {
			continue
		}
		// Signal 0 checks that the process exists; EPERM means it exists
		// and belongs to someone else. A stale file from before a reboot
		// may name a pid some other program has now: its name tells.
		if err := unix.Kill(pid, 0); err != nil && err != unix.EPERM {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
			if name := strings.TrimSpace(string(comm)); name != "postgres" && name != "postmaster" {
				continue
			}
		}
		return pid, e.path
	}
	return 0, ""
}
