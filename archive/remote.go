package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// maxManifestSize bounds what is read as a manifest (about a million
// objects).
const maxManifestSize = 256 << 20

// exists says whether manifest seq is in the bucket.
func manifestExists(ctx context.Context, b Bucket, seq uint64) (bool, error) {
	_, err := b.Stat(ctx, ManifestKey(seq))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// FindLatest returns the number of the newest manifest, 0 if there is
// none. Manifests are numbered from 1 without gaps, so it needs no LIST:
// from the hint (a number believed to exist, or 0) it doubles a step until
// a number is missing, then halves the gap. A hint that turns out not to
// exist is ignored. Starting from the right hint it costs two HEADs.
func FindLatest(ctx context.Context, b Bucket, hint uint64) (uint64, error) {
	lo := uint64(0) // exists, or 0
	if hint > 0 {
		ok, err := manifestExists(ctx, b, hint)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = hint
		}
	}
	step := uint64(1)
	hi := lo + step
	for {
		ok, err := manifestExists(ctx, b, hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo = hi
		step *= 2
		hi = lo + step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := manifestExists(ctx, b, mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// ReadManifest reads and checks manifest seq. The checksum in the object's
// metadata, when there is one, must match its bytes.
func ReadManifest(ctx context.Context, b Bucket, seq uint64) (*Manifest, ManifestRef, error) {
	key := ManifestKey(seq)
	rc, info, err := b.Get(ctx, key)
	if err != nil {
		return nil, ManifestRef{}, err
	}
	defer rc.Close()
	if info.Size > maxManifestSize {
		return nil, ManifestRef{}, fmt.Errorf("%w: %s/%s is %d bytes, more than a manifest can be", ErrManifest, b, key, info.Size)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, maxManifestSize+1)); err != nil {
		return nil, ManifestRef{}, fmt.Errorf("archive: read %s/%s: %w", b, key, err)
	}
	data := buf.Bytes()
	ref := ManifestRef{Seq: seq, Key: key, Size: int64(len(data)), CRC32C: Checksum(data)}
	if want := info.Meta[metaCRC32C]; want != "" && want != ref.CRC32C {
		return nil, ManifestRef{}, fmt.Errorf("%w: %s/%s: its metadata says crc32c %s, its %d bytes have %s", ErrChecksum, b, key, want, len(data), ref.CRC32C)
	}
	m, err := DecodeManifest(data, b.String()+"/"+key)
	if err != nil {
		return nil, ManifestRef{}, err
	}
	if m.Seq != seq {
		return nil, ManifestRef{}, fmt.Errorf("%w: %s/%s says it is manifest %d", ErrManifest, b, key, m.Seq)
	}
	return m, ref, nil
}

// Latest reads the newest manifest; ErrNoArchive if there is none.
func Latest(ctx context.Context, b Bucket, hint uint64) (*Manifest, ManifestRef, error) {
	seq, err := FindLatest(ctx, b, hint)
	if err != nil {
		return nil, ManifestRef{}, err
	}
	if seq == 0 {
		return nil, ManifestRef{}, fmt.Errorf("%w: %s has no %s", ErrNoArchive, b, ManifestKey(1))
	}
	return ReadManifest(ctx, b, seq)
}
