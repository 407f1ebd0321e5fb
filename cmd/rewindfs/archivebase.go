package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rewindfs/rewindfs/archive"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// archiveRetentionFlags are init's flags for base images and archive
// retention (see package archive, base.go and retention.go).
func archiveRetentionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "archive-window", Usage: "keep the archive restorable this far back, `DURATION` like 30d or 36h; older objects are deleted (default 0: keep everything)"},
		&cli.StringFlag{Name: "archive-base-every", Usage: "upload a base image after `SIZE` of log or DURATION, whichever first: 1GiB, 24h or 1GiB,24h (default 1GiB,24h)"},
	}
}

// archiveRetentionOptions reads those flags into o.
func archiveRetentionOptions(c *cli.Context, o *volume.InitOptions) error {
	if c.String("archive") == "" && (c.IsSet("archive-window") || c.IsSet("archive-base-every")) {
		return fmt.Errorf("--archive-window and --archive-base-every need --archive s3://BUCKET/PREFIX")
	}
	if s := c.String("archive-window"); s != "" && s != "0" {
		d, err := volume.ParseLongDuration(s)
		if err != nil {
			return fmt.Errorf("--archive-window: %w", err)
		}
		o.ArchiveWindow = d
	}
	if s := c.String("archive-base-every"); s != "" {
		n, d, err := parseBaseEvery(s)
		if err != nil {
			return fmt.Errorf("--archive-base-every: %w", err)
		}
		o.ArchiveBaseEveryBytes, o.ArchiveBaseEvery = n, d
	}
	return nil
}

// parseBaseEvery parses "1GiB", "24h" or "1GiB,24h" (either order).
func parseBaseEvery(s string) (int64, time.Duration, error) {
	var n int64
	var d time.Duration
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if v, err := parseSize(part); err == nil {
			n = v
			continue
		}
		v, err := volume.ParseLongDuration(part)
		if err != nil || v <= 0 {
			return 0, 0, fmt.Errorf("%q is neither a size (64MiB, 1GiB) nor a duration (6h, 1d)", part)
		}
		d = v
	}
	return n, d, nil
}

// parseSize parses a byte count with an optional binary unit: 65536,
// 64KiB, 512MiB, 1GiB, 2TiB (K, M, G, T and KB, ... are read as binary too).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q", s)
	}
	return v * mult, nil
}

// baseListed is one base image in `archive ls`.
type baseListed struct {
	LSN      lsn.LSN   `json:"lsn"`
	Time     time.Time `json:"time"`
	Uploaded time.Time `json:"uploaded"`
	Objects  int       `json:"objects"`
	Bytes    int64     `json:"bytes"`
}

func baseListing(bs []archive.Base) []baseListed {
	var out []baseListed
	for _, b := range bs {
		out = append(out, baseListed{LSN: b.LSN, Time: b.Time, Uploaded: b.Uploaded, Objects: len(b.Objects), Bytes: b.Bytes()})
	}
	return out
}

// printArchiveBaseStatus adds status's lines on base images and retention.
func printArchiveBaseStatus(a *volume.ArchiveStatus) {
	base := "no base image archived yet"
	if a.Bases > 0 {
		base = fmt.Sprintf("newest base image LSN %d (%s), uploaded %s; %d in the archive", a.NewestBaseLSN, fmtTime(a.NewestBaseTime), fmtTime(a.NewestBaseUploaded), a.Bases)
	}
	fmt.Printf("           %s\n", base)
	if a.RestorableFromLSN != 0 {
		fmt.Printf("           restorable from LSN %d (%s); archive window %s", a.RestorableFromLSN, fmtTime(a.RestorableFromTime), a.Window)
		if a.PendingDeletes > 0 {
			fmt.Printf(", %d object(s) left it and wait to be deleted", a.PendingDeletes)
		}
		fmt.Println()
	}
}
