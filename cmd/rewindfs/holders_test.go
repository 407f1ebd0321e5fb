package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHoldersUsersExiting: a process with a file open under a directory is
// a holder (named with its command and the file); one that only has its
// working directory there is a user but no holder; a child that has exited
// but is not reaped is exiting until it is.
func TestHoldersUsersExiting(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(cwd, script string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command("sh", "-c", script, "sh", f)
		cmd.Dir = cwd
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	holder := start("/", `exec 3<"$1"; exec sleep 60`)
	inside := start(dir, `exec sleep 60`)
	pid := holder.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s := describeHolders(dir); strings.Contains(s, fmt.Sprintf("pid %d (sleep) has %s", pid, f)) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("describeHolders(%s) = %q, want pid %d (sleep) with %s", dir, s, pid, f)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, h := range holders(dir) {
		if h.pid == inside.Process.Pid {
			t.Errorf("a process with only its working directory under %s is a holder", dir)
		}
	}
	us := users(dir)
	if !contains(intsToStrings(us), fmt.Sprint(pid)) || !contains(intsToStrings(us), fmt.Sprint(inside.Process.Pid)) {
		t.Errorf("users(%s) = %v, want %d and %d", dir, us, pid, inside.Process.Pid)
	}
	if exiting(pid) {
		t.Errorf("a running process is exiting")
	}

	z := exec.Command("true")
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	zp := z.Process.Pid
	deadline = time.Now().Add(10 * time.Second)
	for !exiting(zp) {
		if time.Now().After(deadline) {
			t.Fatalf("an exited, unreaped child %d is not exiting", zp)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = z.Wait()
	if exiting(zp) {
		t.Errorf("a reaped child %d is still exiting", zp)
	}
}

func intsToStrings(ns []int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = fmt.Sprint(n)
	}
	return out
}
