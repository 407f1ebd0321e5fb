package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewindfs/rewindfs/internal/pagecache"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
	"github.com/rewindfs/rewindfs/volume"
)

// Defaults of UploaderOptions.
const (
	DefaultPoll     = 2 * time.Second
	DefaultParallel = 4
	DefaultMaxBatch = 64
	DefaultWarnLag  = 15 * time.Minute
)

// Backoff is how long the uploader waits after a failure: Min, doubling
// with every further failure up to Max, with ±20% jitter so that many
// volumes do not retry in step.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff is 1 s, 2 s, 4 s, ... up to a minute.
var DefaultBackoff = Backoff{Min: time.Second, Max: time.Minute}

func (b Backoff) after(failures int) time.Duration {
	d := b.Min
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// UploaderOptions configure an Uploader.
type UploaderOptions struct {
	// Bucket is where the archive lives.
	Bucket Bucket
	// VolumeDir is the volume's directory (archive.json is kept there);
	// LogDir the directory of its segment files.
	VolumeDir string
	LogDir    string
	// Settings are the volume's; their identity goes into every manifest.
	Settings *volume.Settings
	// Segments describes the log's segment files in LSN order, the last
	// being the one appended to (pagelog.Log.Segments). It is called from
	// the uploader's goroutine and must be safe for concurrent use.
	Segments func() []pagelog.SegmentInfo

	// Poll is how often the uploader looks for newly sealed segments when
	// it is idle; a look reads memory only and sends no request.
	Poll time.Duration
	// Backoff paces retries while the store fails.
	Backoff Backoff
	// Parallel is how many segments go up at once; MaxBatch how many one
	// manifest adds at most (a long backlog gets a manifest per batch, so
	// ArchivedThrough moves on).
	Parallel int
	MaxBatch int
	// WarnLag is the age of the oldest unarchived record past which status
	// says the archive is behind.
	WarnLag time.Duration

	// BaseEveryBytes and BaseEvery say when a base image is uploaded:
	// after that many bytes of segments were archived since the newest
	// archived base image, or that long after it, whichever comes first
	// (zero: DefaultBaseEveryBytes, DefaultBaseEvery; negative: never by
	// that measure). Only a base image newer than the archive's newest is
	// uploaded, so the local window also paces them (see base.go).
	BaseEveryBytes int64
	BaseEvery      time.Duration
	// BaseUploadTimeout bounds one base image upload, and so how long it
	// holds compaction back; zero means DefaultBaseUploadTimeout.
	BaseUploadTimeout time.Duration
	// Window is the archive's retention (see retention.go); zero keeps
	// everything for ever.
	Window time.Duration
	// KeptMarks returns the LSNs of the volume's kept marks, which
	// retention keeps restorable; nil means none.
	KeptMarks func() []lsn.LSN
	// Now is the clock; Logf where the uploader reports.
	Now  func() time.Time
	Logf func(format string, args ...any)
}

// Uploader archives a volume's sealed segments in the background. Start it
// with Run; it never touches the log's files except to read sealed ones.
type Uploader struct {
	o        UploaderOptions
	volumeID string
	kick     chan struct{}

	archivedThrough atomic.Uint64

	mu              sync.Mutex
	synced          bool         // m and ref reflect the archive
	m               *Manifest    // newest manifest, nil if none
	ref             *ManifestRef // where m is
	failures        int
	lastErr         error
	stopped         error // a fatal error ended Run
	lastUpload      time.Time
	uploadedObjects int64
	uploadedBytes   int64
	pendingDeletes  []string // keys the newest manifest dropped, not yet deleted
	deletedObjects  int64
}

// NewUploader checks the options and makes an Uploader; Run starts it.
func NewUploader(o UploaderOptions) (*Uploader, error) {
	if o.Bucket == nil || o.Settings == nil || o.Segments == nil || o.LogDir == "" || o.VolumeDir == "" {
		return nil, errors.New("archive: NewUploader: Bucket, Settings, Segments, LogDir and VolumeDir are required")
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Backoff.Min <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.WarnLag <= 0 {
		o.WarnLag = DefaultWarnLag
	}
	if o.BaseEveryBytes == 0 {
		o.BaseEveryBytes = DefaultBaseEveryBytes
	}
	if o.BaseEvery == 0 {
		o.BaseEvery = DefaultBaseEvery
	}
	if o.BaseUploadTimeout <= 0 {
		o.BaseUploadTimeout = DefaultBaseUploadTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	u := &Uploader{o: o, volumeID: o.Settings.VolumeID, kick: make(chan struct{}, 1)}
	// Until the archive answers, what the volume last recorded is the
	// best (and a safe, never too high) guess.
	if st, err := ReadState(o.VolumeDir); err == nil && st.URL == o.Bucket.String() {
		u.archivedThrough.Store(uint64(st.ArchivedThrough))
	}
	return u, nil
}

// ArchivedThrough returns the last LSN a manifest has confirmed: every
// record up to it is archived. Compaction must not delete a segment whose
// last LSN is above it.
func (u *Uploader) ArchivedThrough() lsn.LSN { return lsn.LSN(u.archivedThrough.Load()) }

// Kick makes an idle uploader look for sealed segments now.
func (u *Uploader) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// Run archives until ctx is done or a fatal error (ErrConflict,
// ErrOtherVolume, ErrNeedBase, ErrManifest) stops it; it returns that
// error, or nil when ctx ended. Failures of the store are retried with
// backoff for ever: they never reach the file system.
func (u *Uploader) Run(ctx context.Context) error {
	for {
		more, err := u.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if fatal(err) {
				u.mu.Lock()
				u.stopped, u.lastErr = err, err
				u.mu.Unlock()
				u.o.Logf("archive: stopped: %v", err)
				return err
			}
			u.mu.Lock()
			u.failures++
			n := u.failures
			changed := u.lastErr == nil || u.lastErr.Error() != err.Error()
			u.lastErr = err
			u.mu.Unlock()
			wait := u.o.Backoff.after(n)
			if changed || n%10 == 0 {
				u.o.Logf("archive: %v (failure %d; retrying in %s)", err, n, wait.Round(time.Millisecond))
			}
			if !sleep(ctx, wait, nil) {
				return nil
			}
			continue
		}
		u.mu.Lock()
		if u.failures > 0 {
			u.o.Logf("archive: %s answers again after %d failure(s)", u.o.Bucket, u.failures)
		}
		u.failures, u.lastErr = 0, nil
		u.mu.Unlock()
		if more {
			continue
		}
		if !sleep(ctx, u.o.Poll, u.kick) {
			return nil
		}
	}
}

func fatal(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrOtherVolume) || errors.Is(err, ErrNeedBase) || errors.Is(err, ErrManifest)
}

// sleep waits d, or until kick; false if ctx ended.
func sleep(ctx context.Context, d time.Duration, kick <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-kick:
	}
	return true
}

// step reads the archive's state if it is not known, else uploads one
// batch. more says another batch is waiting.
func (u *Uploader) step(ctx context.Context) (more bool, err error) {
	u.mu.Lock()
	synced := u.synced
	u.mu.Unlock()
	if !synced {
		return true, u.sync(ctx)
	}
	if more, err = u.pass(ctx); err != nil || more {
		return more, err
	}
	return false, u.housekeep(ctx)
}

// sync finds the newest manifest and checks that it belongs to this
// volume and does not run ahead of it.
func (u *Uploader) sync(ctx context.Context) error {
	var hint uint64
	var pending []string
	if st, err := ReadState(u.o.VolumeDir); err == nil && st.URL == u.o.Bucket.String() && st.Manifest != nil {
		hint, pending = st.Manifest.Seq, st.PendingDeletes
	}
	seq, err := FindLatest(ctx, u.o.Bucket, hint)
	if err != nil {
		return err
	}
	var m *Manifest
	var ref *ManifestRef
	if seq > 0 {
		mm, r, err := ReadManifest(ctx, u.o.Bucket, seq)
		if err != nil {
			return err
		}
		if mm.VolumeID != u.volumeID {
			return fmt.Errorf("%w: %s holds the archive of volume %s, this is volume %s; give each volume its own prefix",
				ErrOtherVolume, u.o.Bucket, mm.VolumeID, u.volumeID)
		}
		if err := u.checkAgainstLocal(mm); err != nil {
			return err
		}
		m, ref = mm, &r
		if seq > 1 {
			// A crash may have come after manifest seq and before the
			// state file recorded what it dropped: find that again.
			prev, _, err := ReadManifest(ctx, u.o.Bucket, seq-1)
			if err != nil {
				return err
			}
			pending = mergeKeys(pending, droppedKeys(prev, mm))
		}
	}
	u.mu.Lock()
	u.m, u.ref, u.synced = m, ref, true
	u.pendingDeletes = pending
	u.mu.Unlock()
	through := lsn.LSN(0)
	if m != nil {
		through = m.ArchivedThrough
	}
	u.archivedThrough.Store(uint64(through))
	if m != nil {
		if err := writeState(u.o.VolumeDir, State{URL: u.o.Bucket.String(), Manifest: ref, ArchivedThrough: through, PendingDeletes: pending}); err != nil {
			u.o.Logf("archive: %v", err)
		}
		u.o.Logf("archive: %s: manifest %d confirms LSNs through %d", u.o.Bucket, m.Seq, through)
	} else {
		u.o.Logf("archive: %s is empty; archiving from the start", u.o.Bucket)
	}
	return nil
}

// checkAgainstLocal refuses an archive that is ahead of the volume or
// names a segment the volume has with other LSNs: both mean another writer.
func (u *Uploader) checkAgainstLocal(m *Manifest) error {
	segs := u.o.Segments()
	var head lsn.LSN
	if len(segs) > 0 {
		head = segs[len(segs)-1].LastLSN
	}
	if m.ArchivedThrough > head {
		return fmt.Errorf("%w: manifest %d of %s archives LSNs through %d, but this volume's head is LSN %d: the archive is ahead of the volume (a copy of it?)",
			ErrConflict, m.Seq, u.o.Bucket, m.ArchivedThrough, head)
	}
	byFirst := make(map[lsn.LSN]Object, len(m.Objects))
	for _, o := range m.Objects {
		byFirst[o.FirstLSN] = o
	}
	for i, s := range segs {
		o, ok := byFirst[s.FirstLSN]
		if !ok {
			continue
		}
		if i == len(segs)-1 || o.LastLSN != s.LastLSN {
			return fmt.Errorf("%w: %s names %s with LSNs %d..%d, but this volume's segment %s holds %d..%d",
				ErrConflict, u.o.Bucket, o.Key, o.FirstLSN, o.LastLSN, s.Name, s.FirstLSN, s.LastLSN)
		}
	}
	return nil
}

// pass uploads the sealed segments past ArchivedThrough (at most MaxBatch)
// and writes the manifest that names them.
func (u *Uploader) pass(ctx context.Context) (more bool, err error) {
	at := u.ArchivedThrough()
	segs := u.o.Segments()
	if len(segs) < 2 {
		return false, nil
	}
	var pending []pagelog.SegmentInfo
	for _, s := range segs[:len(segs)-1] { // the last one is still appended to
		if s.LastLSN > at && s.LastLSN >= s.FirstLSN {
			pending = append(pending, s)
		}
	}
	if len(pending) == 0 {
		return false, nil
	}
	u.mu.Lock()
	base := lsn.LSN(0)
	if u.m != nil {
		base = u.m.BaseLSN
	}
	u.mu.Unlock()
	if at == 0 && base == 0 && pending[0].FirstLSN > 1 {
		// An empty archive, and records 1.. are no longer on disk (the
		// volume ran longer than its window before it was given an
		// archive): the archive begins with the volume's base image.
		return false, u.startFromBase(ctx, pending)
	}
	// The first segment after a base image may begin before it (segments
	// are cut where the log was, not where the base is).
	if first := pending[0].FirstLSN; first > at+1 || (first < at+1 && at != base) {
		return false, fmt.Errorf("%w: the archive ends at LSN %d, but the volume's next segment %s starts at LSN %d",
			ErrNeedBase, at, pending[0].Name, pending[0].FirstLSN)
	}
	if len(pending) > u.o.MaxBatch {
		pending, more = pending[:u.o.MaxBatch], true
	}

	start := u.o.Now()
	objs, err := u.uploadAll(ctx, pending)
	if err != nil {
		return false, err
	}
	ref, err := u.writeManifest(ctx, objs)
	if err != nil {
		return false, err
	}
	var total int64
	for _, o := range objs {
		total += o.Size
	}
	u.o.Logf("archive: manifest %d: %d segment(s), %d bytes, LSNs %d..%d, in %s",
		ref.Seq, len(objs), total, objs[0].FirstLSN, objs[len(objs)-1].LastLSN, u.o.Now().Sub(start).Round(time.Millisecond))
	return more, nil
}

// uploadAll uploads segments, Parallel at a time, and returns their
// objects in LSN order. The first error cancels the rest.
func (u *Uploader) uploadAll(ctx context.Context, segs []pagelog.SegmentInfo) ([]Object, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objs := make([]Object, len(segs))
	errs := make([]error, len(segs))
	sem := make(chan struct{}, u.o.Parallel)
	var wg sync.WaitGroup
	for i, s := range segs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			objs[i], errs[i] = u.uploadSegment(ctx, s)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// The first failure in LSN order that is not a consequence of the
	// cancel, else any.
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
		if err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return objs, nil
}

// uploadSegment uploads one sealed segment unless the archive already has
// it with the same checksum.
func (u *Uploader) uploadSegment(ctx context.Context, s pagelog.SegmentInfo) (Object, error) {
	f, err := os.Open(filepath.Join(u.o.LogDir, s.Name))
	if err != nil {
		return Object{}, fmt.Errorf("archive: open segment %s: %w", s.Name, err)
	}
	defer f.Close()
	// Read twice here and then not for a long time, if ever: what stays
	// in the page cache would push the database's pages out.
	defer pagecache.Drop(f)
	if fi, err := f.Stat(); err != nil || fi.Size() < s.Size {
		return Object{}, fmt.Errorf("archive: segment %s is shorter than its %d bytes of records (%v)", s.Name, s.Size, err)
	}
	body := io.NewSectionReader(f, 0, s.Size)
	h := crc32.New(crcTable)
	if _, err := io.Copy(h, body); err != nil {
		return Object{}, fmt.Errorf("archive: read segment %s: %w", s.Name, err)
	}
	obj := Object{
		Kind:      KindSegment,
		Key:       SegmentKey(s.FirstLSN),
		FirstLSN:  s.FirstLSN,
		LastLSN:   s.LastLSN,
		FirstTime: time.Unix(0, s.FirstTime).UTC(),
		LastTime:  time.Unix(0, s.LastTime).UTC(),
		Size:      s.Size,
		CRC32C:    formatCRC(h.Sum32()),
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return Object{}, err
	}
	if err := u.put(ctx, obj, body); err != nil {
		return Object{}, err
	}
	return obj, nil
}

// put uploads obj (size and checksum known) from body, never over an
// existing object: one already there with the same checksum was uploaded
// by a run that stopped before its manifest and is success; a different
// one is ErrConflict (sameObject).
func (u *Uploader) put(ctx context.Context, obj Object, body io.ReadSeeker) error {
	err := u.o.Bucket.PutIfAbsent(ctx, obj.Key, body, obj.Size, objectMeta(obj, u.volumeID))
	if errors.Is(err, ErrExists) {
		if err := u.sameObject(ctx, obj); err != nil {
			return err
		}
		u.o.Logf("archive: %s was already uploaded (by a run that stopped before its manifest); same checksum, kept", obj.Key)
		return nil
	}
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.lastUpload = u.o.Now()
	u.uploadedObjects++
	u.uploadedBytes += obj.Size
	u.mu.Unlock()
	return nil
}

// sameObject checks that the object already at obj.Key is obj: same size
// and checksum (from its metadata, or from its bytes if it has none).
func (u *Uploader) sameObject(ctx context.Context, obj Object) error {
	info, err := u.o.Bucket.Stat(ctx, obj.Key)
	if err != nil {
		return err
	}
	crc := info.Meta[metaCRC32C]
	if crc == "" && info.Size == obj.Size {
		rc, _, err := u.o.Bucket.Get(ctx, obj.Key)
		if err != nil {
			return err
		}
		h := crc32.New(crcTable)
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("archive: read %s/%s: %w", u.o.Bucket, obj.Key, err)
		}
		crc = formatCRC(h.Sum32())
	}
	if info.Size != obj.Size || crc != obj.CRC32C {
		return fmt.Errorf("%w: %s/%s exists with %d bytes and crc32c %s, but this volume's segment has %d bytes and crc32c %s; another volume or a diverged copy archives to this prefix",
			ErrConflict, u.o.Bucket, obj.Key, info.Size, crc, obj.Size, obj.CRC32C)
	}
	return nil
}

// objectMeta is the metadata every archived object carries.
func objectMeta(o Object, volumeID string) map[string]string {
	return map[string]string{
		metaKind:      o.Kind,
		metaVolume:    volumeID,
		metaFirstLSN:  o.FirstLSN.String(),
		metaLastLSN:   o.LastLSN.String(),
		metaFirstTime: o.FirstTime.Format(time.RFC3339Nano),
		metaLastTime:  o.LastTime.Format(time.RFC3339Nano),
		metaSize:      strconv.FormatInt(o.Size, 10),
		metaCRC32C:    o.CRC32C,
	}
}

// writeManifest writes the manifest that adds objs to the newest one, then
// the volume's archive.json.
func (u *Uploader) writeManifest(ctx context.Context, objs []Object) (ManifestRef, error) {
	u.mu.Lock()
	prev := u.m
	u.mu.Unlock()
	m := &Manifest{}
	if prev != nil {
		*m = *prev
		m.Objects = append([]Object(nil), prev.Objects...)
	}
	m.Objects = append(m.Objects, objs...)
	m.ArchivedThrough = objs[len(objs)-1].LastLSN
	return u.publish(ctx, m, nil)
}

// publish writes m, which names what the next manifest names, as the
// manifest after the newest one (it sets the number, the link to the
// previous one and the identity), then the volume's archive.json, which
// also records dropped: the keys m no longer names, deleted afterwards.
func (u *Uploader) publish(ctx context.Context, m *Manifest, dropped []string) (ManifestRef, error) {
	u.mu.Lock()
	prev, prevRef := u.m, u.ref
	u.mu.Unlock()
	settings := *u.o.Settings
	settings.Archive, settings.ArchiveEndpoint, settings.ArchiveCredentialsFile = "", "", ""
	m.Format, m.Version, m.Seq, m.Previous = manifestFormat, manifestVersionSegments, 1, nil
	if len(m.Bases) > 0 {
		m.Version = manifestVersion
	}
	m.VolumeID, m.Created, m.Settings = u.volumeID, u.o.Now().UTC(), &settings
	if prev != nil {
		m.Seq = prev.Seq + 1
		r := *prevRef
		m.Previous = &r
	}
	data, err := m.Encode()
	if err != nil {
		return ManifestRef{}, err
	}
	ref := ManifestRef{Seq: m.Seq, Key: ManifestKey(m.Seq), Size: int64(len(data)), CRC32C: Checksum(data)}
	meta := map[string]string{metaKind: "manifest", metaVolume: u.volumeID, metaSize: strconv.Itoa(len(data)), metaCRC32C: ref.CRC32C}
	err = u.o.Bucket.PutIfAbsent(ctx, ref.Key, bytes.NewReader(data), int64(len(data)), meta)
	if errors.Is(err, ErrExists) {
		// Someone wrote this number since we read the archive: read it
		// again before going on (the objects just uploaded are found
		// again by checksum on the next pass).
		u.mu.Lock()
		u.synced = false
		u.mu.Unlock()
		return ManifestRef{}, fmt.Errorf("archive: %s/%s appeared while this volume was archiving; reading the archive again", u.o.Bucket, ref.Key)
	}
	if err != nil {
		return ManifestRef{}, err
	}
	// The manifest is in the archive: record it in the volume, then let
	// compaction know.
	u.mu.Lock()
	named := namedKeys(m)
	var pending []string
	for _, k := range mergeKeys(u.pendingDeletes, dropped) {
		if !named[k] { // a base image that was pending until m took it in
			pending = append(pending, k)
		}
	}
	u.mu.Unlock()
	if err := writeState(u.o.VolumeDir, State{URL: u.o.Bucket.String(), Manifest: &ref, ArchivedThrough: m.ArchivedThrough, PendingDeletes: pending}); err != nil {
		u.o.Logf("archive: %v", err)
	}
	u.mu.Lock()
	u.m, u.ref, u.pendingDeletes = m, &ref, pending
	u.mu.Unlock()
	u.archivedThrough.Store(uint64(m.ArchivedThrough))
	return ref, nil
}

// mergeKeys returns a with the keys of b it does not have yet.
func mergeKeys(a, b []string) []string {
	have := make(map[string]bool, len(a))
	out := append([]string(nil), a...)
	for _, k := range a {
		have[k] = true
	}
	for _, k := range b {
		if !have[k] {
			have[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Status reports the uploader's progress and how far the archive lags
// behind the log.
func (u *Uploader) Status() volume.ArchiveStatus {
	at := u.ArchivedThrough()
	now := u.o.Now()
	s := volume.ArchiveStatus{URL: u.o.Bucket.String(), ArchivedThroughLSN: at}
	if e, ok := u.o.Bucket.(interface{ Endpoint() string }); ok {
		s.Endpoint = e.Endpoint()
	}
	if r, ok := u.o.Bucket.(interface{ Requests() int64 }); ok {
		s.Requests = r.Requests()
	}
	var head lsn.LSN
	var oldest int64
	for _, seg := range u.o.Segments() {
		if seg.LastLSN < seg.FirstLSN {
			continue // empty
		}
		head = seg.LastLSN
		if seg.LastLSN == at {
			s.ArchivedThroughTime = time.Unix(0, seg.LastTime).UTC()
		}
		if seg.LastLSN > at {
			s.LagBytes += seg.Size
			if oldest == 0 {
				oldest = seg.FirstTime
			}
		}
	}
	if head > at {
		s.LagLSNs = uint64(head - at)
		s.LagSeconds = max(0, now.Sub(time.Unix(0, oldest)).Seconds())
		s.Behind = s.LagSeconds > u.o.WarnLag.Seconds()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m != nil {
		s.Manifest = u.m.Seq
		r, _ := u.m.Restorable()
		s.RestorableFromLSN, s.RestorableFromTime = r.FirstLSN, r.FirstTime
		s.Bases = r.Bases
		if b, ok := u.m.NewestBase(); ok {
			s.NewestBaseLSN, s.NewestBaseTime, s.NewestBaseUploaded = b.LSN, b.Time, b.Uploaded
		}
	}
	s.Window = u.o.Window.String()
	if u.o.Window == 0 {
		s.Window = "forever"
	}
	s.PendingDeletes, s.DeletedObjects = len(u.pendingDeletes), u.deletedObjects
	s.LastUpload = u.lastUpload
	s.UploadedObjects, s.UploadedBytes = u.uploadedObjects, u.uploadedBytes
	s.Failures = u.failures
	if u.lastErr != nil {
		s.Error = u.lastErr.Error()
	}
	s.Stopped = u.stopped != nil
	return s
}
