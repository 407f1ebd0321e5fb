// Package pagelog is the append-only log of a rewindfs volume. Every change
// made through the mount becomes one record with a log sequence number
// (LSN); records go to segment files in LSN order and are never rewritten.
//
// A record has a type (which pagelog stores but does not interpret), a meta
// part (stored as given) and a data part (compressed with s2 or zstd when
// that makes it smaller). Append returns the record's LSN, its time and a
// Location, which ReadData takes to read the data part back without a scan.
//
// # Files
//
// The format of a record is drawn in record.go, that of a segment file and
// its name in segment.go. Both are frozen: a change needs a new format
// version, and the golden files in testdata notice one.
//
// # Durability
//
// Append puts a record in the log's write buffer (writebuf.go; a large
// one goes straight to the file) and WriteOut hands the buffer to the OS;
// Sync does both and makes the records durable. The sync order is written
// out where it happens: Sync (sync.go) writes out the buffer and
// fdatasyncs the last segment; moving on to a new segment (roll in
// append.go) first fdatasyncs the old one, then creates the new one under
// a temporary name, syncs it, renames it and syncs the directory. So only
// the last segment can ever end in a torn record, and Open (recover.go)
// cuts such a tail (keeping a copy) while it reports every other damage as
// ErrCorrupt. After a failed write (other than ENOSPC, which the log
// survives) or sync the log is broken: it returns the same error for ever
// rather than pretend that lost data is durable.
//
// # Testing seams
//
// All file access goes through the FS interface (vfs.go). Disk is the real
// disk; MemFS keeps synced and unsynced content apart and can crash;
// ErrorFS makes chosen calls fail, with EIO, ENOSPC, a short write or a
// crash. The tests crash the log at every write and check that every
// synced record survives.
package pagelog
