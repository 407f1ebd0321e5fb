package fusefs

import (
	"sort"
	"time"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// releaseGrace is how long a rewind waits for handles closed just before
// it to be released by the kernel.
const releaseGrace = 2 * time.Second

// Rewind switches the mounted volume to state(target) and makes the kernel
// forget everything it cached of the state it left: the pages and
// attributes of every inode it holds, and every name in every directory it
// holds, in the old state or the new. It must not be called from a FUSE
// request: the notifications wait for kernel locks that a request may hold.
func (fs *FS) Rewind(target lsn.LSN) (volume.RewindPlan, error) {
	// The kernel sends RELEASE after close(2) has returned, asynchronously,
	// so files an application just closed may still count as open for a
	// moment. Give them that moment before refusing.
	deadline := time.Now().Add(releaseGrace)
	for fs.v.OpenFiles() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	plan, old, err := fs.v.Rewind(target)
	if old == nil {
		return plan, err
	}
	fs.invalidate(old)
	return plan, err
}

// invalidate is called after the volume's lock is released, so requests the
// kernel sends while it waits can be answered.
func (fs *FS) invalidate(old *fsstate.State) {
	if fs.server == nil {
		return
	}
	fs.mu.Lock()
	nodes := make([]uint64, 0, len(fs.lookups))
	for ino := range fs.lookups {
		nodes = append(nodes, ino)
	}
	fs.mu.Unlock()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i] < nodes[j] })

	names := map[uint64]map[string]bool{}
	collect := func(s *fsstate.State) {
		for _, ino := range nodes {
			n := s.Inodes[ino]
			if n == nil || !n.IsDir() {
				continue
			}
			if names[ino] == nil {
				names[ino] = map[string]bool{}
			}
			for name := range n.Entries {
				names[ino][name] = true
			}
		}
	}
	collect(old)
	_ = fs.v.View(func(s *fsstate.State) error { collect(s); return nil })

	for _, ino := range nodes {
		for name := range names[ino] {
			fs.server.EntryNotify(ino, name)
		}
		// Offset 0 and length 0 drop all cached pages and the attributes.
		fs.server.InodeNotify(ino, 0, 0)
	}
}
