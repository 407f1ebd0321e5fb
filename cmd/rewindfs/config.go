package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/archive"
	"github.com/rewindfs/rewindfs/control"
	"github.com/rewindfs/rewindfs/volume"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:      "config",
		Usage:     "show or change a volume's retention and archive settings",
		ArgsUsage: "VOLUME|MOUNTPOINT",
		Description: "Without flags, prints the settings. --window sets how much history is kept (any Go\n" +
			"duration from 1s); --max-log-bytes caps the log's size on disk (0: no cap). When the cap\n" +
			"keeps less than the window, status warns and shows the window actually kept. A mounted\n" +
			"volume takes the change at once; a shorter window takes effect at the next compaction.\n\n" +
			"--archive s3://BUCKET/PREFIX starts archiving an existing volume (mounted or not): the\n" +
			"URL, the credentials and the bucket are checked first, and a prefix that holds another\n" +
			"volume's archive is refused; on any error nothing is changed. --archive-endpoint and\n" +
			"--archive-credentials-file not given stay as they were. --archive none stops archiving:\n" +
			"nothing is deleted from the archive (it can still be restored), and the local segments\n" +
			"kept for it are left to compaction. --archive-interval is how old the newest unarchived\n" +
			"records may get before the daemon seals the active segment so that it is uploaded.\n" +
			"--archive-window and --archive-base-every change the archive's retention and how often\n" +
			"a base image goes up, as at init; a shorter window drops objects at the next manifest.\n\n" +
			"Examples:\n" +
			"  rewindfs config /srv/pg --window 72h --max-log-bytes 50000000000\n" +
			"  rewindfs config /srv/pg --archive s3://backups/pg-main --archive-endpoint http://10.0.0.5:8333\n" +
			"  rewindfs config /srv/pg --archive none",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "window", Usage: "how much history to keep"},
			&cli.Int64Flag{Name: "max-log-bytes", Usage: "cap on the log's size on disk (0: no cap)"},
			&cli.StringFlag{Name: "archive", Usage: "archive to `s3://BUCKET/PREFIX`, or none to stop archiving"},
			&cli.StringFlag{Name: "archive-endpoint", Usage: "the archive's S3 server, `URL` http(s)://HOST[:PORT] (empty: Amazon S3)"},
			&cli.StringFlag{Name: "archive-credentials-file", Usage: "an AWS shared credentials `FILE`, used when the variables are not set"},
			&cli.DurationFlag{Name: "archive-interval", Usage: "seal the active segment for the archive when its oldest record is this old (from 1s; default 1m)"},
			&cli.StringFlag{Name: "archive-window", Usage: "keep the archive restorable this far back, `DURATION` like 30d (0: keep everything)"},
			&cli.StringFlag{Name: "archive-base-every", Usage: "upload a base image after `SIZE` of log or DURATION, whichever first: 1GiB, 24h or 1GiB,24h"},
			&cli.BoolFlag{Name: "json", Usage: "print the settings as JSON"},
		},
		Action: func(c *cli.Context) error {
			t, err := resolveArg(c, "VOLUME|MOUNTPOINT")
			if err != nil {
				return err
			}
			s, err := volume.ReadSettings(t.volume)
			if err != nil {
				return err
			}
			// Everything is checked before anything is written.
			var ret *volume.RetentionChange
			if c.IsSet("window") || c.IsSet("max-log-bytes") {
				ret = &volume.RetentionChange{}
				if c.IsSet("window") {
					w := c.Duration("window")
					if w < time.Second {
						return fmt.Errorf("window %s: give at least 1s", w)
					}
					ret.Window = &w
				}
				if c.IsSet("max-log-bytes") {
					m := c.Int64("max-log-bytes")
					if m < 0 {
						return fmt.Errorf("max log bytes %d is negative (0 means no cap)", m)
					}
					ret.MaxLogBytes = &m
				}
			}
			arch, err := archiveChange(c, t.volume, s)
			if err != nil {
				return err
			}
			if ret == nil && arch == nil {
				return printSettings(c, s)
			}
			old := *s
			if ret != nil {
				if s, err = volume.UpdateRetention(t.volume, *ret); err != nil {
					return err
				}
			}
			if arch != nil {
				if s, err = volume.UpdateArchive(t.volume, *arch); err != nil {
					return err
				}
			}
			if volume.Locked(t.volume) {
				if err := control.Call(t.volume, control.Request{Op: "reload"}, nil, time.Minute); err != nil {
					// The daemon could not take the change up (for example
					// it runs without the credentials): put the settings
					// back, so that nothing changed.
					if _, rerr := restoreSettings(t.volume, &old); rerr != nil {
						return fmt.Errorf("the mounted daemon refused the change (%v), and putting the old settings back failed: %v", err, rerr)
					}
					_ = control.Call(t.volume, control.Request{Op: "reload"}, nil, time.Minute)
					return fmt.Errorf("the mounted daemon refused the change, nothing changed: %w", err)
				}
			}
			if arch != nil && arch.Archive != nil {
				if *arch.Archive == "" && old.Archive != "" {
					fmt.Printf("archiving to %s stopped; nothing was deleted from it (restore it with `rewindfs restore %s NEWVOLUME`)\n", old.Archive, old.Archive)
				} else if *arch.Archive != "" {
					fmt.Printf("archiving sealed segments to %s while mounted\n", *arch.Archive)
				}
			}
			return printSettings(c, s)
		},
	}
}

// restoreSettings writes back the settings config found.
func restoreSettings(dir string, s *volume.Settings) (*volume.Settings, error) {
	w, err := s.WindowDuration()
	if err != nil {
		return nil, err
	}
	m := s.MaxLogBytes
	if _, err := volume.UpdateRetention(dir, volume.RetentionChange{Window: &w, MaxLogBytes: &m}); err != nil {
		return nil, err
	}
	iv := time.Duration(0)
	if s.ArchiveInterval != "" {
		iv = s.ArchiveIntervalDuration()
	}
	return volume.UpdateArchive(dir, volume.ArchiveChange{Archive: &s.Archive, ArchiveEndpoint: &s.ArchiveEndpoint,
		ArchiveCredentialsFile: &s.ArchiveCredentialsFile, ArchiveInterval: &iv})
}

// archiveChange turns config's archive flags into a change (nil: none),
// after checking that the archive can be used: the URL, the credentials,
// the bucket, that the prefix holds no other volume's archive, and that
// the volume still has the records the archive would need.
func archiveChange(c *cli.Context, dir string, s *volume.Settings) (*volume.ArchiveChange, error) {
	var ch volume.ArchiveChange
	any := false
	if c.IsSet("archive-interval") {
		d := c.Duration("archive-interval")
		if d < time.Second {
			return nil, fmt.Errorf("archive interval %s: give at least 1s", d)
		}
		ch.ArchiveInterval, any = &d, true
	}
	if c.IsSet("archive-window") {
		d := time.Duration(0)
		if v := c.String("archive-window"); v != "0" {
			var err error
			if d, err = volume.ParseLongDuration(v); err != nil {
				return nil, fmt.Errorf("--archive-window: %w", err)
			}
		}
		ch.ArchiveWindow, any = &d, true
	}
	if c.IsSet("archive-base-every") {
		n, d, err := parseBaseEvery(c.String("archive-base-every"))
		if err != nil {
			return nil, fmt.Errorf("--archive-base-every: %w", err)
		}
		ch.ArchiveBaseEveryBytes, ch.ArchiveBaseEvery, any = &n, &d, true
	}
	if any && s.Archive == "" && !c.IsSet("archive") {
		return nil, errors.New("--archive-interval, --archive-window and --archive-base-every need an archive: give --archive s3://BUCKET/PREFIX")
	}
	endpointSet, credSet := c.IsSet("archive-endpoint"), c.IsSet("archive-credentials-file")
	if !c.IsSet("archive") && !endpointSet && !credSet {
		if !any {
			return nil, nil
		}
		return &ch, nil
	}
	url, endpoint, cred := s.Archive, s.ArchiveEndpoint, s.ArchiveCredentialsFile
	if c.IsSet("archive") {
		url = c.String("archive")
	}
	if endpointSet {
		endpoint = c.String("archive-endpoint")
	}
	if credSet {
		cred = c.String("archive-credentials-file")
	}
	if url == "none" {
		if endpointSet || credSet {
			return nil, errors.New("--archive none turns the archive off; it takes no --archive-endpoint or --archive-credentials-file")
		}
		empty := ""
		ch.Archive = &empty
		return &ch, nil
	}
	if url == "" {
		return nil, errors.New("--archive-endpoint and --archive-credentials-file need an archive: give --archive s3://BUCKET/PREFIX")
	}
	if cred != "" {
		abs, err := filepath.Abs(cred)
		if err != nil {
			return nil, err
		}
		cred = abs // the daemon may run in another directory
	}
	b, err := connectArchive(url, endpoint, cred)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), archiveTimeout)
	defer cancel()
	if err := b.Check(ctx); err != nil {
		return nil, err
	}
	var through uint64
	seq, err := archive.FindLatest(ctx, b, 0)
	if err != nil {
		return nil, err
	}
	if seq > 0 {
		m, _, err := archive.ReadManifest(ctx, b, seq)
		if err != nil {
			return nil, err
		}
		if m.VolumeID != s.VolumeID {
			return nil, fmt.Errorf("%s already holds the archive of volume %s, this is volume %s; give each volume its own prefix", url, m.VolumeID, s.VolumeID)
		}
		through = uint64(m.ArchivedThrough)
	}
	// A new archive of a volume whose log no longer starts at LSN 1 begins
	// with its base image; an existing one must go on where it ends.
	if first := oldestSegment(dir); through > 0 && first > through+1 {
		return nil, fmt.Errorf("the log of %s starts at LSN %d (older records were compacted into the base image), but the archive at %s ends at LSN %d: give the volume a new prefix (its archive then begins with the base image)",
			dir, first, url, through)
	}
	normURL := b.String()
	ch.Archive, ch.ArchiveEndpoint, ch.ArchiveCredentialsFile = &normURL, &endpoint, &cred
	return &ch, nil
}

// oldestSegment returns the first LSN of the volume's oldest segment file
// (pagelog names them by it in hex), 0 if there is none.
func oldestSegment(dir string) uint64 {
	ents, err := os.ReadDir(filepath.Join(dir, volume.LogDir))
	if err != nil {
		return 0
	}
	var first uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok || len(name) != 16 {
			continue
		}
		n, err := strconv.ParseUint(name, 16, 64)
		if err == nil && (first == 0 || n < first) {
			first = n
		}
	}
	return first
}

func printSettings(c *cli.Context, s *volume.Settings) error {
	if c.Bool("json") {
		return printJSON(s)
	}
	cap := "none"
	if s.MaxLogBytes > 0 {
		cap = humanBytes(s.MaxLogBytes)
	}
	fmt.Printf("window %s, max log bytes %s, page size %d, compression %s, segment size %s\n",
		s.Window, cap, s.PageSize, s.Compression, humanBytes(s.SegmentSize))
	if s.Archive != "" {
		ep := s.ArchiveEndpoint
		if ep == "" {
			ep = archive.DefaultEndpoint
		}
		fmt.Printf("archive %s at %s, sealing the active segment after %s\n", s.Archive, ep, s.ArchiveIntervalDuration())
		keep := "everything"
		if w := s.ArchiveWindowDuration(); w > 0 {
			keep = w.String()
		}
		n, d := s.ArchiveBaseInterval()
		fmt.Printf("archive keeps %s, a base image every %s of log or %s\n", keep, humanBytes(n), d)
	}
	return nil
}
