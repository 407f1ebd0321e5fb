package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Bucket is the object store as the archive uses it: write once, read,
// look. Keys are relative to the archive's prefix. S3 talks to a server;
// the tests also use a fake that keeps objects in memory and fails on
// demand.
type Bucket interface {
	// PutIfAbsent writes the object with If-None-Match: *. It returns
	// ErrExists, and changes nothing, if the key exists.
	PutIfAbsent(ctx context.Context, key string, body io.ReadSeeker, size int64, meta map[string]string) error
	// Get opens the object for reading; ErrNotFound if it does not exist.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat returns what the object is without its bytes; ErrNotFound if
	// it does not exist.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes the object; a key that does not exist is success
	// (or ErrNotFound). Only objects no manifest names any more are
	// deleted (archive retention).
	Delete(ctx context.Context, key string) error
	// String names the archive: s3://BUCKET/PREFIX.
	String() string
}

// ObjectInfo is what a Bucket says about an object.
type ObjectInfo struct {
	Size int64
	// Meta is the object's user metadata, with lowercase keys without
	// the x-amz-meta- prefix (for example "rewindfs-crc32c").
	Meta map[string]string
}

// Object metadata keys (x-amz-meta-<key>). Part of the archive format.
const (
	metaKind      = "rewindfs-kind"
	metaVolume    = "rewindfs-volume-id"
	metaFirstLSN  = "rewindfs-first-lsn"
	metaLastLSN   = "rewindfs-last-lsn"
	metaFirstTime = "rewindfs-first-time"
	metaLastTime  = "rewindfs-last-time"
	metaSize      = "rewindfs-size"
	metaCRC32C    = "rewindfs-crc32c"
)

// DefaultEndpoint is the endpoint used when none is given: Amazon S3.
const DefaultEndpoint = "https://s3.amazonaws.com"

// Config says how to reach the store. Credentials never come from here
// directly: only from the environment or the named file.
type Config struct {
	// Endpoint is the server's URL, http:// or https://; empty means
	// DefaultEndpoint. Buckets are always addressed path-style
	// (ENDPOINT/BUCKET/KEY), which every S3-compatible server accepts.
	Endpoint string
	// CredentialsFile is an AWS shared credentials file (INI, profile
	// AWS_PROFILE or "default"), used when AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY are not set.
	CredentialsFile string
	// Timeout bounds connecting and waiting for the response headers of
	// one request; zero means 30 seconds.
	Timeout time.Duration
}

// S3 is a Bucket on an S3-compatible server, through minio-go.
type S3 struct {
	c        *minio.Client
	loc      Location
	endpoint string
	requests atomic.Int64
}

// Connect returns the Bucket for loc. It sends no request; Check does.
func Connect(loc Location, cfg Config) (*S3, error) {
	ep := cfg.Endpoint
	if ep == "" {
		ep = DefaultEndpoint
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("%w: endpoint %q: give http://HOST[:PORT] or https://HOST[:PORT]", ErrBadURL, ep)
	}
	creds, err := credentialsFor(cfg.CredentialsFile)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	tr, err := minio.DefaultTransport(u.Scheme == "https")
	if err != nil {
		return nil, err
	}
	tr.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = timeout
	s := &S3{loc: loc, endpoint: u.Scheme + "://" + u.Host}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Transport:    countingTransport{tr, &s.requests},
		Region:       region(),
		BucketLookup: minio.BucketLookupPath,
		// The uploader has its own backoff; a command retries once.
		MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("archive: S3 client for %s: %w", s.endpoint, err)
	}
	s.c = c
	return s, nil
}

// credentialsFor takes the key from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN), or else from file.
func credentialsFor(file string) (*credentials.Credentials, error) {
	if os.Getenv("AWS_ACCESS_KEY_ID") != "" && os.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
		return credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")), nil
	}
	if file == "" {
		return nil, fmt.Errorf("%w: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name an AWS shared credentials file (--archive-credentials-file on init, --credentials-file on archive ls and restore)", ErrNoCredentials)
	}
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("%w: credentials file: %v", ErrNoCredentials, err)
	}
	c := credentials.NewFileAWSCredentials(file, "")
	v, err := c.Get()
	if err != nil || v.AccessKeyID == "" || v.SecretAccessKey == "" {
		profile := os.Getenv("AWS_PROFILE")
		if profile == "" {
			profile = "default"
		}
		return nil, fmt.Errorf("%w: %s has no aws_access_key_id and aws_secret_access_key in profile [%s]", ErrNoCredentials, file, profile)
	}
	return c, nil
}

// region is the signing region: AWS_REGION, AWS_DEFAULT_REGION or
// us-east-1 (which S3-compatible servers accept). Giving it saves the
// client a GetBucketLocation request.
func region() string {
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "us-east-1"
}

// countingTransport counts the HTTP requests sent, for status and for the
// request-cost figures.
type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.rt.RoundTrip(r)
}

// Requests returns how many HTTP requests the bucket has sent.
func (s *S3) Requests() int64 { return s.requests.Load() }

// Endpoint returns the server's URL.
func (s *S3) Endpoint() string { return s.endpoint }

func (s *S3) String() string { return s.loc.String() }

// Check makes sure the bucket exists and the credentials are accepted.
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.loc.Bucket)
	if err != nil {
		return s.wrap(err, "")
	}
	if !ok {
		return fmt.Errorf("archive: bucket %q does not exist at %s (create it first)", s.loc.Bucket, s.endpoint)
	}
	return nil
}

// PutIfAbsent implements Bucket. The object goes up in one PUT (segments
// are at most 2 GiB), so If-None-Match applies to the whole of it.
func (s *S3) PutIfAbsent(ctx context.Context, key string, body io.ReadSeeker, size int64, meta map[string]string) error {
	opts := minio.PutObjectOptions{
		UserMetadata:     meta,
		ContentType:      "application/octet-stream",
		DisableMultipart: true,
	}
	if strings.HasSuffix(key, ".json") {
		opts.ContentType = "application/json"
	}
	opts.SetMatchETagExcept("*")
	_, err := s.c.PutObject(ctx, s.loc.Bucket, s.loc.Key(key), body, size, opts)
	if err != nil {
		return s.wrap(err, key)
	}
	return nil
}

// Get implements Bucket.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	obj, err := s.c.GetObject(ctx, s.loc.Bucket, s.loc.Key(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, s.wrap(err, key)
	}
	// minio-go sends the request on first use: Stat does, and keeps the
	// answer's headers.
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, ObjectInfo{}, s.wrap(err, key)
	}
	return obj, infoOf(st), nil
}

// Stat implements Bucket.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	st, err := s.c.StatObject(ctx, s.loc.Bucket, s.loc.Key(key), minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.wrap(err, key)
	}
	return infoOf(st), nil
}

// Delete implements Bucket. S3 answers a delete of a missing key with
// success too.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := s.c.RemoveObject(ctx, s.loc.Bucket, s.loc.Key(key), minio.RemoveObjectOptions{}); err != nil {
		return s.wrap(err, key)
	}
	return nil
}

func infoOf(st minio.ObjectInfo) ObjectInfo {
	info := ObjectInfo{Size: st.Size, Meta: map[string]string{}}
	for k, v := range st.Metadata {
		lk := strings.ToLower(k)
		if rest, ok := strings.CutPrefix(lk, "x-amz-meta-"); ok && len(v) > 0 {
			info.Meta[rest] = v[0]
		}
	}
	return info
}

// wrap turns a minio-go error into one that says what failed where, with
// ErrNotFound and ErrExists for the answers the archive acts on.
func (s *S3) wrap(err error, key string) error {
	where := s.loc.String()
	if key != "" {
		where = s.loc.URL(key)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("archive: %s: %w", where, err)
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchBucket":
		return fmt.Errorf("archive: bucket %q does not exist at %s (create it first)", s.loc.Bucket, s.endpoint)
	case resp.Code == "NoSuchKey" || resp.Code == "NotFound" || (resp.Code == "" && resp.StatusCode == http.StatusNotFound):
		return fmt.Errorf("%w: %s", ErrNotFound, where)
	case resp.Code == "PreconditionFailed" || resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %s", ErrExists, where)
	case resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch" || resp.Code == "AccessDenied" ||
		resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("archive: %s refused the credentials for %s: %s (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", s.endpoint, where, oneLine(err))
	case resp.StatusCode == 0:
		// No answer from the server at all.
		return fmt.Errorf("archive: cannot reach %s for %s: %s", s.endpoint, where, oneLine(err))
	}
	return fmt.Errorf("archive: %s: %s", where, oneLine(err))
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
