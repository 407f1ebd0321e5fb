package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

func markCommand() *cli.Command {
	return &cli.Command{
		Name:      "mark",
		Usage:     "name the current sync point",
		ArgsUsage: "VOLUME|MOUNTPOINT NAME",
		UsageText: "rewindfs mark VOLUME|MOUNTPOINT NAME [--keep]\n   rewindfs mark VOLUME|MOUNTPOINT NAME --delete",
		Description: "Syncs, then records NAME for the newest sync point. NAME can then be given wherever a\n" +
			"TARGET is (rewindfs rewind VOL --to NAME). A name that reads as an LSN, time or duration\n" +
			"is refused.\n\n" +
			"Example:\n" +
			"  rewindfs mark /srv/pg before-migration",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep", Usage: "keep the marked state restorable after it leaves the window: compaction stops at it until the mark is replaced by one without --keep"},
			&cli.BoolFlag{Name: "delete", Usage: "delete the mark NAME instead (a kept mark then no longer holds compaction)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, "VOLUME|MOUNTPOINT NAME"); err != nil {
				return err
			}
			t, err := resolve(c.Args().Get(0))
			if err != nil {
				return err
			}
			name := c.Args().Get(1)
			if c.Bool("delete") {
				return deleteMark(t, name)
			}
			if err := lsn.ValidMarkName(name); err != nil {
				return err
			}
			var m volume.Mark
			if volume.Locked(t.volume) {
				err = control.Call(t.volume, control.Request{Op: "mark", Name: name, Keep: c.Bool("keep")}, &m, time.Minute)
			} else {
				var v *volume.Volume
				if v, err = volume.Open(t.volume, volume.Options{Purpose: "mark", Logf: func(string, ...any) {}}); err == nil {
					m.Name = name
					m.LSN, err = v.Mark(name, c.Bool("keep"))
					if cerr := v.Close(); err == nil {
						err = cerr
					}
				}
			}
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(m)
			}
			fmt.Printf("mark %s = LSN %d\n", m.Name, m.LSN)
			return nil
		},
	}
}

func deleteMark(t target, name string) error {
	var err error
	if volume.Locked(t.volume) {
		err = control.Call(t.volume, control.Request{Op: "mark", Name: name, Delete: true}, nil, time.Minute)
	} else {
		var v *volume.Volume
		if v, err = volume.Open(t.volume, volume.Options{Purpose: "mark", Logf: func(string, ...any) {}}); err == nil {
			err = v.Unmark(name)
			if cerr := v.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		return err
	}
	fmt.Printf("mark %s deleted\n", name)
	return nil
}
