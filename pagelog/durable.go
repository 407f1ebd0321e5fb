package pagelog

import (
	"os"
	"path/filepath"
)

// WriteFileDurably replaces the file at path with b so that a crash leaves
// either the old file or the new one, whole: it writes a temporary file
// beside it, syncs it, renames it into place and syncs the directory. fs
// nil means the disk. The volume's settings, the archive's state file and
// the base image's state files are written this way.
func WriteFileDurably(fs FS, path string, b []byte, perm os.FileMode) error {
	if fs == nil {
		fs = Disk
	}
	tmp := path + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path); err != nil {
		return err
	}
	return fs.SyncDir(filepath.Dir(path))
}
