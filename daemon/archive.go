package daemon

import (
	"context"
	"fmt"
	"log"
	"path/filepath"
	"time"

	"github.com/rewindfs/rewindfs/archive"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// archiver is the archive's uploader running beside a read-write mount.
type archiver struct {
	up     *archive.Uploader
	cancel context.CancelFunc
	done   chan struct{}
}

// prepareArchive makes the uploader when the volume has an archive;
// runArchive starts it once the mount serves. A setting that cannot work (a bad URL, no credentials) is an
// error that stops the mount, since nobody would notice it later; a store
// that does not answer is not: the uploader retries in the background and
// status shows the lag. Compaction is told what the archive has confirmed
// before anything else runs, so it never deletes an unarchived segment.
func (d *daemon) prepareArchive() error {
	s := d.v.Settings
	if s.Archive == "" || d.v.ReadOnly() {
		return nil
	}
	loc, err := archive.ParseURL(s.Archive)
	if err != nil {
		return fmt.Errorf("archive of %s: %w", d.v.Dir, err)
	}
	b, err := archive.Connect(loc, archive.Config{Endpoint: s.ArchiveEndpoint, CredentialsFile: s.ArchiveCredentialsFile})
	if err != nil {
		return fmt.Errorf("archive of %s: %w", d.v.Dir, err)
	}
	up, err := archive.NewUploader(archive.UploaderOptions{
		Bucket:    b,
		VolumeDir: d.v.Dir,
		LogDir:    filepath.Join(d.v.Dir, volume.LogDir),
		Settings:  s,
		Segments:  d.v.Segments,
		Logf:      log.Printf,
	})
	if err != nil {
		return err
	}
	d.v.SetArchivedThrough(up.ArchivedThrough)
	d.arch = &archiver{up: up}
	log.Printf("archiving sealed segments to %s (endpoint %s)", loc, b.Endpoint())
	return nil
}

func (d *daemon) runArchive() {
	if d.arch == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.arch.cancel, d.arch.done = cancel, make(chan struct{})
	go func() {
		defer close(d.arch.done)
		_ = d.arch.up.Run(ctx) // a fatal error is logged and shown by status
	}()
}

// KeepUnarchived makes compaction of a volume opened without a daemon
// (`rewindfs compact` on an unmounted volume) keep every segment the
// archive has not confirmed, as the daemon's uploader does while mounted:
// the confirmed LSN is the one the volume's archive.json records, which is
// never ahead of the archive.
func KeepUnarchived(v *volume.Volume) {
	if v.Settings.Archive == "" {
		return
	}
	dir := v.Dir
	loc, err := archive.ParseURL(v.Settings.Archive)
	v.SetArchivedThrough(func() lsn.LSN {
		st, serr := archive.ReadState(dir)
		if err != nil || serr != nil || st.URL != loc.String() {
			return 0 // nothing confirmed for this archive: keep every segment
		}
		return st.ArchivedThrough
	})
}

// stopArchive stops the uploader; an upload in flight is abandoned (its
// object, if it landed, is found again by checksum next time).
func (d *daemon) stopArchive() {
	if d.arch == nil || d.arch.cancel == nil {
		return
	}
	d.arch.cancel()
	select {
	case <-d.arch.done:
	case <-time.After(10 * time.Second):
		log.Printf("archive: the uploader did not stop within 10s; leaving it")
	}
}

// archiveStatus fills in the archive's progress.
func (d *daemon) archiveStatus(s *volume.Status) {
	if d.arch == nil {
		return
	}
	a := d.arch.up.Status()
	s.Archive = &a
	if a.Behind {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the archive is %s behind: %d records (%d bytes) are not archived yet", time.Duration(a.LagSeconds*float64(time.Second)).Round(time.Second), a.LagLSNs, a.LagBytes))
	}
	if a.Stopped {
		s.Warnings = append(s.Warnings, "archiving stopped: "+a.Error)
	}
}
