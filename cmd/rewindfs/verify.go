package main

import (
	"fmt"
	"path/filepath"

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
			"record is named by segment, offset and LSN.",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "VOLUME"); err != nil {
				return err
			}
			dir := c.Args().Get(0)
			if _, err := volume.ReadSettings(dir); err != nil {
				return err
			}
			rep, err := pagelog.Verify(filepath.Join(dir, volume.LogDir), nil)
			if err != nil {
				return fmt.Errorf("verify %s: %w", dir, err)
			}
			v, err := volume.Open(dir, volume.Options{ReadOnly: true, Logf: func(string, ...any) {}})
			if err != nil {
				return fmt.Errorf("verify %s: %w", dir, err)
			}
			s := v.Status()
			v.Close()
			fmt.Printf("ok: %d records in %d segment(s), %s; head LSN %d; state rebuilds (%d inodes)\n",
				rep.Records, rep.Segments, humanBytes(rep.Bytes), rep.Head, s.Files)
			return nil
		},
	}
}
