package archive

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/rewindfs/rewindfs/lsn"
)

// Location is where an archive lives: a bucket and a prefix in it.
type Location struct {
	Bucket string
	Prefix string // without leading or trailing slash; may be empty
}

// ParseURL parses s3://BUCKET/PREFIX. The prefix may be empty or nested
// (s3://backups/rewindfs/pg-main); slashes around it are dropped.
func ParseURL(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, fmt.Errorf("%w: %q: %v", ErrBadURL, s, err)
	}
	if u.Scheme != "s3" {
		return Location{}, fmt.Errorf("%w: %q: the scheme must be s3:// (s3://BUCKET/PREFIX); give the server with --endpoint", ErrBadURL, s)
	}
	if u.Host == "" {
		return Location{}, fmt.Errorf("%w: %q has no bucket: give s3://BUCKET/PREFIX", ErrBadURL, s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
		return Location{}, fmt.Errorf("%w: %q: only s3://BUCKET/PREFIX, without user, port, query or fragment", ErrBadURL, s)
	}
	if err := checkBucketName(u.Host); err != nil {
		return Location{}, fmt.Errorf("%w: %q: %v", ErrBadURL, s, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if strings.Contains(prefix, "//") {
		return Location{}, fmt.Errorf("%w: %q: empty path element in the prefix", ErrBadURL, s)
	}
	for _, part := range strings.Split(prefix, "/") {
		if part == "." || part == ".." {
			return Location{}, fmt.Errorf("%w: %q: . and .. are not allowed in the prefix", ErrBadURL, s)
		}
	}
	return Location{Bucket: u.Host, Prefix: prefix}, nil
}

// checkBucketName applies S3's rules for bucket names, the ones that
// matter for path-style addressing.
func checkBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("bucket name %q may hold only lowercase letters, digits, '-' and '.'", b)
		}
	}
	if b[0] == '-' || b[0] == '.' || b[len(b)-1] == '-' || b[len(b)-1] == '.' {
		return fmt.Errorf("bucket name %q must begin and end with a letter or digit", b)
	}
	return nil
}

// String gives the location back as s3://BUCKET/PREFIX.
func (l Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// Key returns the full object key of rel (a key relative to the prefix).
func (l Location) Key(rel string) string {
	if l.Prefix == "" {
		return rel
	}
	return l.Prefix + "/" + rel
}

// URL returns s3://BUCKET/PREFIX/rel, how errors name an object.
func (l Location) URL(rel string) string {
	return "s3://" + l.Bucket + "/" + l.Key(rel)
}

// These names are part of the archive format and must not be changed.
const (
	segmentsDir  = "segments"
	manifestsDir = "manifests"
)

// SegmentKey is the key, relative to the prefix, of the segment whose first
// record has LSN first: the local file name under segments/.
func SegmentKey(first lsn.LSN) string {
	return fmt.Sprintf("%s/%016x.seg", segmentsDir, uint64(first))
}

// ManifestKey is the key, relative to the prefix, of manifest seq.
func ManifestKey(seq uint64) string {
	return fmt.Sprintf("%s/%016x.json", manifestsDir, seq)
}

// segmentFileName is the local name pagelog gives the segment (see
// pagelog/segment.go).
func segmentFileName(first lsn.LSN) string {
	return fmt.Sprintf("%016x.seg", uint64(first))
}
