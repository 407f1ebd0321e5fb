package archive

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rewindfs/rewindfs/baseimage"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// Base images in the archive
//
// The local base image is not immutable: each fold rewrites its page files
// in place. To upload a consistent one, the uploader pins it the way a
// read-only view does (baseimage.RegisterView at the base LSN, registered
// under LockFolds shared, and only when no fold record is left over):
// compaction then folds nothing past the base until the pin goes. A fold
// is never blocked waiting on the store; it is held back (status names the
// upload) for at most BaseUploadTimeout, after which the upload is
// abandoned, the pin released, and the upload tried again later. The
// objects are immutable copies: base/<LSN>/state and base/<LSN>/pages/<ino>.
// Each file is streamed from disk twice (once for its CRC-32C, once to the
// store), never held in memory.

// Defaults of UploaderOptions for base images.
const (
	DefaultBaseEveryBytes    = 1 << 30
	DefaultBaseEvery         = 24 * time.Hour
	DefaultBaseUploadTimeout = 30 * time.Minute
)

// These names are part of the archive format and must not be changed.
const baseDir = "base"

// BaseStateKey is the key of the state file of the base image at l.
func BaseStateKey(l lsn.LSN) string {
	return fmt.Sprintf("%s/%016x/state", baseDir, uint64(l))
}

// BasePagesKey is the key of inode ino's page file in the base image at l.
func BasePagesKey(l lsn.LSN, ino uint64) string {
	return fmt.Sprintf("%s/%016x/pages/%016x", baseDir, uint64(l), ino)
}

func parseBasePagesKey(l lsn.LSN, key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, fmt.Sprintf("%s/%016x/pages/", baseDir, uint64(l)))
	if !ok || len(rest) != 16 {
		return 0, false
	}
	ino, err := strconv.ParseUint(rest, 16, 64)
	return ino, err == nil
}

// baseDue says whether the archive wants a new base image: BaseEveryBytes
// of segments archived since the newest one, or BaseEvery since it was
// uploaded (since the first archived record when there is none).
func (u *Uploader) baseDue(m *Manifest) bool {
	if m == nil || len(m.Objects) == 0 || (u.o.BaseEveryBytes < 0 && u.o.BaseEvery < 0) {
		return false
	}
	since := m.Objects[0].FirstTime
	var after lsn.LSN
	if b, ok := m.NewestBase(); ok {
		since, after = b.Uploaded, b.LSN
	}
	var bytes int64
	for _, o := range m.Objects {
		if o.LastLSN > after {
			bytes += o.Size
		}
	}
	return (u.o.BaseEveryBytes >= 0 && bytes >= u.o.BaseEveryBytes) ||
		(u.o.BaseEvery >= 0 && u.o.Now().Sub(since) >= u.o.BaseEvery)
}

// pinBase finds the volume's committed base image and pins it against
// folds. It returns a nil pin when there is nothing new to upload: no base
// yet, not newer than the archive's newest, not yet followed by an
// archived record, or a fold half done.
func (u *Uploader) pinBase(m *Manifest) (*baseimage.Pin, localBase, error) {
	unlock, err := baseimage.LockFolds(u.o.VolumeDir, false)
	if err != nil {
		return nil, localBase{}, err
	}
	defer unlock()
	var lb localBase
	lb.lsn, lb.time, lb.statePath, lb.pages, err = baseimage.Files(u.o.VolumeDir)
	if errors.Is(err, baseimage.ErrFolding) {
		return nil, lb, nil // the fold is retried by compaction; so are we
	}
	if err != nil {
		return nil, lb, fmt.Errorf("archive: base image: %w", err)
	}
	newest := lsn.LSN(0)
	if b, ok := m.NewestBase(); ok {
		newest = b.LSN
	}
	// A base image is only useful with the record after it archived: the
	// manifest's chain must continue it.
	if lb.lsn == 0 || lb.lsn <= newest || lb.lsn >= m.ArchivedThrough || lb.lsn < m.BaseLSN {
		return nil, lb, nil
	}
	pin, err := baseimage.RegisterView(u.o.VolumeDir, lb.lsn, fmt.Sprintf("archive upload of the base image at LSN %d", lb.lsn))
	if err != nil {
		return nil, lb, fmt.Errorf("archive: pin the base image: %w", err)
	}
	return pin, lb, nil
}

type localBase struct {
	lsn       lsn.LSN
	time      int64
	statePath string
	pages     []baseimage.PageFile
}

// uploadBase uploads the volume's base image if one is due and new, and
// returns it (nil if nothing was uploaded). The manifest that names it is
// the caller's.
func (u *Uploader) uploadBase(ctx context.Context, m *Manifest) (*Base, error) {
	if !u.baseDue(m) {
		return nil, nil
	}
	pin, lb, err := u.pinBase(m)
	if err != nil || pin == nil {
		return nil, err
	}
	defer pin.Release()
	return u.uploadPinned(ctx, lb)
}

// startFromBase begins an empty archive of a volume whose log no longer
// starts at LSN 1: it uploads the volume's base image, then writes the
// first manifest, which names that image as where the archive begins and
// the sealed segments after it (pending, oldest first). The next pass goes
// on from there.
func (u *Uploader) startFromBase(ctx context.Context, pending []pagelog.SegmentInfo) error {
	unlock, err := baseimage.LockFolds(u.o.VolumeDir, false)
	if err != nil {
		return err
	}
	var lb localBase
	lb.lsn, lb.time, lb.statePath, lb.pages, err = baseimage.Files(u.o.VolumeDir)
	// The first manifest names the base image and at least one sealed
	// segment after it (a manifest's base images lie inside its archived
	// LSNs); until the segment holding the record after the base is
	// sealed, there is nothing to begin with.
	var segs []pagelog.SegmentInfo
	for _, s := range pending {
		if s.LastLSN > lb.lsn {
			segs = append(segs, s)
		}
	}
	var pin *baseimage.Pin
	if err == nil && lb.lsn+1 >= pending[0].FirstLSN && len(segs) > 0 {
		pin, err = baseimage.RegisterView(u.o.VolumeDir, lb.lsn, fmt.Sprintf("archive upload of the base image at LSN %d", lb.lsn))
	}
	unlock()
	switch {
	case errors.Is(err, baseimage.ErrFolding):
		return nil // compaction redoes the fold; the next pass tries again
	case err != nil:
		return fmt.Errorf("archive: base image: %w", err)
	case lb.lsn+1 < pending[0].FirstLSN:
		return fmt.Errorf("%w: the archive is empty and the volume's oldest segment %s starts at LSN %d, after its base image at LSN %d",
			ErrNeedBase, pending[0].Name, pending[0].FirstLSN, lb.lsn)
	case pin == nil:
		return nil // no sealed segment after the base yet: the next seal brings one
	}
	defer pin.Release()
	b, err := u.uploadPinned(ctx, lb)
	if err != nil {
		return err
	}
	if len(segs) > u.o.MaxBatch {
		segs = segs[:u.o.MaxBatch]
	}
	objs, err := u.uploadAll(ctx, segs)
	if err != nil {
		return err
	}
	m := &Manifest{BaseLSN: b.LSN, Bases: []Base{*b}, Objects: objs, ArchivedThrough: objs[len(objs)-1].LastLSN}
	ref, err := u.publish(ctx, m, nil)
	if err != nil {
		return err
	}
	u.o.Logf("archive: manifest %d: the archive begins with the base image at LSN %d (records 1..%d are no longer in the log) and %d segment(s)",
		ref.Seq, b.LSN, b.LSN, len(objs))
	return nil
}

// uploadPinned uploads the base image lb, which the caller has pinned.
func (u *Uploader) uploadPinned(ctx context.Context, lb localBase) (*Base, error) {
	ctx, cancel := context.WithTimeout(ctx, u.o.BaseUploadTimeout)
	defer cancel()

	t := time.Unix(0, lb.time).UTC()
	files := []struct {
		obj  Object
		path string
	}{{Object{Kind: KindBaseState, Key: BaseStateKey(lb.lsn)}, lb.statePath}}
	for _, p := range lb.pages {
		if p.Size == 0 {
			continue // reads as zeros, like a missing page file
		}
		files = append(files, struct {
			obj  Object
			path string
		}{Object{Kind: KindBasePages, Key: BasePagesKey(lb.lsn, p.Ino)}, p.Path})
	}
	// Until a manifest names them, these objects are garbage if this
	// upload is cut short and the base moves on before the next try:
	// record them as pending deletes first (they are never deleted while
	// the newest manifest names them; see deletePending).
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.obj.Key
	}
	u.mu.Lock()
	u.pendingDeletes = mergeKeys(u.pendingDeletes, keys)
	u.mu.Unlock()
	u.saveState()

	start := u.o.Now()
	objs := make([]Object, len(files))
	errs := make([]error, len(files))
	sem := make(chan struct{}, u.o.Parallel)
	var wg sync.WaitGroup
	for i, f := range files {
		f.obj.FirstLSN, f.obj.LastLSN, f.obj.FirstTime, f.obj.LastTime = lb.lsn, lb.lsn, t, t
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			objs[i], errs[i] = u.uploadFile(ctx, f.obj, f.path)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	b := &Base{LSN: lb.lsn, Time: t, Uploaded: u.o.Now().UTC(), Objects: objs}
	u.o.Logf("archive: base image at LSN %d: %d object(s), %d bytes, in %s",
		b.LSN, len(objs), b.Bytes(), u.o.Now().Sub(start).Round(time.Millisecond))
	return b, nil
}

// uploadFile uploads one file of the base image as obj (Kind, Key, LSNs and
// times set; size and checksum filled in here), unless the archive already
// has it with the same checksum.
func (u *Uploader) uploadFile(ctx context.Context, obj Object, path string) (Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return Object{}, fmt.Errorf("archive: open %s: %w", path, err)
	}
	defer f.Close()
	h := crc32.New(crcTable)
	n, err := io.Copy(h, f)
	if err != nil {
		return Object{}, fmt.Errorf("archive: read %s: %w", path, err)
	}
	obj.Size, obj.CRC32C = n, formatCRC(h.Sum32())
	body := io.NewSectionReader(f, 0, n)
	// Uploaded already by a run that stopped before its manifest: the
	// same base LSN means the same bytes, unless two writers share the
	// prefix, which put refuses.
	return obj, u.put(ctx, obj, body)
}
