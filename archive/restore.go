package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
	"github.com/rewindfs/rewindfs/volume"
)

// RestoreOptions say what to restore where.
type RestoreOptions struct {
	// Dir is the new volume. It must not exist, or be an empty directory;
	// its parent must exist. Nothing appears at Dir unless the restore
	// succeeds: the volume is built in a hidden sibling directory and
	// renamed into place at the end.
	Dir string
	// At is the state to restore; nil means the newest archived one.
	//
	// An LSN restores the segments through the one holding it; a time (or
	// a duration ago) those through the last one that starts at or before
	// it, which is the state the volume had at that time. If the target is
	// not the last record restored, the new volume is then rewound to it
	// (an offline rewind: a rewind record is appended, and the records
	// after the target stay in the log as an abandoned timeline). A mark
	// needs the records to be found: every segment is restored, then the
	// volume is rewound to the mark.
	At *lsn.Target
	// Now is the clock for duration targets; nil means time.Now.
	Now func() time.Time
	// Started, when set, is called once the manifest is read, with the
	// number of bytes to download; Progress then with each chunk, from
	// several goroutines at once (objects download in parallel).
	Started  func(total int64)
	Progress func(n int)
	// Branch makes the new volume a clone of the archived one
	// (`rewindfs clone s3://...`): an ID of its own, the archived volume
	// recorded as its parent with the URL and the LSN it branched at
	// (volume.BranchFrom). Without it the new volume keeps the archived
	// volume's identity.
	Branch bool
}

// RestoreReport says what Restore did.
type RestoreReport struct {
	Archive  string `json:"archive"`
	Volume   string `json:"volume"`
	VolumeID string `json:"volume_id"`
	// ParentID is the archived volume's ID when the restore made a clone
	// of it (RestoreOptions.Branch); VolumeID is then the clone's own.
	ParentID string `json:"parent_id,omitempty"`
	Manifest uint64 `json:"manifest"`
	// The base image the restore started from (none: from LSN 1).
	BaseLSN     lsn.LSN   `json:"base_lsn,omitempty"`
	BaseTime    time.Time `json:"base_time,omitzero"`
	BaseObjects int       `json:"base_objects,omitempty"`
	BaseBytes   int64     `json:"base_bytes,omitempty"`
	Segments    int       `json:"segments"`
	// Bytes is everything downloaded: the base image and the segments.
	Bytes     int64     `json:"bytes"`
	FirstLSN  lsn.LSN   `json:"first_lsn"`
	LastLSN   lsn.LSN   `json:"last_lsn"`
	Target    lsn.LSN   `json:"target_lsn"`
	TargetAt  time.Time `json:"target_time"`
	RewindLSN lsn.LSN   `json:"rewind_lsn,omitempty"` // the rewind record, if the volume was rewound to the target
	// ReusedBytes is what an earlier, interrupted restore into the same
	// place had downloaded and this one checked and kept (of Bytes).
	ReusedBytes int64   `json:"reused_bytes,omitempty"`
	Seconds     float64 `json:"seconds"`
}

// Restore makes a new volume from the archive in b: the chain of segments
// from the newest manifest (through the target, if any), each checked
// against the manifest's size and CRC-32C while it downloads, then every
// record checked (pagelog.Verify) and the state rebuilt. A gap in the
// chain is ErrGap and a bad object ErrChecksum, both naming the object;
// nothing is left at Dir after a failure.
func Restore(ctx context.Context, b Bucket, o RestoreOptions) (RestoreReport, error) {
	began := time.Now()
	if o.Now == nil {
		o.Now = time.Now
	}
	rep := RestoreReport{Archive: b.String()}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return rep, err
	}
	rep.Volume = dir
	if err := checkDestination(dir); err != nil {
		return rep, err
	}

	m, _, err := Latest(ctx, b, 0)
	if err != nil {
		return rep, err
	}
	rep.Manifest, rep.VolumeID = m.Seq, m.VolumeID
	chain, err := m.Chain()
	if err != nil {
		return rep, err
	}
	if len(chain) == 0 {
		return rep, fmt.Errorf("%w: manifest %d of %s names no segment", ErrNoArchive, m.Seq, b)
	}
	base, segs, err := selectRestore(m, chain, o.At, o.Now())
	if err != nil {
		return rep, fmt.Errorf("%s: %w", b, err)
	}
	if base != nil {
		rep.BaseLSN, rep.BaseTime, rep.BaseObjects, rep.BaseBytes = base.LSN, base.Time, len(base.Objects), base.Bytes()
		rep.Bytes += rep.BaseBytes
	}
	for _, s := range segs {
		rep.Bytes += s.Size
	}
	rep.Segments, rep.FirstLSN, rep.LastLSN = len(segs), segs[0].FirstLSN, segs[len(segs)-1].LastLSN

	// Build the volume beside its final place, so that a failure leaves
	// nothing at dir and the final rename is atomic. The work directory
	// survives an interrupted download, which the next restore into the
	// same place goes on from (work.go).
	w, err := openWork(dir)
	if err != nil {
		return rep, err
	}
	done, keep := false, false
	defer func() {
		if !done && !keep {
			_ = os.RemoveAll(w.dir)
		}
		w.unlock()
	}()

	if o.Started != nil {
		o.Started(rep.Bytes)
	}
	// Segments and the base image's objects download together; the base
	// waits in a directory of its own until the volume is made, since a
	// volume directory is made empty but for its log.
	var jobs []downloadJob
	for _, s := range segs {
		jobs = append(jobs, downloadJob{obj: s, path: filepath.Join(w.logDir(), segmentFileName(s.FirstLSN))})
	}
	if base != nil {
		jobs = append(jobs, baseJobs(base, w.baseDir())...)
	}
	jobs, rep.ReusedBytes, err = w.prepare(jobs, o.Progress)
	if err != nil {
		return rep, err
	}
	if err := downloadAll(ctx, b, m.Seq, jobs, restoreParallel, o.Progress); err != nil {
		if resumable(err) {
			keep = true
			return rep, fmt.Errorf("%w; what was downloaded is kept in %s: run the same restore again to go on from there, or remove that directory to start over", err, w.dir)
		}
		return rep, err
	}
	for _, d := range []string{w.logDir(), filepath.Join(w.baseDir(), baseimage.PagesDir), w.baseDir()} {
		if err := syncDir(d); err != nil {
			return rep, err
		}
	}
	vr, err := pagelog.Verify(w.logDir(), nil)
	if err != nil {
		return rep, fmt.Errorf("restore from %s: the segments' records do not check out: %w", b, err)
	}
	if vr.First != rep.FirstLSN || vr.Head != rep.LastLSN || vr.TornBytes > 0 {
		return rep, fmt.Errorf("%w: restore from %s: the segments hold LSNs %d..%d (%d bytes of torn tail), manifest %d says %d..%d",
			ErrChecksum, b, vr.First, vr.Head, vr.TornBytes, m.Seq, rep.FirstLSN, rep.LastLSN)
	}

	vol := w.volDir()
	settings := *m.Settings
	settings.Archive, settings.ArchiveEndpoint, settings.ArchiveCredentialsFile = "", "", ""
	if err := volume.CreateWith(vol, &settings); err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}
	if base != nil {
		if err := os.Rename(w.baseDir(), filepath.Join(vol, baseimage.Dir)); err != nil {
			return rep, fmt.Errorf("restore: %w", err)
		}
		if err := syncDir(vol); err != nil {
			return rep, err
		}
	}
	if err := settle(vol, o, &rep); err != nil {
		return rep, err
	}
	if o.Branch {
		now := time.Now()
		if o.Now != nil {
			now = o.Now()
		}
		s, err := volume.BranchFrom(vol, b.String(), rep.Target, now)
		if err != nil {
			return rep, fmt.Errorf("restore: %w", err)
		}
		rep.ParentID, rep.VolumeID = rep.VolumeID, s.VolumeID
	}

	// rename(2) itself, not os.Rename, which refuses to replace an
	// existing (empty) directory.
	if err := syscall.Rename(vol, dir); err != nil {
		return rep, fmt.Errorf("restore: move the restored volume to %s: %w", dir, err)
	}
	done = true
	_ = os.RemoveAll(w.dir) // the lock file, and an empty base directory
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return rep, err
	}
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

// checkDestination refuses a destination that exists and is not an empty
// directory, or whose parent does not exist.
func checkDestination(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(dir)); err != nil {
			return fmt.Errorf("restore: the parent of %s: %w", dir, err)
		}
		return nil
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%w: %s is not a directory", ErrNotEmpty, dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%w: %s holds %q; restore into a new or empty directory", ErrNotEmpty, dir, ents[0].Name())
	}
	return nil
}

// selectRestore chooses what a restore to at downloads: the newest base
// image at or before the target (nil: start from LSN 1, when the archive
// still has it and no base image is nearer), and the segments from the one
// that holds the record after the base through the one that holds the
// target. A mark's LSN is not known before its records are read, so a
// mark restores from the oldest state the archive has.
func selectRestore(m *Manifest, chain []Object, at *lsn.Target, now time.Time) (*Base, []Object, error) {
	var base *Base
	if m.BaseLSN > 0 {
		base = &m.Bases[0] // the oldest state there is
	}
	if at == nil || at.Kind != lsn.TargetMark {
		for i := range m.Bases {
			b := &m.Bases[i]
			switch {
			case at == nil:
			case at.Kind == lsn.TargetLSN && b.LSN > at.LSN:
				continue
			case (at.Kind == lsn.TargetTime || at.Kind == lsn.TargetAgo) && b.Time.After(targetTime(at, now)):
				continue
			}
			if m.BaseLSN == 0 || b.LSN >= m.BaseLSN {
				base = b
			}
		}
	}
	if base == nil {
		segs, err := selectSegments(chain, at, now)
		return nil, segs, err
	}
	i := 0
	for i < len(chain) && chain[i].LastLSN <= base.LSN {
		i++
	}
	if i == len(chain) {
		return nil, nil, fmt.Errorf("%w: manifest %d names no segment after the base image at LSN %d", ErrGap, m.Seq, base.LSN)
	}
	segs, err := selectFrom(chain[i:], base.LSN, base.Time, at, now)
	return base, segs, err
}

func targetTime(at *lsn.Target, now time.Time) time.Time {
	if at.Kind == lsn.TargetAgo {
		return now.Add(-at.Ago)
	}
	return at.Time
}

// selectSegments returns the prefix of chain that holds the target.
func selectSegments(chain []Object, at *lsn.Target, now time.Time) ([]Object, error) {
	return selectFrom(chain, chain[0].FirstLSN, chain[0].FirstTime, at, now)
}

// selectFrom returns the prefix of chain (at least its first segment)
// that holds the target, the oldest state restorable being state(low) at
// lowTime.
func selectFrom(chain []Object, low lsn.LSN, lowTime time.Time, at *lsn.Target, now time.Time) ([]Object, error) {
	last := chain[len(chain)-1]
	holds := fmt.Sprintf("the archive holds LSN %d (%s) to LSN %d (%s)",
		low, lowTime.Format(time.RFC3339Nano), last.LastLSN, last.LastTime.Format(time.RFC3339Nano))
	if at == nil || at.Kind == lsn.TargetMark {
		return chain, nil
	}
	switch at.Kind {
	case lsn.TargetLSN:
		if at.LSN < low || at.LSN > last.LastLSN {
			return nil, fmt.Errorf("%w: LSN %d: %s", ErrTarget, at.LSN, holds)
		}
		for i, o := range chain {
			if o.LastLSN >= at.LSN {
				return chain[:i+1], nil
			}
		}
	case lsn.TargetTime, lsn.TargetAgo:
		t := targetTime(at, now)
		if t.Before(lowTime) {
			return nil, fmt.Errorf("%w: %s is before the oldest archived state; %s", ErrTarget, t.UTC().Format(time.RFC3339Nano), holds)
		}
		if t.After(last.LastTime) {
			return nil, fmt.Errorf("%w: %s is after the last archived record, and what the volume wrote after that is not archived; %s (give --at %d for the newest archived state)",
				ErrTarget, t.UTC().Format(time.RFC3339Nano), holds, last.LastLSN)
		}
		n := 1
		for n < len(chain) && !chain[n].FirstTime.After(t) {
			n++
		}
		return chain[:n], nil
	}
	return nil, fmt.Errorf("%w: target %q", ErrTarget, at.Text)
}

// baseJobs are the downloads of the base image's objects into dir, laid out
// as a volume's base/ directory, where the volume opens them as the base
// image a fold left (the state file under baseimage.StateFileName, the
// page files sparse again). Each is checked like a segment.
func baseJobs(base *Base, dir string) []downloadJob {
	jobs := make([]downloadJob, len(base.Objects))
	for i, o := range base.Objects {
		path := filepath.Join(dir, baseimage.StateFileName(base.LSN))
		if o.Kind == KindBasePages {
			ino, _ := parseBasePagesKey(base.LSN, o.Key)
			path = filepath.Join(dir, baseimage.PagesDir, fmt.Sprintf("%016x", ino))
		}
		jobs[i] = downloadJob{obj: o, path: path, sparse: o.Kind == KindBasePages}
	}
	return jobs
}

// restoreParallel is how many objects a restore downloads at once. An
// object store answers each GET after a round trip of its own (tens of
// milliseconds to S3), and each file downloaded ends in an fsync; a few at
// a time hide both, as S3 clients do (the AWS CLI runs 10).
const restoreParallel = 4

// downloadJob is one object to download to path (sparse: see download).
type downloadJob struct {
	obj    Object
	path   string
	sparse bool
}

// downloadAll downloads the jobs, parallel at a time, and returns
// the error of the first job in the given order that failed. A failure
// skips the jobs after it that have not started (those running finish),
// and never those before it, so the error is the same however the
// downloads interleave: a restore with bad objects names the first in the
// chain. Each file is complete, checked and synced under its final name
// when downloadAll returns nil; the caller syncs the directory.
func downloadAll(ctx context.Context, b Bucket, seq uint64, jobs []downloadJob, parallel int, progress func(int)) error {
	errs := make([]error, len(jobs))
	var failed atomic.Int64 // the lowest index that failed; len(jobs) if none
	failed.Store(int64(len(jobs)))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(parallel, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				if int64(i) > failed.Load() {
					continue
				}
				j := jobs[i]
				errs[i] = ctx.Err() // a cancelled restore starts nothing more
				if errs[i] == nil {
					errs[i] = download(ctx, b, seq, j.obj, j.path, progress, j.sparse)
				}
				if errs[i] != nil {
					for f := failed.Load(); int64(i) < f && !failed.CompareAndSwap(f, int64(i)); f = failed.Load() {
					}
				}
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	if f := failed.Load(); f < int64(len(jobs)) {
		return errs[f]
	}
	return nil
}

// download copies one object to path, checking its size and CRC-32C
// against the manifest (and its own metadata) on the way.
func download(ctx context.Context, b Bucket, seq uint64, o Object, path string, progress func(int), sparse bool) error {
	where := b.String() + "/" + o.Key
	rc, info, err := b.Get(ctx, o.Key)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %s is named by manifest %d but does not exist", ErrNotFound, where, seq)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	if info.Size != o.Size {
		return fmt.Errorf("%w: %s is %d bytes, manifest %d says %d", ErrChecksum, where, info.Size, seq, o.Size)
	}
	if c := info.Meta[metaCRC32C]; c != "" && c != o.CRC32C {
		return fmt.Errorf("%w: %s: its metadata says crc32c %s, manifest %d says %s", ErrChecksum, where, c, seq, o.CRC32C)
	}
	f, err := os.OpenFile(path+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	h := crc32.New(crcTable)
	var w io.Writer = io.MultiWriter(f, h)
	if sparse {
		w = io.MultiWriter(&sparseWriter{f: f}, h)
	}
	if progress != nil {
		w = io.MultiWriter(w, progressWriter(progress))
	}
	n, err := io.Copy(w, io.LimitReader(rc, o.Size+1))
	if err != nil {
		return fmt.Errorf("restore: download %s: %w", where, err)
	}
	if n != o.Size {
		return fmt.Errorf("%w: %s: downloaded %d bytes, manifest %d says %d", ErrChecksum, where, n, seq, o.Size)
	}
	if got := formatCRC(h.Sum32()); got != o.CRC32C {
		return fmt.Errorf("%w: %s: the downloaded bytes have crc32c %s, manifest %d says %s", ErrChecksum, where, got, seq, o.CRC32C)
	}
	if sparse {
		// Holes at the end were skipped: the size makes them zeros.
		if err := f.Truncate(n); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return os.Rename(path+".tmp", path)
}

// sparseWriter writes to f at its own offset and skips every 4 KiB block
// that is all zeros, leaving a hole: a base image's page files are sparse
// on disk and read holes as zeros, and the archive stores the zeros.
type sparseWriter struct {
	f   *os.File
	off int64
}

var zeroBlock [4096]byte

func (w *sparseWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		k := min(len(b), len(zeroBlock)-int(w.off%int64(len(zeroBlock))))
		if !bytes.Equal(b[:k], zeroBlock[:k]) {
			if _, err := w.f.WriteAt(b[:k], w.off); err != nil {
				return 0, err
			}
		}
		w.off += int64(k)
		b = b[k:]
	}
	return n, nil
}

type progressWriter func(int)

func (p progressWriter) Write(b []byte) (int, error) {
	p(len(b))
	return len(b), nil
}

// settle opens the restored volume: read-only to check that its state
// rebuilds, or read-write to rewind it to the target.
func settle(dir string, o RestoreOptions, rep *RestoreReport) error {
	quiet := func(string, ...any) {}
	if o.At == nil {
		v, err := volume.Open(dir, volume.Options{ReadOnly: true, Logf: quiet})
		if err != nil {
			return fmt.Errorf("restore: the restored volume does not open: %w", err)
		}
		rep.Target = v.Head()
		rep.TargetAt = v.Status().HeadTime
		return v.Close()
	}
	v, err := volume.Open(dir, volume.Options{Purpose: "restore", Now: o.Now, Logf: quiet})
	if err != nil {
		return fmt.Errorf("restore: the restored volume does not open: %w", err)
	}
	target, err := v.Resolve(*o.At)
	if err != nil {
		v.Close()
		return fmt.Errorf("restore --at %s: %w", o.At.Text, err)
	}
	rep.Target = target
	if target == v.Head() {
		rep.TargetAt = v.Status().HeadTime
	} else {
		plan, _, err := v.Rewind(target)
		if err != nil {
			v.Close()
			return fmt.Errorf("restore: rewind to LSN %d: %w", target, err)
		}
		rep.RewindLSN, rep.TargetAt = plan.RewindLSN, plan.ToTime
	}
	return v.Close()
}
