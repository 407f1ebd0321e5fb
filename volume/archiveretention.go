package volume

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of the archive's base images (package archive uploads them).
const (
	DefaultArchiveBaseEveryBytes = 1 << 30
	DefaultArchiveBaseEvery      = 24 * time.Hour
)

// ParseLongDuration parses a Go duration that may also count days: "30d",
// "1d12h", "90m". Retention is usually said in days, which
// time.ParseDuration does not know.
func ParseLongDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("duration %q: give for example 30d, 36h or 1d12h", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: give for example 30d, 36h or 1d12h", s)
	}
	return days + d, nil
}

// checkArchiveRetention checks init's archive retention choices: a window
// of 0 (keep for ever) or at least a minute, a base image every 1 MiB or
// more (0: the default), every minute or more (0: the default).
func checkArchiveRetention(o InitOptions) error {
	if o.ArchiveWindow != 0 && o.ArchiveWindow < time.Second {
		return fmt.Errorf("%w: archive window %s: give 0 (keep for ever) or at least 1s", ErrSettings, o.ArchiveWindow)
	}
	if o.ArchiveBaseEveryBytes < 0 || (o.ArchiveBaseEveryBytes != 0 && o.ArchiveBaseEveryBytes < 1<<16) {
		return fmt.Errorf("%w: archive base image interval %d bytes: give at least 64KiB", ErrSettings, o.ArchiveBaseEveryBytes)
	}
	if o.ArchiveBaseEvery < 0 || (o.ArchiveBaseEvery != 0 && o.ArchiveBaseEvery < time.Second) {
		return fmt.Errorf("%w: archive base image interval %s: give at least 1s", ErrSettings, o.ArchiveBaseEvery)
	}
	return nil
}

// setArchiveRetention stores init's archive retention choices; the zero
// values are left out of the settings file (meaning the defaults).
func (s *Settings) setArchiveRetention(o InitOptions) {
	if o.ArchiveWindow != 0 {
		s.ArchiveWindow = o.ArchiveWindow.String()
	}
	s.ArchiveBaseEveryBytes = o.ArchiveBaseEveryBytes
	if o.ArchiveBaseEvery != 0 {
		s.ArchiveBaseEvery = o.ArchiveBaseEvery.String()
	}
}

// ArchiveWindowDuration is the archive's retention: 0 keeps everything.
func (s *Settings) ArchiveWindowDuration() time.Duration {
	d, err := ParseLongDuration(s.ArchiveWindow)
	if s.ArchiveWindow == "" || err != nil {
		return 0
	}
	return d
}

// ArchiveBaseInterval says when the daemon uploads a base image to the
// archive: after this many bytes of log, or this long, whichever first.
func (s *Settings) ArchiveBaseInterval() (int64, time.Duration) {
	n := s.ArchiveBaseEveryBytes
	if n <= 0 {
		n = DefaultArchiveBaseEveryBytes
	}
	d, err := ParseLongDuration(s.ArchiveBaseEvery)
	if s.ArchiveBaseEvery == "" || err != nil || d <= 0 {
		d = DefaultArchiveBaseEvery
	}
	return n, d
}
