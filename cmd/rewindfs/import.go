package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/rewindfs/rewindfs/importer"
	"github.com/rewindfs/rewindfs/volume"
)

// importSettings are the flags of init that import shares: the new
// volume's settings. They are taken from init's own definitions, so that
// the two commands cannot drift apart.
var importSettings = []string{"window", "max-log-bytes", "page-size", "compression", "segment-size"}

func importCommand() *cli.Command {
	flags := []cli.Flag{}
	for _, f := range initCommand().Flags {
		if contains(importSettings, f.Names()[0]) {
			flags = append(flags, f)
		}
	}
	flags = append(flags,
		&cli.StringFlag{Name: "mark", Value: importer.DefaultMark, Usage: "name the import point `NAME` (a TARGET for rewind, mount --at, diff)"},
		&cli.BoolFlag{Name: "keep", Value: true, Usage: "keep the mark: the import point stays restorable after it leaves the window (--keep=false: it goes with the window)"},
		&cli.BoolFlag{Name: "force", Usage: "import a directory whose postmaster.pid names a live PostgreSQL (the copy may be inconsistent)"},
		&cli.BoolFlag{Name: "progress", Value: term.IsTerminal(int(os.Stderr.Fd())), Usage: "show a progress bar on stderr (default: when stderr is a terminal)"},
		&cli.BoolFlag{Name: "json", Usage: "print what was imported as one JSON object"},
	)
	return &cli.Command{
		Name:      "import",
		Usage:     "make a new volume from an existing directory",
		ArgsUsage: "DIR NEWVOLUME",
		Description: "Copies DIR (the data directory of a stopped database, or any tree) into a new volume, so\n" +
			"that the copy is the volume's first restorable point, named by a mark (\"import\", kept:\n" +
			"`rewindfs rewind VOLUME --to import` works after any later writes; `rewindfs mark VOLUME\n" +
			"import --delete` lets it go). The copy keeps modes (set-ID and sticky bits too), owners,\n" +
			"access and modification times, hard links, symbolic links as they are, holes of sparse\n" +
			"files (never written as zeros), extended attributes (user.*, trusted.*, security.*), FIFOs\n" +
			"and device nodes. POSIX ACLs are not supported by the volume: they are skipped with a\n" +
			"warning. DIR is not changed. The imported data is folded into the base image at once.\n\n" +
			"NEWVOLUME must not exist or be an empty directory, and neither may be inside the other.\n" +
			"The volume is built beside NEWVOLUME and renamed into place at the end: an error (an\n" +
			"unreadable file, a full disk, Ctrl-C) leaves nothing. A DIR whose postmaster.pid names a\n" +
			"live PostgreSQL is refused unless --force: stop the database first.\n\n" +
			"Examples:\n" +
			"  pg_ctl -D /srv/pg/data stop -m fast\n" +
			"  rewindfs import /srv/pg /var/lib/rewindfs/pg --window 24h\n" +
			"  mv /srv/pg /srv/pg.old && mkdir /srv/pg\n" +
			"  rewindfs mount /var/lib/rewindfs/pg /srv/pg --allow-other\n" +
			"  pg_ctl -D /srv/pg/data start\n" +
			"  rewindfs import /srv/app /var/lib/rewindfs/app --mark before-rewindfs --json",
		Flags: flags,
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, "DIR NEWVOLUME"); err != nil {
				return err
			}
			if err := refuseZero(c, "window", "page-size", "segment-size"); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			o := importer.Options{
				Source: c.Args().Get(0), Volume: c.Args().Get(1),
				Init: volume.InitOptions{
					Window: c.Duration("window"), MaxLogBytes: c.Int64("max-log-bytes"),
					PageSize: c.Int("page-size"), Compression: c.String("compression"), SegmentSize: c.Int64("segment-size"),
				},
				Mark: c.String("mark"), KeepMark: c.Bool("keep"), Force: c.Bool("force"),
			}
			var done atomic.Int64
			var p *progress
			o.Started = func(total int64) {
				p = newProgress(!c.Bool("progress"), "importing", total, true).track(&done)
			}
			o.Progress = func(n int64) { done.Add(n) }
			o.Folding = func() {
				if p != nil {
					p.done()
				}
				p = newProgress(!c.Bool("progress"), "folding into the base image", 0, false)
			}
			o.Warn = func(format string, args ...any) {
				if p != nil {
					p.println("rewindfs: warning: "+format, args...)
					return
				}
				fmt.Fprintf(os.Stderr, "rewindfs: warning: "+format+"\n", args...)
			}
			rep, err := importer.Import(ctx, o)
			if p != nil {
				p.done()
			}
			if err != nil {
				return fmt.Errorf("import %s into %s: %w", o.Source, o.Volume, err)
			}
			if c.Bool("json") {
				return printJSON(rep)
			}
			fmt.Printf("imported %s into %s in %.1fs (%.1f MiB/s): %d file(s), %d director(ies), %d symlink(s), %d hard link(s), %d special file(s)\n",
				rep.Source, rep.Volume, rep.Seconds, rep.MiBPerSecond, rep.Files, rep.Dirs, rep.Symlinks, rep.HardLinks, rep.Specials)
			fmt.Printf("  %s of data copied, %s in %d hole(s) not written, %d extended attribute(s)",
				humanBytes(rep.Bytes), humanBytes(rep.HoleBytes), rep.Holes, rep.Xattrs)
			if rep.ACLsSkipped > 0 {
				fmt.Printf(", %d POSIX ACL(s) skipped", rep.ACLsSkipped)
			}
			fmt.Println()
			kept := ""
			if rep.MarkKept {
				kept = "kept "
			}
			fmt.Printf("  import point: %smark %q at LSN %d, folded into the base image; head LSN %d\n", kept, rep.Mark, rep.MarkLSN, rep.HeadLSN)
			fmt.Printf("mount it with `rewindfs mount %s MOUNTPOINT`; `rewindfs rewind %s --to %s` returns to the imported state\n", rep.Volume, rep.Volume, rep.Mark)
			return nil
		},
	}
}
