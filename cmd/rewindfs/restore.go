package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/rewindfs/rewindfs/archive"
	"github.com/rewindfs/rewindfs/lsn"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "make a new volume from an archive in object storage",
		ArgsUsage: "s3://BUCKET/PREFIX NEWVOLUME",
		Description: "Downloads the newest archived base image at or before the target (if any; otherwise\n" +
			"the chain starts at LSN 1) and the chain of segments after it into a new volume, checking each\n" +
			"object's size and CRC-32C against the manifest, then every record, then that the state\n" +
			"rebuilds. A gap in the chain or a bad object is an error naming the object, and nothing\n" +
			"is left at NEWVOLUME. The new volume has the archived volume's identity and settings but\n" +
			"no archive of its own; mount it anywhere. Four objects download at a time.\n\n" +
			"The volume is built in .NEWVOLUME.restoring beside NEWVOLUME and renamed into place at the\n" +
			"end. A restore cut short (the store unreachable, a full disk, Ctrl-C, a crash) leaves that\n" +
			"directory; run the same command again and it keeps every object already there whole (same\n" +
			"size and CRC-32C as the manifest) and downloads the rest. Remove it to start over.\n\n" +
			"--at TARGET restores the state at TARGET: an LSN downloads the segments through the one\n" +
			"holding it, a time (or duration ago) those through the last one that starts at or before\n" +
			"it (the state the volume had then), a mark every segment; the new volume is then rewound\n" +
			"offline to the target (a rewind record is appended; what follows the target in the last\n" +
			"segment stays as an abandoned timeline).\n\n" +
			"Examples:\n" +
			"  rewindfs restore s3://backups/pg-main /var/lib/rewindfs/pg-copy --endpoint http://10.0.0.5:8333\n" +
			"  rewindfs restore s3://backups/pg-main /var/lib/rewindfs/pg-yesterday --at 2026-11-24T10:15:00Z",
		Flags: append(archiveFlags(),
			&cli.StringFlag{Name: "at", Usage: "restore the state at `TARGET` (LSN, time, duration ago, mark); default: the newest archived"},
			&cli.BoolFlag{Name: "progress", Value: term.IsTerminal(int(os.Stderr.Fd())), Usage: "show a progress bar on stderr (default: when stderr is a terminal)"},
			&cli.BoolFlag{Name: "json", Usage: "print what was restored as one JSON object"},
		),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, "s3://BUCKET/PREFIX NEWVOLUME"); err != nil {
				return err
			}
			return runRestore(c, c.Args().Get(0), c.Args().Get(1), false)
		},
	}
}

// runRestore restores the archive at url into the new volume dst, with the
// restore flags of c (--at, --endpoint, --credentials-file, --progress,
// --json); branch makes dst a clone of the archived volume (rewindfs clone
// s3://...).
func runRestore(c *cli.Context, url, dst string, branch bool) error {
	var at *lsn.Target
	if s := c.String("at"); s != "" {
		t, err := lsn.ParseTarget(s, time.Now())
		if err != nil {
			return err
		}
		at = &t
	}
	b, err := connectArchive(url, c.String("endpoint"), c.String("credentials-file"))
	if err != nil {
		return err
	}
	o := archive.RestoreOptions{Dir: dst, At: at, Branch: branch}
	var bar *progressbar.ProgressBar
	if c.Bool("progress") {
		o.Started = func(total int64) {
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription("restoring"),
				progressbar.OptionShowBytes(true),
				progressbar.OptionShowTotalBytes(true),
				progressbar.OptionShowCount(),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionClearOnFinish(),
			)
		}
		o.Progress = func(n int) { _ = bar.Add(n) }
	}
	// Ctrl-C or a TERM ends the downloads cleanly, keeping what arrived
	// for the next run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := archive.Restore(ctx, b, o)
	if bar != nil {
		if err == nil {
			_ = bar.Finish()
		} else {
			_ = bar.Clear() // the error line starts at the left margin
		}
	}
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(rep)
	}
	speed := float64(rep.Bytes-rep.ReusedBytes) / (1 << 20) / max(rep.Seconds, 1e-3) // what came over the network
	from := "from LSN 1:"
	if rep.BaseLSN != 0 {
		from = fmt.Sprintf("base image at LSN %d (%d object(s), %s) +", rep.BaseLSN, rep.BaseObjects, humanBytes(rep.BaseBytes))
	}
	fmt.Printf("restored %s from %s (manifest %d): %s %d segment(s), %s in all, LSN %d..%d, in %.1fs (%.1f MiB/s)\n",
		rep.Volume, rep.Archive, rep.Manifest, from, rep.Segments, humanBytes(rep.Bytes), rep.FirstLSN, rep.LastLSN, rep.Seconds, speed)
	if rep.ReusedBytes > 0 {
		fmt.Printf("resumed: %s of it was kept from an interrupted restore, checked, and not downloaded again\n", humanBytes(rep.ReusedBytes))
	}
	if rep.RewindLSN != 0 {
		fmt.Printf("rewound to LSN %d (%s); rewind record LSN %d\n", rep.Target, fmtTime(rep.TargetAt), rep.RewindLSN)
	} else {
		fmt.Printf("state at LSN %d (%s); mount it with `rewindfs mount %s MOUNTPOINT`\n", rep.Target, fmtTime(rep.TargetAt), rep.Volume)
	}
	if rep.ParentID != "" {
		fmt.Printf("a clone: volume ID %s, branched from volume %s at LSN %d\n", rep.VolumeID, rep.ParentID, rep.Target)
	}
	return nil
}
