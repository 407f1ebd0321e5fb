package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// StateFile is the name, in the volume directory, of the uploader's record
// of the newest manifest it wrote. Part of the volume layout.
const StateFile = "archive.json"

// State is what StateFile holds. It is written after each manifest, so it
// is never ahead of the archive: ArchivedThrough here is at or below what
// the archive has confirmed, which is the safe side for compaction.
type State struct {
	URL             string       `json:"url"`
	Manifest        *ManifestRef `json:"manifest,omitempty"`
	ArchivedThrough lsn.LSN      `json:"archived_through"`
	// PendingDeletes are objects the newest manifest no longer names
	// (archive retention dropped them) that are not deleted yet.
	PendingDeletes []string `json:"pending_deletes,omitempty"`
}

// ReadState reads the volume's archive state; a volume that has never
// archived anything has none (the zero State, no error).
func ReadState(volumeDir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(volumeDir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("archive: read %s: %w", StateFile, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("archive: %s: %w", filepath.Join(volumeDir, StateFile), err)
	}
	return s, nil
}

// writeState replaces the state file atomically: temporary file, fsync,
// rename, fsync of the directory.
func writeState(volumeDir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := pagelog.WriteFileDurably(nil, filepath.Join(volumeDir, StateFile), b, 0o600); err != nil {
		return fmt.Errorf("archive: write %s: %w", StateFile, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
