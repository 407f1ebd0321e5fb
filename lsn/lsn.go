// Package lsn holds the log sequence number type and the parsing of the
// targets a user may name: an LSN, an RFC 3339 time, a duration ago, or a mark.
package lsn

import "strconv"

// LSN numbers every record of a volume. It is strictly increasing over the
// volume's whole life and never reused, not even after a rewind. Zero means
// "no record": the empty volume, before the first record.
type LSN uint64

// String formats the LSN as a plain decimal number, the form users type.
func (l LSN) String() string { return strconv.FormatUint(uint64(l), 10) }
