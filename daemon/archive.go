package daemon

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"time"

	"github.com/rewindfs/rewindfs/archive"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
	"github.com/rewindfs/rewindfs/volume"
)

// archiver is the archive's uploader running beside a read-write mount.
type archiver struct {
	up       *archive.Uploader
	settings volume.Settings // the copy the uploader was made with
	interval time.Duration   // seal the active segment when its oldest record is this old
	cancel   context.CancelFunc
	done     chan struct{}
}

// sameArchive says whether two settings name the same archive reached the
// same way (a reload that changes none of these keeps the uploader).
func sameArchive(a, b *volume.Settings) bool {
	return a.Archive == b.Archive && a.ArchiveEndpoint == b.ArchiveEndpoint && a.ArchiveCredentialsFile == b.ArchiveCredentialsFile &&
		a.ArchiveWindow == b.ArchiveWindow && a.ArchiveBaseEveryBytes == b.ArchiveBaseEveryBytes && a.ArchiveBaseEvery == b.ArchiveBaseEvery
}

// newArchiver makes the uploader for the archive s names (nil if none). A
// setting that cannot work (a bad URL, no credentials) is an error; a store
// that does not answer is not: the uploader retries in the background and
// status shows the lag.
func (d *daemon) newArchiver(s volume.Settings) (*archiver, error) {
	if s.Archive == "" || d.v.ReadOnly() {
		return nil, nil
	}
	loc, err := archive.ParseURL(s.Archive)
	if err != nil {
		return nil, fmt.Errorf("archive of %s: %w", d.v.Dir, err)
	}
	b, err := archive.Connect(loc, archive.Config{Endpoint: s.ArchiveEndpoint, CredentialsFile: s.ArchiveCredentialsFile})
	if err != nil {
		return nil, fmt.Errorf("archive of %s: %w", d.v.Dir, err)
	}
	a := &archiver{settings: s, interval: s.ArchiveIntervalDuration()}
	baseBytes, baseEvery := s.ArchiveBaseInterval()
	// The uploader keeps its own copy of the settings: the volume's may
	// change under it on a reload.
	a.up, err = archive.NewUploader(archive.UploaderOptions{
		Bucket:    b,
		VolumeDir: d.v.Dir,
		LogDir:    filepath.Join(d.v.Dir, volume.LogDir),
		Settings:  &a.settings,
		Segments:  d.v.Segments,
		Logf:      log.Printf,
		// Base images and archive retention: see archivebase.go.
		BaseEveryBytes: baseBytes,
		BaseEvery:      baseEvery,
		Window:         s.ArchiveWindowDuration(),
		KeptMarks:      d.keptMarks,
	})
	if err != nil {
		return nil, err
	}
	log.Printf("archiving sealed segments to %s (endpoint %s), sealing the active segment after %s", loc, b.Endpoint(), a.interval)
	return a, nil
}

// prepareArchive makes the uploader when the volume has an archive;
// runArchive starts it once the mount serves. A setting that cannot work
// stops the mount, since nobody would notice it later. Compaction is told
// what the archive has confirmed before anything else runs, so it never
// deletes an unarchived segment.
func (d *daemon) prepareArchive() error {
	a, err := d.newArchiver(d.v.ArchiveSettings())
	if err != nil || a == nil {
		return err
	}
	d.v.SetArchivedThrough(a.up.ArchivedThrough)
	d.archMu.Lock()
	d.arch = a
	d.archMu.Unlock()
	return nil
}

func (d *daemon) runArchive() {
	d.archMu.Lock()
	defer d.archMu.Unlock()
	d.startLocked(d.arch)
}

// startLocked runs a's uploader; the caller holds archMu.
func (d *daemon) startLocked(a *archiver) {
	if a == nil || a.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan struct{})
	go func() {
		defer close(a.done)
		_ = a.up.Run(ctx) // a fatal error is logged and shown by status
	}()
}

// reloadArchive takes up changed archive settings (`rewindfs config
// --archive`): the old uploader stops, a new one starts. Nothing in any
// archive is deleted by this. Turning the archive off releases the local
// segments that were kept for it to compaction; switching to another
// archive keeps every segment until the new one confirms it.
func (d *daemon) reloadArchive(s *volume.Settings) error {
	d.archMu.Lock()
	defer d.archMu.Unlock()
	cur := d.v.ArchiveSettings()
	if sameArchive(&cur, s) && (d.arch == nil) == (s.Archive == "") {
		d.v.SetArchiveSettings(s)
		if d.arch != nil && d.arch.interval != s.ArchiveIntervalDuration() {
			d.arch.interval = s.ArchiveIntervalDuration()
			log.Printf("archive interval changed to %s", d.arch.interval)
		}
		return nil
	}
	next := cur
	next.Archive, next.ArchiveEndpoint, next.ArchiveCredentialsFile, next.ArchiveInterval = s.Archive, s.ArchiveEndpoint, s.ArchiveCredentialsFile, s.ArchiveInterval
	next.ArchiveWindow, next.ArchiveBaseEveryBytes, next.ArchiveBaseEvery = s.ArchiveWindow, s.ArchiveBaseEveryBytes, s.ArchiveBaseEvery
	a, err := d.newArchiver(next)
	if err != nil {
		return err
	}
	// From here on the new archive decides what compaction may delete:
	// it starts at what archive.json says it confirmed (0 for a new one).
	if a != nil {
		d.v.SetArchivedThrough(a.up.ArchivedThrough)
	} else {
		d.v.SetArchivedThrough(nil)
	}
	d.stopLocked(d.arch)
	d.arch = a
	d.v.SetArchiveSettings(s)
	if a == nil {
		log.Printf("archive turned off: nothing is uploaded any more; the archive's objects stay where they are")
		return nil
	}
	d.startLocked(a)
	return nil
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
	d.archMu.Lock()
	defer d.archMu.Unlock()
	d.stopLocked(d.arch)
}

func (d *daemon) stopLocked(a *archiver) {
	if a == nil || a.cancel == nil {
		return
	}
	a.cancel()
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		log.Printf("archive: the uploader did not stop within 10s; leaving it")
	}
}

func (d *daemon) currentArchiver() *archiver {
	d.archMu.Lock()
	defer d.archMu.Unlock()
	return d.arch
}

// sealEvery seals the active segment when it holds a record that is older
// than the archive interval and not archived, so that a quiet volume's
// newest records reach the archive within about the interval instead of
// when the segment fills. It looks at the log's segment table in memory
// only; a volume with nothing new seals nothing, makes no segment and
// sends no request.
func (d *daemon) sealEvery(period time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	every(period, stop, done, func() {
		a := d.currentArchiver()
		if a == nil {
			return
		}
		d.archMu.Lock()
		interval := a.interval
		d.archMu.Unlock()
		if !dueForSeal(d.v.Segments(), a.up.ArchivedThrough(), interval, time.Now()) {
			return
		}
		sealed, err := d.v.SealActive()
		if err != nil {
			if !errors.Is(err, pagelog.ErrClosed) {
				log.Printf("archive: seal the active segment: %v", err)
			}
			return
		}
		if sealed {
			a.up.Kick()
		}
	})
}

// dueForSeal says whether the active segment (the last one) holds a record
// that is not archived and older than interval.
func dueForSeal(segs []pagelog.SegmentInfo, archived lsn.LSN, interval time.Duration, now time.Time) bool {
	if len(segs) == 0 {
		return false
	}
	s := segs[len(segs)-1]
	if s.LastLSN < s.FirstLSN || s.LastLSN <= archived {
		return false
	}
	return now.Sub(time.Unix(0, s.FirstTime)) >= interval
}

// archiveStatus fills in the archive's progress.
func (d *daemon) archiveStatus(s *volume.Status) {
	a0 := d.currentArchiver()
	if a0 == nil {
		return
	}
	a := a0.up.Status()
	s.Archive = &a
	if a.Behind {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the archive is %s behind: %d records (%d bytes) are not archived yet", time.Duration(a.LagSeconds*float64(time.Second)).Round(time.Second), a.LagLSNs, a.LagBytes))
	}
	if a.Stopped {
		s.Warnings = append(s.Warnings, "archiving stopped: "+a.Error)
	}
	// The documented choice when the disk cap is reached while the archive
	// is behind: the mount keeps serving and the log grows past the cap,
	// since the segments the archive has not confirmed are the only copy
	// of that history; status and the metrics say by how much.
	if s.MaxLogBytes > 0 && s.LogBytes > s.MaxLogBytes && a.LagBytes > 0 {
		s.Archive.OverCapBytes = s.LogBytes - s.MaxLogBytes
		s.Warnings = append(s.Warnings, fmt.Sprintf("the log is %d bytes, %d over its cap (max_log_bytes %d), because %d bytes (%d records) are not archived yet: they stay on disk until the archive confirms them",
			s.LogBytes, s.Archive.OverCapBytes, s.MaxLogBytes, a.LagBytes, a.LagLSNs))
	}
}
