package control

import (
	"time"

	"github.com/rewindfs/rewindfs/lsn"
)

// The helpers below are the Go face of `rewindfs mark` and `rewindfs
// rewind` on a mounted volume: a test suite can name a state once and go
// back to it after every test, in two calls and without the command line.
//
//	l, err := control.Mark("/var/lib/rewindfs/test", "clean")
//	...                                  // the test changes the database
//	_, err = control.Rewind("/var/lib/rewindfs/test", "clean")
//
// dir is the volume directory (where the daemon's control socket is), not
// the mount point. A live rewind is refused while files on the mount are
// open: stop the database, or close its connections, first.

// HelperTimeout bounds each call of Mark and Rewind.
const HelperTimeout = 10 * time.Minute

// Marked is what a mark request answers: the name and the LSN of the sync
// point it names.
type Marked struct {
	Name string  `json:"name"`
	LSN  lsn.LSN `json:"lsn"`
}

// Rewound is what a rewind request answers, the same object `rewindfs
// rewind --json` prints (volume.RewindPlan); the fields a caller is likely
// to want.
type Rewound struct {
	From        lsn.LSN   `json:"from_lsn"`       // the head before the rewind
	To          lsn.LSN   `json:"to_lsn"`         // the state now live
	ToTime      time.Time `json:"to_time"`        // the time of the record at To
	Undone      int       `json:"records_undone"` // records left behind
	UndoneBytes int64     `json:"bytes_undone"`
	Redone      int       `json:"records_redone"` // records of an abandoned timeline taken up again
	Files       int       `json:"files_touched"`
	RewindLSN   lsn.LSN   `json:"rewind_lsn"` // the rewind record appended
}

// Mark syncs the volume mounted from dir and names its newest sync point
// name (a letter, then letters, digits, '.', '_' or '-'; not something that
// reads as an LSN, time or duration). Marking a name again moves it. It
// returns the LSN the name now stands for, which Rewind takes as well as
// the name.
func Mark(dir, name string) (lsn.LSN, error) {
	var m Marked
	err := Call(dir, Request{Op: "mark", Name: name}, &m, HelperTimeout)
	return m.LSN, err
}

// Rewind rewinds the volume mounted from dir to target: an LSN ("18233"),
// an RFC 3339 time, a duration ago ("5m") or a mark name. It is refused,
// and nothing changes, while files on the mount are open or when the
// target is outside the window.
func Rewind(dir, target string) (Rewound, error) {
	var r Rewound
	err := Call(dir, Request{Op: "rewind", Target: target}, &r, HelperTimeout)
	return r, err
}
