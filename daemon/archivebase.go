package daemon

import "github.com/rewindfs/rewindfs/lsn"

// keptMarks lists the LSNs of the volume's kept marks: archive retention
// keeps a base image at or before each one (and the segments after it),
// so a kept mark stays restorable from the archive as it does locally.
// The uploader asks only when retention would drop something.
func (d *daemon) keptMarks() []lsn.LSN {
	var out []lsn.LSN
	for _, m := range d.v.Status().Marks {
		if m.Keep {
			out = append(out, m.LSN)
		}
	}
	return out
}
