package main

import (
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/pagelog"
	"github.com/rewindfs/rewindfs/volume"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check every record of a volume's log",
		ArgsUsage: "VOLUME",
		Description: "Reads every record, checks every checksum and the LSN chain, and rebuilds the live\n" +
			"state from the log to check that every record applies. Changes nothing. The first bad\n" +
			"record is named by segment, offset and LSN. A long log shows progress on stderr (--quiet:\n" +
			"none).\n\n" +
			"Example:\n" +
			"  rewindfs verify /var/lib/rewindfs/pg",
		Flags: []cli.Flag{quietFlag},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "VOLUME"); err != nil {
				return err
			}
			dir := c.Args().Get(0)
			settings, err := volume.ReadSettings(dir)
			if err != nil {
				return err
			}
			// A clone's log shares its ancestors' segments, which carry
			// their IDs: its lineage names them.
			var ids [][16]byte
			if ancestors, _ := settings.AncestorIDs(); len(ancestors) > 0 {
				own, _ := settings.ID()
				ids = append([][16]byte{own}, ancestors...)
			}
			logDir := filepath.Join(dir, volume.LogDir)
			total := pagelog.ScanBytes(logDir)
			var read atomic.Int64
			p := newProgress(c.Bool("quiet"), "checking records", total, true).track(&read)
			rep, err := pagelog.VerifyVolumes(logDir, pagelog.CountReads(nil, &read), ids)
			p.done()
			if err != nil {
				return fmt.Errorf("verify %s: %w", dir, err)
			}
			var reread atomic.Int64
			p = newProgress(c.Bool("quiet"), "rebuilding the state", total, true).track(&reread)
			v, err := volume.Open(dir, volume.Options{ReadOnly: true, Logf: func(string, ...any) {}, FS: pagelog.CountReads(nil, &reread)})
			p.done()
			if err != nil {
				return fmt.Errorf("verify %s: %w", dir, err)
			}
			s := v.Status()
			v.Close()
			fmt.Printf("ok: %d records in %d segment(s), %s; head LSN %d; state rebuilds (%d inodes)\n",
				rep.Records, rep.Segments, humanBytes(rep.Bytes), rep.Head, s.Files)
			if rep.TornBytes > 0 {
				// Not the byte count: in a preallocated segment it counts
				// the reserved zeros too.
				fmt.Printf("torn tail after the last record: segment %s offset %d (%s); the next read-write mount cuts it and keeps a copy\n",
					rep.TornSegment, rep.TornOffset, rep.TornReason)
			}
			return nil
		},
	}
}
