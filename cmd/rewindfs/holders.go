package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// holder is a process that has files under a mount point open (or mapped).
type holder struct {
	pid   int
	name  string
	paths []string
}

func (h holder) String() string {
	p := h.paths
	more := ""
	if len(p) > 3 {
		p, more = p[:3], fmt.Sprintf(" and %d more", len(h.paths)-3)
	}
	return fmt.Sprintf("pid %d (%s) has %s%s", h.pid, h.name, strings.Join(p, ", "), more)
}

// holders scans /proc for processes with a file descriptor or a memory
// mapping on a file under mnt. Processes this user may not inspect, and
// those in another mount namespace, are not found.
func holders(mnt string) []holder {
	mnt = filepath.Clean(mnt)
	under := func(p string) bool {
		p = strings.TrimSuffix(p, " (deleted)")
		return p == mnt || strings.HasPrefix(p, mnt+"/")
	}
	ents, _ := os.ReadDir("/proc")
	var out []holder
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		seen := map[string]bool{}
		var paths []string
		note := func(p string) {
			p = strings.TrimSuffix(p, " (deleted)")
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
		dir := filepath.Join("/proc", e.Name())
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		for _, fd := range fds {
			if p, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && under(p) {
				note(p)
			}
		}
		if f, err := os.Open(filepath.Join(dir, "maps")); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				// address perms offset dev inode path
				fields := strings.SplitN(sc.Text(), " ", 6)
				if len(fields) == 6 {
					if p := strings.TrimLeft(fields[5], " "); under(p) {
						note(p)
					}
				}
			}
			f.Close()
		}
		if len(paths) == 0 {
			continue
		}
		sort.Strings(paths)
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		out = append(out, holder{pid: pid, name: strings.TrimSpace(string(comm)), paths: paths})
	}
	return out
}

// describeHolders names the processes holding files under mnt, for an
// error message.
func describeHolders(mnt string) string {
	hs := holders(mnt)
	if len(hs) == 0 {
		return "no process found holding files there (one in another mount namespace, or a file just being closed?)"
	}
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()
	}
	return "still open: " + strings.Join(s, "; ")
}

// users returns the processes that use the mount at mnt in any way: a file
// descriptor, a memory mapping, or a working or root directory under it. A
// database server's main process often holds no file open, only its working
// directory (PostgreSQL's postmaster).
func users(mnt string) []int {
	mnt = filepath.Clean(mnt)
	under := func(p string) bool { return p == mnt || strings.HasPrefix(p, mnt+"/") }
	var out []int
	for _, h := range holders(mnt) {
		out = append(out, h.pid)
	}
	seen := map[int]bool{}
	for _, p := range out {
		seen[p] = true
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || seen[pid] {
			continue
		}
		for _, link := range []string{"cwd", "root"} {
			if p, err := os.Readlink(filepath.Join("/proc", e.Name(), link)); err == nil && under(p) {
				out = append(out, pid)
				seen[pid] = true
				break
			}
		}
	}
	sort.Ints(out)
	return out
}

// pfExiting is PF_EXITING in the flags field of /proc/PID/stat: the process
// is inside exit(2).
const pfExiting = 0x4

// exiting reports whether pid has exited or is exiting but is still in the
// process table (a zombie nobody has reaped yet). PostgreSQL, for one,
// refuses to start while the pid in its lock file is in the table.
func exiting(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false // gone
	}
	// pid (comm) state ppid pgrp session tty_nr tpgid flags ...
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 7 {
		return false
	}
	if f[0] == "Z" || f[0] == "X" {
		return true
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&pfExiting != 0
}
