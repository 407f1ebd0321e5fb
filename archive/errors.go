package archive

import "errors"

// The sentinel errors of the package. Callers test for them with errors.Is;
// the errors returned wrap them with the object or manifest concerned.
var (
	// ErrBadURL is returned for an archive URL that is not s3://BUCKET/PREFIX.
	ErrBadURL = errors.New("archive: bad archive URL")

	// ErrNoCredentials is returned when neither AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY nor a credentials file give a key.
	ErrNoCredentials = errors.New("archive: no credentials")

	// ErrNoArchive is returned when the prefix holds no manifest.
	ErrNoArchive = errors.New("archive: no archive at this location")

	// ErrNotFound is returned by a Bucket for a key that does not exist.
	ErrNotFound = errors.New("archive: object not found")

	// ErrExists is returned by Bucket.PutIfAbsent when the key exists (the
	// server answered 412 to If-None-Match: *).
	ErrExists = errors.New("archive: object exists")

	// ErrChecksum is returned when an object's bytes do not match the size
	// or CRC-32C its manifest (or its own metadata) gives.
	ErrChecksum = errors.New("archive: checksum mismatch")

	// ErrRestoreRunning is returned when another restore into the same
	// place holds its work directory.
	ErrRestoreRunning = errors.New("archive: another restore into this place is running")

	// ErrGap is returned when the segments a manifest names do not form one
	// run of LSNs from the manifest's base: a restore could not rebuild
	// what lies after the gap.
	ErrGap = errors.New("archive: gap in the archived LSNs")

	// ErrManifest is returned for a manifest that does not decode or whose
	// fields contradict each other.
	ErrManifest = errors.New("archive: bad manifest")

	// ErrConflict is returned when an object the uploader is about to write
	// already exists with another checksum, or the archive is ahead of the
	// volume: two writers share the prefix. Archiving stops.
	ErrConflict = errors.New("archive: conflicting object in the archive")

	// ErrOtherVolume is returned when the archive at the location belongs to
	// another volume.
	ErrOtherVolume = errors.New("archive: the archive belongs to another volume")

	// ErrNeedBase is returned when the local log no longer starts where the
	// archive ends (compaction removed segments before they were archived,
	// or archiving was turned on after compaction): only a base image could
	// bridge the gap, and the uploader only uploads base images that follow
	// archived segments.
	ErrNeedBase = errors.New("archive: the local log does not continue the archive")

	// ErrTarget is returned by Restore for a target the archive cannot give:
	// before its first record or after its last.
	ErrTarget = errors.New("archive: target outside the archive")

	// ErrNotEmpty is returned by Restore for a destination that exists and
	// is not an empty directory.
	ErrNotEmpty = errors.New("archive: destination is not empty")
)
