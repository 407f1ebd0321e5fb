package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

func cloneCommand() *cli.Command {
	return &cli.Command{
		Name:      "clone",
		Usage:     "make a new, writable volume that starts at a state of another",
		ArgsUsage: "VOLUME|MOUNTPOINT|s3://BUCKET/PREFIX NEWVOLUME [--at TARGET]",
		Description: "Creates NEWVOLUME, an independent volume whose live state is state(TARGET) of VOLUME, like\n" +
			"Aurora's clone or Neon's branch. Mount it beside the original: writes to either never\n" +
			"reach the other. TARGET is what rewind --to takes (an LSN, a time, a duration ago, a mark)\n" +
			"and must be inside VOLUME's window; by default the clone starts at VOLUME's newest state.\n" +
			"A mounted VOLUME is asked to sync first, so the clone starts at a durable state.\n\n" +
			"The clone shares VOLUME's history up to TARGET: its sealed log segments are hard-linked\n" +
			"(they never change), so cloning a long history takes about as long as opening it. The\n" +
			"base image (what compaction folded) is copied, reflinked where the file system can. The\n" +
			"clone can rewind to any state of that shared history still in its window. It takes\n" +
			"VOLUME's settings (--window and --max-log-bytes override them) and marks up to TARGET,\n" +
			"but never its archive. VOLUME is only read. NEWVOLUME must not exist or be empty, on\n" +
			"the same file system as VOLUME to share segments (otherwise they are copied).\n\n" +
			"From an archive (s3://BUCKET/PREFIX, with restore's --endpoint and --credentials-file),\n" +
			"clone is a restore whose new volume gets an ID of its own and records the archived\n" +
			"volume as its parent, with the LSN it branched at (TARGET resolved; default the newest).\n\n" +
			"Examples:\n" +
			"  rewindfs clone /var/lib/rewindfs/pg /var/lib/rewindfs/pg-test\n" +
			"  rewindfs clone /srv/pg /var/lib/rewindfs/pg-before --at before-migration\n" +
			"  rewindfs clone /var/lib/rewindfs/pg /var/lib/rewindfs/pg-1h --at 1h --window 2h\n" +
			"  rewindfs clone s3://backups/pg-main /var/lib/rewindfs/pg-branch --at 2026-11-24T10:15:00Z --endpoint http://10.0.0.5:8333\n" +
			"  rewindfs mount /var/lib/rewindfs/pg-before /srv/pg-before",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "at", Usage: "the `TARGET` state of VOLUME the clone starts at", DefaultText: "its newest state"},
			&cli.DurationFlag{Name: "window", Usage: "the clone's window", DefaultText: "VOLUME's"},
			&cli.Int64Flag{Name: "max-log-bytes", Usage: "the clone's cap on its log's size (0: no cap)", DefaultText: "VOLUME's"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
			&cli.BoolFlag{Name: "progress", Value: term.IsTerminal(int(os.Stderr.Fd())), Usage: "from an archive: show a progress bar on stderr (default: when stderr is a terminal)"},
		}, archiveFlags()...),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, "VOLUME|MOUNTPOINT|s3://BUCKET/PREFIX NEWVOLUME [--at TARGET]"); err != nil {
				return err
			}
			if src := c.Args().Get(0); strings.HasPrefix(src, "s3://") {
				if c.IsSet("window") || c.IsSet("max-log-bytes") {
					return errors.New("--window and --max-log-bytes are for a local clone; a clone from an archive takes the archived volume's settings (change them with rewindfs config)")
				}
				return runRestore(c, src, c.Args().Get(1), true)
			}
			if c.IsSet("endpoint") || c.IsSet("credentials-file") {
				return errors.New("--endpoint and --credentials-file are for a clone from an archive (s3://BUCKET/PREFIX)")
			}
			t, err := resolve(c.Args().Get(0))
			if err != nil {
				return err
			}
			if t.view {
				return fmt.Errorf("%s is a read-only view; clone the volume %s (with --at for a past state)", c.Args().Get(0), t.volume)
			}
			var o volume.CloneOptions
			if c.IsSet("at") {
				at, err := lsn.ParseTarget(c.String("at"), time.Now())
				if err != nil {
					return err
				}
				o.Target = &at
			}
			if c.IsSet("window") {
				w := c.Duration("window")
				o.Window = &w
			}
			if c.IsSet("max-log-bytes") {
				n := c.Int64("max-log-bytes")
				o.MaxLogBytes = &n
			}
			if volume.Locked(t.volume) {
				o.Durable = func() (lsn.LSN, error) { return syncMounted(t.volume) }
			}
			rep, err := volume.Clone(t.volume, c.Args().Get(1), o)
			if err != nil {
				return explainCloneError(err, t.volume, c.Args().Get(1))
			}
			if c.Bool("json") {
				return printJSON(rep)
			}
			printClone(rep)
			return nil
		},
	}
}

// syncMounted asks a mounted volume's daemon to sync and returns the LSN
// through which its log is durable. A lock held by something other than
// a daemon (an offline rewind or compaction) is no mount: it has nothing
// to ask, and whatever that command has written whole is read as it is.
func syncMounted(dir string) (lsn.LSN, error) {
	if err := control.Call(dir, control.Request{Op: "sync"}, nil, time.Minute); err != nil {
		return 0, err
	}
	var s volume.Status
	if err := control.Call(dir, control.Request{Op: "status"}, &s, time.Minute); err != nil {
		return 0, err
	}
	return s.DurableLSN, nil
}

// explainCloneError adds the fix to errors that lack one.
func explainCloneError(err error, vol, dst string) error {
	switch {
	case errors.Is(err, control.ErrNoDaemon):
		return fmt.Errorf("%s is in use by another command and no daemon answers; retry when it is done: %w", vol, err)
	case errors.Is(err, volume.ErrNotVolume):
		return fmt.Errorf("%w; give the directory of a volume (rewindfs init makes one) or the mount point of one", err)
	case errors.Is(err, volume.ErrNotEmpty), errors.Is(err, volume.ErrExists):
		return fmt.Errorf("clone into %s: %w", dst, err)
	}
	return err
}

func printClone(r volume.CloneReport) {
	fmt.Printf("cloned %s at LSN %d (%s) into %s in %.2fs\n", r.Parent, r.LSN, fmtTime(r.Time), r.Volume, r.Seconds)
	fmt.Printf("  log: %d segment(s) shared by hard link (%s)", r.SegmentsLinked, humanBytes(r.BytesLinked))
	if r.SegmentCopied != "" {
		fmt.Printf(", segment %s copied up to LSN %d", r.SegmentCopied, r.LSN)
	}
	fmt.Println()
	if r.PageFiles > 0 {
		fmt.Printf("  base image at LSN %d: %d page file(s) copied, %d of them reflinked\n", r.BaseLSN, r.PageFiles, r.Reflinked)
	}
	fmt.Printf("  %s copied in all; volume ID %s (parent %s)\n", humanBytes(r.BytesCopied), r.VolumeID, r.ParentID)
	if len(r.Marks) > 0 {
		fmt.Printf("  marks taken along: %s\n", strings.Join(r.Marks, ", "))
	}
	if r.ArchiveCleared != "" {
		fmt.Printf("  the clone does not archive: %s stays the parent's archive (clones cannot archive yet)\n", r.ArchiveCleared)
	}
}
