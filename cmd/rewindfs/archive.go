package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/archive"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// archiveTimeout bounds the requests of archive ls and of init's check.
const archiveTimeout = 2 * time.Minute

func archiveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "endpoint", Usage: "the S3 server, `URL` http(s)://HOST[:PORT] (default: Amazon S3)"},
		&cli.StringFlag{Name: "credentials-file", Usage: "an AWS shared credentials `FILE`, when AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"},
	}
}

// connectArchive parses an s3:// URL and makes its bucket (no request yet).
func connectArchive(url, endpoint, credFile string) (*archive.S3, error) {
	loc, err := archive.ParseURL(url)
	if err != nil {
		return nil, err
	}
	return archive.Connect(loc, archive.Config{Endpoint: endpoint, CredentialsFile: credFile})
}

// checkNewArchive checks init's --archive before the volume is made: the
// URL, the credentials, the bucket, and that the prefix is not already
// another volume's archive.
func checkNewArchive(c *cli.Context) error {
	url := c.String("archive")
	if url == "" {
		if c.String("archive-endpoint") != "" || c.String("archive-credentials-file") != "" || c.IsSet("archive-interval") {
			return errors.New("--archive-endpoint, --archive-credentials-file and --archive-interval need --archive s3://BUCKET/PREFIX")
		}
		return nil
	}
	if c.IsSet("archive-interval") && c.Duration("archive-interval") < time.Second {
		return fmt.Errorf("archive interval %s: give at least 1s", c.Duration("archive-interval"))
	}
	b, err := connectArchive(url, c.String("archive-endpoint"), c.String("archive-credentials-file"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), archiveTimeout)
	defer cancel()
	if err := b.Check(ctx); err != nil {
		return err
	}
	seq, err := archive.FindLatest(ctx, b, 0)
	if err != nil {
		return err
	}
	if seq > 0 {
		return fmt.Errorf("%s already holds an archive (%d manifests); give each volume its own prefix (restore it with `rewindfs restore %s NEWVOLUME`)", url, seq, url)
	}
	return nil
}

func archiveCommand() *cli.Command {
	return &cli.Command{
		Name:  "archive",
		Usage: "look at a volume's archive in object storage",
		Description: "A volume made with `rewindfs init VOLUME --archive s3://BUCKET/PREFIX` is archived by its\n" +
			"mounted daemon; these commands read the archive from anywhere.\n\n" +
			"Example:\n" +
			"  rewindfs archive ls s3://backups/pg-main --endpoint http://10.0.0.5:8333",
		Subcommands: []*cli.Command{{
			Name:      "ls",
			Usage:     "list what an archive can restore",
			ArgsUsage: "s3://BUCKET/PREFIX",
			Description: "Reads the newest manifest (a few HEAD requests and one GET; no LIST) and prints the\n" +
				"volume, the restorable range of LSNs and times, and the segments. A gap in the chain is\n" +
				"reported; the range then ends before it.\n\n" +
				"Examples:\n" +
				"  rewindfs archive ls s3://backups/pg-main --endpoint http://10.0.0.5:8333\n" +
				"  rewindfs archive ls s3://backups/pg-main --json",
			Flags: append(archiveFlags(), &cli.BoolFlag{Name: "json", Usage: "print one JSON object"}),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return errors.New("archive ls takes 1 argument: rewindfs archive ls s3://BUCKET/PREFIX (see rewindfs archive ls --help)")
				}
				b, err := connectArchive(c.Args().Get(0), c.String("endpoint"), c.String("credentials-file"))
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(context.Background(), archiveTimeout)
				defer cancel()
				m, _, err := archive.Latest(ctx, b, 0)
				if err != nil {
					return err
				}
				r, gapErr := m.Restorable()
				out := archiveListing{
					URL: b.String(), Endpoint: b.Endpoint(), VolumeID: m.VolumeID, Manifest: m.Seq, ManifestTime: m.Created,
					Range: r, Objects: m.Objects, Bases: baseListing(m.Bases),
				}
				if gapErr != nil {
					out.Gap = gapErr.Error()
				}
				if c.Bool("json") {
					return printJSON(out)
				}
				printListing(out)
				return nil
			},
		}},
	}
}

// archiveListing is what `archive ls --json` prints.
type archiveListing struct {
	URL          string    `json:"url"`
	Endpoint     string    `json:"endpoint"`
	VolumeID     string    `json:"volume_id"`
	Manifest     uint64    `json:"manifest"`
	ManifestTime time.Time `json:"manifest_time"`
	archive.Range
	Gap     string           `json:"gap,omitempty"`
	Objects []archive.Object `json:"objects"`
	Bases   []baseListed     `json:"base_images,omitempty"`
}

// printArchiveStatus adds the archive's lines to status.
func printArchiveStatus(a *volume.ArchiveStatus) {
	if a == nil {
		return
	}
	if a.Endpoint == "" {
		fmt.Printf("archive    %s (uploads while mounted)\n", a.URL)
		return
	}
	fmt.Printf("archive    %s at %s: manifest %d, archived through LSN %d\n", a.URL, a.Endpoint, a.Manifest, a.ArchivedThroughLSN)
	fmt.Printf("           behind by %d record(s), %s, oldest waiting %.0fs; %d object(s) uploaded since mount, %d request(s)\n",
		a.LagLSNs, humanBytes(a.LagBytes), a.LagSeconds, a.UploadedObjects, a.Requests)
	switch {
	case a.Stopped:
		fmt.Printf("           STOPPED: %s\n", a.Error)
	case a.Error != "":
		fmt.Printf("           retrying after %d failure(s): %s\n", a.Failures, a.Error)
	}
	printArchiveBaseStatus(a)
}

func printListing(l archiveListing) {
	fmt.Printf("archive    %s at %s\n", l.URL, l.Endpoint)
	fmt.Printf("volume     %s, manifest %d written %s\n", l.VolumeID, l.Manifest, fmtTime(l.ManifestTime))
	if l.Segments == 0 {
		fmt.Printf("range      nothing restorable yet\n")
	} else {
		fmt.Printf("range      LSN %d (%s) to LSN %d (%s)\n", l.FirstLSN, fmtTime(l.FirstTime), l.LastLSN, fmtTime(l.LastTime))
		fmt.Printf("segments   %d, %s\n", l.Segments, humanBytes(l.Bytes))
	}
	if l.Gap != "" {
		fmt.Printf("gap        %s\n", l.Gap)
	}
	for _, b := range l.Bases {
		fmt.Printf("base image LSN %d (%s), %d object(s), %s, uploaded %s\n", b.LSN, fmtTime(b.Time), b.Objects, humanBytes(b.Bytes), fmtTime(b.Uploaded))
	}
	for _, o := range l.Objects {
		fmt.Printf("  %s  LSN %s..%s  %s  %s..%s  crc32c %s\n", o.Key, lsn.LSN(o.FirstLSN), lsn.LSN(o.LastLSN), humanBytes(o.Size),
			o.FirstTime.Format(time.RFC3339), o.LastTime.Format(time.RFC3339), o.CRC32C)
	}
}
