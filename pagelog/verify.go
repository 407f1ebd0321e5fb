package pagelog

import (
	"fmt"

	"github.com/rewindfs/rewindfs/lsn"
)

// VerifyReport says what Verify found.
type VerifyReport struct {
	Records   int64
	Segments  int
	Bytes     int64   // total size of the segment files
	First     lsn.LSN // LSN of the first record, 0 if none
	Head      lsn.LSN // LSN of the last valid record, 0 if none
	FirstTime int64   // unix nanoseconds of the first record, 0 if none
	LastTime  int64   // unix nanoseconds of the last record, 0 if none
	// TornBytes is the length of a bad tail of the last segment, which
	// Open would cut; TornSegment is the segment's name and TornOffset
	// where the tail starts. A torn tail is not an error.
	TornBytes   int64
	TornSegment string
	TornOffset  int64
	TornReason  string // what is wrong at TornOffset
}

// Verify reads every record of the log in dir and checks every segment
// header, every record checksum, the continuity of LSNs within and across
// segments, that record times never decrease, that all segments belong to
// the same volume and that every compressed data part decompresses to its
// recorded length. It opens the files read-only and changes nothing; fs nil
// means Disk. The error names the first bad record by segment, offset and
// LSN.
func Verify(dir string, fs FS) (VerifyReport, error) {
	return verify(Options{Dir: dir, FS: fs, ReadOnly: true, anyVolume: true})
}

// VerifyVolumes is Verify for a log whose segments may carry any of the
// volume IDs given: a clone's own and those of the volumes it was cloned
// from, whose segments it shares (see Options.AncestorIDs). A segment of
// any other volume is ErrVolumeMismatch.
func VerifyVolumes(dir string, fs FS, ids [][16]byte) (VerifyReport, error) {
	if len(ids) == 0 {
		return Verify(dir, fs)
	}
	return verify(Options{Dir: dir, FS: fs, ReadOnly: true, VolumeID: ids[0], AncestorIDs: ids[1:]})
}

func verify(opts Options) (VerifyReport, error) {
	var rep VerifyReport
	l, err := newLog(opts)
	if err != nil {
		return rep, err
	}
	w := &walker{checkData: true, once: true, fn: func(s *Scanned) error {
		if rep.First == 0 {
			rep.First, rep.FirstTime = s.LSN, s.Time
		}
		rep.LastTime = s.Time
		return nil
	}}
	res, err := l.loadWith(w)
	defer closeSegments(l.segTable())
	if err != nil {
		return rep, err
	}
	rep.Records, rep.Head = res.records, l.Head()
	rep.Segments = len(l.segTable())
	for _, s := range l.segTable() {
		size, err := s.f.Size()
		if err != nil {
			return rep, fmt.Errorf("pagelog: size of segment %s: %w", s.name, err)
		}
		rep.Bytes += size
	}
	if res.tornBytes > 0 {
		rep.TornBytes, rep.TornOffset, rep.TornSegment, rep.TornReason = res.tornBytes, res.tornAt, l.cur.name, res.tornWhy
	}
	return rep, nil
}
