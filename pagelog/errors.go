package pagelog

import (
	"errors"
	"fmt"
)

// The sentinel errors of the package. Callers test for them with errors.Is;
// the errors returned carry the sentinel wrapped with the place where the
// problem was found (segment file, byte offset, expected LSN).
var (
	// ErrCorrupt is returned when a record or a segment header fails its
	// checksum or is malformed, and the damage cannot be a torn tail: valid
	// data follows it, it lies in a segment other than the last one, or the
	// LSNs of valid records are not contiguous.
	ErrCorrupt = errors.New("pagelog: corrupt log")

	// ErrVersion is returned when a segment header names a format version
	// this code does not know.
	ErrVersion = errors.New("pagelog: unknown segment format version")

	// ErrVolumeMismatch is returned when a segment header carries the ID of
	// another volume than the one the log was opened for.
	ErrVolumeMismatch = errors.New("pagelog: segment belongs to another volume")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("pagelog: log is closed")

	// ErrBroken is returned by Append and Sync once a write or a sync has
	// failed. The log no longer knows what reached the disk, so it refuses
	// to pretend that anything more is durable; the returned error also
	// wraps the first failure (for example syscall.EIO or syscall.ENOSPC).
	// Reopening the log recovers to what is really on disk.
	ErrBroken = errors.New("pagelog: log is broken by an earlier write or sync failure")

	// ErrReadOnly is returned by Append on a log opened with ReadOnly.
	ErrReadOnly = errors.New("pagelog: log is open read-only")

	// ErrTooLarge is returned by Append when the metadata or the data part
	// exceed MaxMetaLen or MaxDataLen. The log stays usable.
	ErrTooLarge = errors.New("pagelog: record too large")

	// ErrInvalidType is returned by Append for TypeInvalid. The log stays
	// usable.
	ErrInvalidType = errors.New("pagelog: invalid record type")

	// ErrBadLocation is returned by ReadData for a Location that does not
	// name a segment of this log.
	ErrBadLocation = errors.New("pagelog: bad data location")
)

// corruptAt wraps ErrCorrupt (or another sentinel) with the place of the
// damage. why says what was wrong in a few words.
func corruptAt(sentinel error, seg string, off int64, expect uint64, why string) error {
	return fmt.Errorf("%w: segment %s offset %d lsn %d: %s", sentinel, seg, off, expect, why)
}

// brokenError is the sticky error of a broken log. It matches both
// ErrBroken and the first underlying failure with errors.Is.
type brokenError struct {
	cause error
}

func (e *brokenError) Error() string { return ErrBroken.Error() + ": " + e.cause.Error() }

func (e *brokenError) Unwrap() []error { return []error{ErrBroken, e.cause} }
