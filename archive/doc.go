// Package archive copies a volume's immutable files to S3-compatible object
// storage and restores a new volume from them, so that a volume's history
// outlives its host and its local window.
//
// # What is archived
//
// Only what never changes: sealed segments (every segment but the one the
// log appends to; see pagelog/segment.go), and copies of the base images
// that compaction writes. An archive lives under one prefix of one bucket,
// written as s3://BUCKET/PREFIX, and belongs to one volume:
//
//	PREFIX/segments/<first LSN, 16 hex digits>.seg    a sealed segment, byte for byte
//	PREFIX/manifests/<sequence, 16 hex digits>.json   manifest 1, 2, 3, ...
//	PREFIX/base/<base LSN, 16 hex>/state              a base image's state file
//	PREFIX/base/<base LSN, 16 hex>/pages/<inode hex>  one of its page files
//
// The local base image is rewritten in place by every fold, so the
// uploader pins it while it copies it (base.go says how, and what
// compaction waits for). A manifest names base images in its "bases"
// (format version 2); its BaseLSN says where the chain of segments must
// start once retention (retention.go) dropped what was before the oldest
// one. A restore starts from the newest base image at or before its
// target.
//
// Every object carries its LSN range, first and last record time, size and
// CRC-32C (Castagnoli) in its user metadata (x-amz-meta-rewindfs-*), so an
// object explains itself; the manifest is what counts, and both are checked
// on download.
//
// # Manifests
//
// After a batch of objects is uploaded, the uploader writes manifest N+1. A
// manifest is JSON (manifest.go draws it field by field) naming every object
// of the archive with its LSN range, times, size and checksum, the previous
// manifest's key and checksum, and the volume's identity and settings (what
// a restore needs to make a volume that reads the segments). Anything no
// manifest names is not part of the archive: an object uploaded by a daemon
// that died before its manifest is garbage, and the next upload of the
// same segment finds it and accepts it when its checksum matches.
//
// Objects and manifests are written with If-None-Match: *, so nothing is
// ever overwritten. SeaweedFS (the server the tests run against) and
// Amazon S3 both honour it on PUT, answering 412 when the key exists. An
// existing object with the same checksum is success (a re-upload after a
// crash); one with another checksum is ErrConflict, which stops archiving:
// two volumes (or a volume and its restored copy) must not share a prefix.
//
// The newest manifest is found without LIST: manifests are numbered from 1
// without gaps, so a few HEAD requests (a doubling probe, then a binary
// search) find the last one; the uploader starts the probe from the number
// it last wrote, kept in the volume's archive.json. This relies on manifest
// numbers never being deleted from below, so retention deletes segments and
// base images, never manifests.
//
// # Archived through
//
// ArchivedThrough is the last LSN the newest manifest confirms: every record
// up to it is in objects a manifest names. Compaction may delete a local
// segment only when its last LSN is at or below it (Uploader.ArchivedThrough
// in a running daemon, ReadState for an unmounted volume). The volume's
// archive.json is written after the manifest, so it may lag behind the
// archive after a crash, never run ahead of it.
//
// # Failure
//
// The uploader runs beside the mount and never holds up the file system: it
// reads the log's in-memory segment table and the sealed files, and when
// the store is down or slow it retries with exponential backoff (Backoff)
// while writes go on locally. Status reports how far behind it is (LSNs,
// bytes, and how long the oldest unarchived record has waited).
package archive
