package daemon

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// handle answers one control request.
// A read-only view answers status and unmount only.
func (d *daemon) handle(req control.Request) (any, error) {
	if d.v.ReadOnly() && req.Op != "status" && req.Op != "unmount" {
		return nil, fmt.Errorf("%s is a read-only view of %s; %s the volume or its read-write mount point", d.mnt, d.v.Dir, req.Op)
	}
	switch req.Op {
	case "status":
		s := d.v.Status()
		s.Mounted, s.Mountpoint, s.PID = true, d.mnt, os.Getpid()
		d.archiveStatus(&s)
		s.MetricsAddr = d.metricsAddr()
		return s, nil
	case "sync":
		return nil, d.v.Sync()
	case "unmount":
		if err := d.unmount(); err != nil {
			return nil, err
		}
		return nil, nil
	case "rewind":
		return d.rewind(req)
	case "compact":
		return compactNow(d.v, 10*time.Minute)
	case "reload":
		st, err := volume.ReadSettings(d.v.Dir)
		if err != nil {
			return nil, err
		}
		d.v.SetPolicy(st)
		log.Printf("retention changed: window %s, max log bytes %d", st.Window, st.MaxLogBytes)
		return nil, d.reloadArchive(st)
	case "diff":
		return d.diff(req)
	case "mark":
		if req.Delete {
			return nil, d.v.Unmark(req.Name)
		}
		if err := lsn.ValidMarkName(req.Name); err != nil {
			return nil, err
		}
		l, err := d.v.Mark(req.Name, req.Keep)
		if err != nil {
			return nil, fmt.Errorf("mark %q: %w", req.Name, err)
		}
		return volume.Mark{Name: req.Name, LSN: l}, nil
	}
	return nil, fmt.Errorf("unknown control request %q", req.Op)
}

func (d *daemon) rewind(req control.Request) (any, error) {
	d.rewindMu.Lock()
	defer d.rewindMu.Unlock()
	t, err := lsn.ParseTarget(req.Target, time.Now())
	if err != nil {
		return nil, err
	}
	target, err := d.v.Resolve(t)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return d.v.Plan(target)
	}
	start := time.Now()
	plan, err := d.fs.Rewind(target)
	d.mx.Rewound(time.Since(start), err)
	if err != nil {
		return nil, err
	}
	log.Printf("rewound to LSN %d (%s) in %s: %d records undone, %d redone; rewind record %d",
		plan.To, plan.ToTime.Format(time.RFC3339Nano), time.Since(start).Round(time.Microsecond), plan.Undone, plan.Redone, plan.RewindLSN)
	return plan, nil
}
