// Manifest format
//
// A manifest is one JSON object, stored at PREFIX/manifests/<seq as 16 hex
// digits>.json and never overwritten. Its fields:
//
//	format            "rewindfs-archive-manifest"
//	version           1, or 2 when the manifest names base images (a version 1
//	                  manifest is a version 2 one without bases; both are read)
//	seq               this manifest's number: 1, 2, 3, ... without gaps
//	volume_id         the volume's identity (32 hex digits), also in every segment header
//	created           when the manifest was written (RFC 3339)
//	previous          {seq, key, size, crc32c} of manifest seq-1; absent in manifest 1
//	settings          the volume's settings (rewindfs.json) without its archive fields:
//	                  page size, compression, segment size, creation time, root owner
//	base_lsn          the LSN the chain of segments continues from: 0 means it starts
//	                  at LSN 1; otherwise the LSN of the oldest base image in bases
//	                  (archive retention dropped what was before it), and the first
//	                  segment holds base_lsn+1 (it may start before it)
//	archived_through  the last LSN of the chain: every record up to it is archived
//	objects           every object of the archive, in LSN order:
//	  kind            "segment" (later also base image kinds)
//	  key             the object's key relative to PREFIX, e.g. segments/0000000000000001.seg
//	  first_lsn       LSN of its first record
//	  last_lsn        LSN of its last record
//	  first_time      time of its first record (RFC 3339 with nanoseconds)
//	  last_time       time of its last record
//	  size            bytes
//	  crc32c          CRC-32C (Castagnoli) of its bytes, 8 lowercase hex digits
//	bases             (version 2) the archived base images, oldest first:
//	  lsn             the base LSN: the image is state(lsn)
//	  time            the time of record lsn
//	  uploaded        when the image was uploaded
//	  objects         its files, as objects (same fields as above, first_lsn =
//	                  last_lsn = lsn, first_time = last_time = time):
//	                  "base-state"  base/<lsn, 16 hex>/state, the state file, byte for byte
//	                  "base-pages"  base/<lsn, 16 hex>/pages/<inode, 16 hex>, one page
//	                                file (holes read back as zeros; empty ones are left out)
//
// The field names and their meaning are part of the archive format: add
// fields, never change these. A reader refuses a version it does not know.

package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
	"time"

	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// These constants are part of the archive format and must not be changed.
const (
	manifestFormat  = "rewindfs-archive-manifest"
	manifestVersion = 2
	// manifestVersionSegments is written while a manifest names no base
	// image, so that a rewindfs that only knows version 1 still reads it.
	manifestVersionSegments = 1

	// KindSegment is a sealed log segment.
	KindSegment = "segment"
	// KindBaseState is the state file of a base image.
	KindBaseState = "base-state"
	// KindBasePages is one page file of a base image.
	KindBasePages = "base-pages"
)

// crcTable is the Castagnoli table, the checksum pagelog uses too.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C of b as the manifest writes it.
func Checksum(b []byte) string { return formatCRC(crc32.Checksum(b, crcTable)) }

func formatCRC(c uint32) string { return fmt.Sprintf("%08x", c) }

func parseCRC(s string) (uint32, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("crc32c %q is not 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("crc32c %q is not 8 hex digits", s)
	}
	return uint32(v), nil
}

// Manifest names every object of an archive.
type Manifest struct {
	Format          string           `json:"format"`
	Version         int              `json:"version"`
	Seq             uint64           `json:"seq"`
	VolumeID        string           `json:"volume_id"`
	Created         time.Time        `json:"created"`
	Previous        *ManifestRef     `json:"previous,omitempty"`
	Settings        *volume.Settings `json:"settings"`
	BaseLSN         lsn.LSN          `json:"base_lsn"`
	ArchivedThrough lsn.LSN          `json:"archived_through"`
	Objects         []Object         `json:"objects"`
	Bases           []Base           `json:"bases,omitempty"`
}

// Base is one archived base image: state(LSN), as the files of a volume's
// base/ directory.
type Base struct {
	LSN      lsn.LSN   `json:"lsn"`
	Time     time.Time `json:"time"`
	Uploaded time.Time `json:"uploaded"`
	Objects  []Object  `json:"objects"` // the state file first, then the page files by inode
}

// Bytes is the size of all of the base image's objects.
func (b Base) Bytes() int64 {
	var n int64
	for _, o := range b.Objects {
		n += o.Size
	}
	return n
}

// ManifestRef points at a manifest and pins its bytes.
type ManifestRef struct {
	Seq    uint64 `json:"seq"`
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	CRC32C string `json:"crc32c"`
}

// Object is one object of the archive.
type Object struct {
	Kind      string    `json:"kind"`
	Key       string    `json:"key"`
	FirstLSN  lsn.LSN   `json:"first_lsn"`
	LastLSN   lsn.LSN   `json:"last_lsn"`
	FirstTime time.Time `json:"first_time"`
	LastTime  time.Time `json:"last_time"`
	Size      int64     `json:"size"`
	CRC32C    string    `json:"crc32c"`
}

// Encode returns the manifest's bytes: indented JSON and a newline.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeManifest parses and checks a manifest. name says where it came
// from, for errors.
func DecodeManifest(b []byte, name string) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrManifest, name, err)
	}
	if m.Format != manifestFormat {
		return nil, fmt.Errorf("%w: %s: format %q, want %q", ErrManifest, name, m.Format, manifestFormat)
	}
	if m.Version != manifestVersion && m.Version != manifestVersionSegments {
		return nil, fmt.Errorf("%w: %s: version %d, this rewindfs reads versions %d and %d", ErrManifest, name, m.Version, manifestVersionSegments, manifestVersion)
	}
	if m.Version == manifestVersionSegments && len(m.Bases) > 0 {
		return nil, fmt.Errorf("%w: %s: version %d names base images", ErrManifest, name, m.Version)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &m, nil
}

// check says whether the fields of the manifest agree with each other.
// Gaps between segments are not an error here (Chain finds them): a
// manifest that names one can still be listed.
func (m *Manifest) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: manifest %d: %s", ErrManifest, m.Seq, fmt.Sprintf(format, args...))
	}
	if m.Seq == 0 {
		return bad("seq is 0")
	}
	if len(m.VolumeID) != 32 {
		return bad("volume_id %q is not 32 hex digits", m.VolumeID)
	}
	if m.Settings == nil || m.Settings.VolumeID != m.VolumeID {
		return bad("settings missing or of another volume")
	}
	if (m.Previous == nil) != (m.Seq == 1) {
		return bad("previous must be absent exactly in manifest 1")
	}
	if m.Previous != nil && (m.Previous.Seq != m.Seq-1 || m.Previous.Key != ManifestKey(m.Seq-1)) {
		return bad("previous names manifest %d (%s), want %d", m.Previous.Seq, m.Previous.Key, m.Seq-1)
	}
	if m.Previous != nil {
		if _, err := parseCRC(m.Previous.CRC32C); err != nil {
			return bad("previous: %v", err)
		}
	}
	var last lsn.LSN
	keys := map[string]bool{}
	for i, o := range m.Objects {
		if o.Kind != KindSegment {
			return bad("object %s: unknown kind %q (a newer rewindfs wrote it?)", o.Key, o.Kind)
		}
		if keys[o.Key] {
			return bad("object %s named twice", o.Key)
		}
		keys[o.Key] = true
		if o.Key != SegmentKey(o.FirstLSN) {
			return bad("object %s: a segment with first LSN %d must be %s", o.Key, o.FirstLSN, SegmentKey(o.FirstLSN))
		}
		if o.FirstLSN == 0 || o.LastLSN < o.FirstLSN {
			return bad("object %s: LSN range %d..%d", o.Key, o.FirstLSN, o.LastLSN)
		}
		if i > 0 && o.FirstLSN <= last {
			return bad("object %s: first LSN %d not after the previous object's last LSN %d", o.Key, o.FirstLSN, last)
		}
		if o.LastTime.Before(o.FirstTime) {
			return bad("object %s: last time before first time", o.Key)
		}
		if o.Size <= 0 {
			return bad("object %s: size %d", o.Key, o.Size)
		}
		if _, err := parseCRC(o.CRC32C); err != nil {
			return bad("object %s: %v", o.Key, err)
		}
		last = o.LastLSN
	}
	if m.ArchivedThrough != last && !(len(m.Objects) == 0 && m.ArchivedThrough == m.BaseLSN) {
		return bad("archived_through %d, but the last object ends at LSN %d", m.ArchivedThrough, last)
	}
	return m.checkBases(bad, keys)
}

// checkBases checks the base images: in LSN order, each within the
// archived LSNs, with a state file and well-named objects; base_lsn is the
// oldest one's.
func (m *Manifest) checkBases(bad func(string, ...any) error, keys map[string]bool) error {
	if len(m.Bases) == 0 {
		if m.BaseLSN != 0 && len(m.Objects) > 0 {
			return bad("base_lsn %d, but no base image is named", m.BaseLSN)
		}
		return nil
	}
	if m.BaseLSN != 0 && m.BaseLSN != m.Bases[0].LSN {
		return bad("base_lsn %d is neither 0 nor the oldest base image's LSN %d", m.BaseLSN, m.Bases[0].LSN)
	}
	for i, b := range m.Bases {
		if b.LSN == 0 || b.LSN >= m.ArchivedThrough {
			return bad("base image at LSN %d: not inside the archived LSNs (through %d)", b.LSN, m.ArchivedThrough)
		}
		if i > 0 && b.LSN <= m.Bases[i-1].LSN {
			return bad("base image at LSN %d after the one at LSN %d", b.LSN, m.Bases[i-1].LSN)
		}
		if len(b.Objects) == 0 || b.Objects[0].Kind != KindBaseState || b.Objects[0].Key != BaseStateKey(b.LSN) {
			return bad("base image at LSN %d: its first object must be its state file %s", b.LSN, BaseStateKey(b.LSN))
		}
		for j, o := range b.Objects {
			if keys[o.Key] {
				return bad("object %s named twice", o.Key)
			}
			keys[o.Key] = true
			if j > 0 {
				ino, ok := parseBasePagesKey(b.LSN, o.Key)
				if o.Kind != KindBasePages || !ok || o.Key != BasePagesKey(b.LSN, ino) {
					return bad("object %s: not a page file of the base image at LSN %d", o.Key, b.LSN)
				}
			}
			if o.FirstLSN != b.LSN || o.LastLSN != b.LSN {
				return bad("object %s: LSN range %d..%d in the base image at LSN %d", o.Key, o.FirstLSN, o.LastLSN, b.LSN)
			}
			if o.Size <= 0 {
				return bad("object %s: size %d", o.Key, o.Size)
			}
			if _, err := parseCRC(o.CRC32C); err != nil {
				return bad("object %s: %v", o.Key, err)
			}
		}
	}
	return nil
}

// Chain returns the segments a restore replays: the run of segments from
// the manifest's base, in LSN order. A gap (a segment whose first LSN does
// not follow the previous one's last) is ErrGap, naming the object after
// the gap and the LSNs missing.
func (m *Manifest) Chain() ([]Object, error) {
	segs := make([]Object, 0, len(m.Objects))
	for _, o := range m.Objects {
		if o.Kind == KindSegment {
			segs = append(segs, o)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].FirstLSN < segs[j].FirstLSN })
	next := m.BaseLSN + 1
	for i, o := range segs {
		if i == 0 && o.FirstLSN < next && o.LastLSN >= next {
			// After a base image the first segment may begin before it:
			// segments are cut where the log was, not where the base is.
			next = o.LastLSN + 1
			continue
		}
		if o.FirstLSN != next {
			return segs, fmt.Errorf("%w: manifest %d: object %s starts at LSN %d, but the archive before it ends at LSN %d (LSNs %d..%d are in no object)",
				ErrGap, m.Seq, o.Key, o.FirstLSN, next-1, next, o.FirstLSN-1)
		}
		next = o.LastLSN + 1
	}
	return segs, nil
}

// Range is what an archive can restore.
type Range struct {
	FirstLSN  lsn.LSN   `json:"earliest_lsn"`
	FirstTime time.Time `json:"earliest_time"`
	LastLSN   lsn.LSN   `json:"latest_lsn"`
	LastTime  time.Time `json:"latest_time"`
	Segments  int       `json:"segments"`
	Bytes     int64     `json:"bytes"`
	// The base images; a restore starts from the newest one at or before
	// its target.
	Bases          int       `json:"bases,omitempty"`
	BaseBytes      int64     `json:"base_bytes,omitempty"`
	NewestBaseLSN  lsn.LSN   `json:"newest_base_lsn,omitempty"`
	NewestBaseTime time.Time `json:"newest_base_time,omitzero"`
}

// Restorable returns the range a restore can reach: from the first record
// of the chain to the last record before any gap. It is zero for an
// archive with no segments. err is the gap, if there is one.
func (m *Manifest) Restorable() (Range, error) {
	segs, err := m.Chain()
	if err != nil {
		// Keep the run before the gap.
		n := 0
		next := m.BaseLSN + 1
		for n < len(segs) && (segs[n].FirstLSN == next || (n == 0 && segs[0].FirstLSN < next && segs[0].LastLSN >= next)) {
			next = segs[n].LastLSN + 1
			n++
		}
		segs = segs[:n]
	}
	var r Range
	for i, o := range segs {
		if i == 0 {
			r.FirstLSN, r.FirstTime = o.FirstLSN, o.FirstTime
		}
		r.LastLSN, r.LastTime = o.LastLSN, o.LastTime
		r.Segments++
		r.Bytes += o.Size
	}
	if m.BaseLSN > 0 && len(segs) > 0 {
		// The oldest state a restore can give is the oldest base image.
		r.FirstLSN, r.FirstTime = m.Bases[0].LSN, m.Bases[0].Time
	}
	for _, b := range m.Bases {
		r.Bases++
		r.BaseBytes += b.Bytes()
		r.NewestBaseLSN, r.NewestBaseTime = b.LSN, b.Time
	}
	return r, err
}

// NewestBase returns the newest base image, if there is one.
func (m *Manifest) NewestBase() (Base, bool) {
	if len(m.Bases) == 0 {
		return Base{}, false
	}
	return m.Bases[len(m.Bases)-1], true
}
