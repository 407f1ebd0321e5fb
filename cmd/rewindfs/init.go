package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/volume"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "create a volume",
		ArgsUsage: "VOLUME",
		Description: "Creates the volume directory (owner-only permissions) with its settings. Refuses a\n" +
			"directory that holds files and is not a volume.\n\n" +
			"Examples:\n" +
			"  rewindfs init /var/lib/rewindfs/pg --window 24h\n" +
			"  rewindfs init /var/lib/rewindfs/test --window 1h --compression s2 --page-size 8192\n" +
			"  rewindfs init /var/lib/rewindfs/pg --archive s3://backups/pg-main --archive-endpoint http://10.0.0.5:8333\n\n" +
			"With --archive the mounted daemon uploads every sealed segment to the bucket (see\n" +
			"`rewindfs archive ls` and `rewindfs restore`). init checks that the bucket exists, that the\n" +
			"credentials are accepted and that the prefix holds no archive yet.",
		Flags: append([]cli.Flag{
			&cli.DurationFlag{Name: "window", Value: 24 * time.Hour, Usage: "how much history to keep (any Go duration from 1s)"},
			&cli.Int64Flag{Name: "max-log-bytes", Usage: "cap on the log's size on disk (0: no cap)"},
			&cli.IntFlag{Name: "page-size", Value: 4096, Usage: "page size in bytes (a power of two, 512 to 65536)"},
			&cli.StringFlag{Name: "compression", Value: "none", Usage: "compression of page data: s2, zstd or none"},
			&cli.Int64Flag{Name: "segment-size", Value: volume.DefaultSegmentSize, Usage: "size of each log segment file in bytes (64 KiB to 2 GiB); each is reserved on disk when created"},
			&cli.StringFlag{Name: "archive", Usage: "archive sealed segments to `s3://BUCKET/PREFIX` (credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"},
			&cli.StringFlag{Name: "archive-endpoint", Usage: "the archive's S3 server, `URL` http(s)://HOST[:PORT] (default: Amazon S3)"},
			&cli.StringFlag{Name: "archive-credentials-file", Usage: "an AWS shared credentials `FILE`, used when the variables are not set (its name is stored, never the keys)"},
			&cli.DurationFlag{Name: "archive-interval", Usage: "seal the active segment for the archive when its oldest record is this old (from 1s; default 1m)"},
		}, archiveRetentionFlags()...),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "VOLUME"); err != nil {
				return err
			}
			if err := refuseZero(c, "window", "page-size", "segment-size"); err != nil {
				return err
			}
			dir := c.Args().Get(0)
			o := volume.InitOptions{
				Window: c.Duration("window"), MaxLogBytes: c.Int64("max-log-bytes"),
				PageSize: c.Int("page-size"), Compression: c.String("compression"), SegmentSize: c.Int64("segment-size"),
				Archive: c.String("archive"), ArchiveEndpoint: c.String("archive-endpoint"), ArchiveCredentialsFile: c.String("archive-credentials-file"),
				ArchiveInterval: c.Duration("archive-interval"),
			}
			if err := archiveRetentionOptions(c, &o); err != nil {
				return err
			}
			if err := checkNewArchive(c); err != nil {
				return err
			}
			s, err := volume.Init(dir, o)
			if err != nil {
				return err
			}
			fmt.Printf("initialized volume %s (window %s, page size %d, compression %s)\n", dir, s.Window, s.PageSize, s.Compression)
			if s.Archive != "" {
				fmt.Printf("archiving sealed segments to %s while mounted\n", s.Archive)
			}
			return nil
		},
	}
}
