package daemon

import (
	"fmt"
	"time"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/lsn"
)

// diff compares state(req.From) with state(req.Target) on the daemon's
// history, so that `rewindfs diff` on a mounted volume does not read the log
// again.
func (d *daemon) diff(req control.Request) (any, error) {
	now := time.Now()
	from, err := lsn.ParseTarget(req.From, now)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	to := lsn.Target{Kind: lsn.TargetLSN, LSN: d.v.Head()} // no target: the live state
	if req.Target != "" {
		if to, err = lsn.ParseTarget(req.Target, now); err != nil {
			return nil, fmt.Errorf("--to: %w", err)
		}
	}
	return d.v.Diff(from, to)
}
