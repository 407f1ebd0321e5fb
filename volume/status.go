package volume

import (
	"time"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
)

// Status is what `rewindfs status` reports. The JSON names are part of the
// command line contract (DESIGN.md): add fields, never rename them.
type Status struct {
	Volume       string    `json:"volume"`
	Mounted      bool      `json:"mounted"`
	Mountpoint   string    `json:"mountpoint,omitempty"`
	PID          int       `json:"pid,omitempty"`
	ReadOnly     bool      `json:"read_only,omitempty"`
	HeadLSN      lsn.LSN   `json:"head_lsn"`
	HeadTime     time.Time `json:"head_time"`
	DurableLSN   lsn.LSN   `json:"durable_lsn"`
	EarliestLSN  lsn.LSN   `json:"earliest_lsn"`
	EarliestTime time.Time `json:"earliest_time"`
	BaseLSN      lsn.LSN   `json:"base_lsn"`
	Window       string    `json:"window"`
	WindowActual string    `json:"window_actual"`
	LogBytes     int64     `json:"log_bytes"`
	Records      int       `json:"records"`
	Segments     int       `json:"segments"`
	OpenFiles    int       `json:"open_files"`
	LastSyncLSN  lsn.LSN   `json:"last_sync_lsn"`
	PageSize     int       `json:"page_size"`
	Compression  string    `json:"compression"`
	Files        int       `json:"files"`
	Timeline     []Branch  `json:"timeline"`
	Marks        []Mark    `json:"marks"`
}

// Branch is one rewind on the volume's history.
type Branch struct {
	LSN    lsn.LSN   `json:"lsn"`
	Time   time.Time `json:"time"`
	Target lsn.LSN   `json:"target"`
}

// Mark is a named sync point.
type Mark struct {
	Name string  `json:"name"`
	LSN  lsn.LSN `json:"lsn"`
}

// Status reports the volume's state.
func (v *Volume) Status() Status {
	v.mu.RLock()
	defer v.mu.RUnlock()
	w := v.hist.Window()
	s := Status{
		Volume:       v.Dir,
		ReadOnly:     v.readOnly,
		HeadLSN:      v.st.Head,
		HeadTime:     time.Unix(0, v.st.HeadTime).UTC(),
		DurableLSN:   v.log.Durable(),
		EarliestLSN:  w.EarliestLSN,
		EarliestTime: time.Unix(0, w.EarliestTime).UTC(),
		BaseLSN:      v.hist.Base(),
		Window:       v.Settings.Window,
		WindowActual: time.Duration(w.LatestTime - w.EarliestTime).Round(time.Second).String(),
		LogBytes:     v.log.Bytes(),
		Records:      v.hist.Len(),
		Segments:     len(v.log.Segments()),
		OpenFiles:    v.nopen,
		PageSize:     v.Settings.PageSize,
		Compression:  v.Settings.Compression,
		Files:        len(v.st.Inodes),
		Timeline:     []Branch{},
		Marks:        []Mark{},
	}
	s.LastSyncLSN = v.hist.LastSync()
	for _, l := range v.hist.Rewinds() {
		e, _ := v.hist.Entry(l)
		if op, err := fsstate.DecodeMeta(e.Type, e.Meta); err == nil {
			s.Timeline = append(s.Timeline, Branch{LSN: e.LSN, Time: time.Unix(0, e.Time).UTC(), Target: lsn.LSN(op.RewindTo)})
		}
	}
	for name, l := range v.hist.Marks() {
		s.Marks = append(s.Marks, Mark{Name: name, LSN: l})
	}
	return s
}
