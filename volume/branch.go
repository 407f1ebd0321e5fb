package volume

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
)

// BranchFrom makes the volume in dir, a copy of another volume's log (a
// restore from its archive), a volume of its own: a new ID for the
// segments it writes from now on, the copied volume named as its parent in
// Ancestors (source says where it came from, at says at which LSN it
// branched), and no archive. Its log accepts the parent's segments as a
// clone's does. The volume must not be open.
func BranchFrom(dir, source string, at lsn.LSN, now time.Time) (*Settings, error) {
	s, err := ReadSettings(dir)
	if err != nil {
		return nil, err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	s.Ancestors = append(s.Ancestors, Ancestor{
		VolumeID: s.VolumeID, Path: source, BranchLSN: at, Cloned: now.UTC().Format(time.RFC3339Nano),
	})
	s.VolumeID = hex.EncodeToString(id[:])
	s.Archive, s.ArchiveEndpoint, s.ArchiveCredentialsFile = "", "", ""
	if err := writeSettings(dir, s); err != nil {
		return nil, fmt.Errorf("write settings of %s: %w", dir, err)
	}
	return s, nil
}
