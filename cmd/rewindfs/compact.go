package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/daemon"
	"github.com/rewindfs/rewindfs/volume"
)

func compactCommand() *cli.Command {
	return &cli.Command{
		Name:      "compact",
		Usage:     "fold the history older than the window into the base image now",
		ArgsUsage: "VOLUME|MOUNTPOINT",
		Description: "A mounted volume compacts itself in the background every second; this runs compaction\n" +
			"now, until nothing older than the window is left (or something holds it: a mounted\n" +
			"read-only view or a kept mark, which it names). Records older than the window are folded\n" +
			"into the base image and the segments that hold nothing newer are deleted. States older\n" +
			"than the new base can no longer be restored.\n\n" +
			"Example:\n" +
			"  rewindfs compact /srv/pg",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
			quietFlag,
		},
		Action: func(c *cli.Context) error {
			t, err := resolveArg(c, "VOLUME|MOUNTPOINT")
			if err != nil {
				return err
			}
			if t.view {
				return fmt.Errorf("%s is a read-only view; compact the volume %s", t.mountpoint, t.volume)
			}
			p := newProgress(c.Bool("quiet"), "compacting", 0, false)
			var r volume.CompactReport
			if volume.Locked(t.volume) {
				err = control.Call(t.volume, control.Request{Op: "compact"}, &r, 15*time.Minute)
			} else {
				var v *volume.Volume
				if v, err = volume.Open(t.volume, volume.Options{Purpose: "compact", Logf: func(f string, a ...any) {
					p.println(f, a...)
				}}); err == nil {
					daemon.KeepUnarchived(v) // never delete a segment the archive has not confirmed
					r, err = daemon.CompactNow(v)
					if cerr := v.Close(); err == nil {
						err = cerr
					}
				}
			}
			p.done()
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(r)
			}
			fmt.Printf("base LSN %d -> %d: %d files written (%d pages), %d segments deleted (%s freed) in %.2fs\n",
				r.FromLSN, r.ToLSN, r.FilesWritten, r.PagesCopied, r.SegmentsRemoved, humanBytes(r.BytesFreed), r.Seconds)
			if r.HeldBy != "" {
				fmt.Printf("held back by %s: history older than the window stays until it goes\n", r.HeldBy)
			}
			return nil
		},
	}
}
