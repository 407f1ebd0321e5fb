package volume

import (
	"fmt"
	"time"
)

// DefaultArchiveInterval is how long the newest records of a volume with an
// archive may wait in the active segment before the daemon seals it: a
// quiet volume's last minute of history reaches the archive within about
// this long, instead of when the segment fills (which can take hours).
const DefaultArchiveInterval = 60 * time.Second

// checkArchiveInterval accepts 0 (the default) or 1s and more: a shorter
// interval would seal a segment for every few records.
func checkArchiveInterval(d time.Duration) error {
	if d != 0 && d < time.Second {
		return fmt.Errorf("%w: archive interval %s: give at least 1s", ErrSettings, d)
	}
	return nil
}

// ArchiveIntervalDuration returns the archive interval, the default if none
// (or an unreadable one) is set.
func (s *Settings) ArchiveIntervalDuration() time.Duration {
	if d, err := time.ParseDuration(s.ArchiveInterval); err == nil && d >= time.Second {
		return d
	}
	return DefaultArchiveInterval
}

// ArchiveChange is a change of the archive settings; nil fields stay. An
// empty Archive turns the archive off (and clears the endpoint and the
// credentials file with it).
type ArchiveChange struct {
	Archive                *string
	ArchiveEndpoint        *string
	ArchiveCredentialsFile *string
	ArchiveInterval        *time.Duration
	// The archive's retention and base image interval (0: keep for ever /
	// the defaults), as init's --archive-window and --archive-base-every.
	ArchiveWindow         *time.Duration
	ArchiveBaseEveryBytes *int64
	ArchiveBaseEvery      *time.Duration
}

// UpdateArchive changes the archive settings in dir's settings file
// (atomically) and returns the new settings. The caller has checked that
// the archive can be reached. A mounted daemon takes them up when told to
// (control request "reload").
func UpdateArchive(dir string, c ArchiveChange) (*Settings, error) {
	s, err := ReadSettings(dir)
	if err != nil {
		return nil, err
	}
	if c.ArchiveInterval != nil {
		if err := checkArchiveInterval(*c.ArchiveInterval); err != nil {
			return nil, err
		}
		s.ArchiveInterval = ""
		if *c.ArchiveInterval != 0 {
			s.ArchiveInterval = c.ArchiveInterval.String()
		}
	}
	if c.ArchiveWindow != nil || c.ArchiveBaseEveryBytes != nil || c.ArchiveBaseEvery != nil {
		o := InitOptions{ArchiveWindow: s.ArchiveWindowDuration(), ArchiveBaseEveryBytes: s.ArchiveBaseEveryBytes}
		o.ArchiveBaseEvery, _ = ParseLongDuration(s.ArchiveBaseEvery)
		if c.ArchiveWindow != nil {
			o.ArchiveWindow = *c.ArchiveWindow
		}
		if c.ArchiveBaseEveryBytes != nil {
			o.ArchiveBaseEveryBytes = *c.ArchiveBaseEveryBytes
		}
		if c.ArchiveBaseEvery != nil {
			o.ArchiveBaseEvery = *c.ArchiveBaseEvery
		}
		if err := checkArchiveRetention(o); err != nil {
			return nil, err
		}
		s.ArchiveWindow, s.ArchiveBaseEvery = "", ""
		s.setArchiveRetention(o)
	}
	if c.Archive != nil {
		s.Archive = *c.Archive
	}
	if c.ArchiveEndpoint != nil {
		s.ArchiveEndpoint = *c.ArchiveEndpoint
	}
	if c.ArchiveCredentialsFile != nil {
		s.ArchiveCredentialsFile = *c.ArchiveCredentialsFile
	}
	if s.Archive == "" {
		s.ArchiveEndpoint, s.ArchiveCredentialsFile = "", ""
	}
	if err := writeSettings(dir, s); err != nil {
		return nil, fmt.Errorf("write settings of %s: %w", dir, err)
	}
	return s, nil
}

// SealActive seals the segment being appended to if it holds a record
// (pagelog.Log.Seal), so that the archive can upload it; it reports
// whether it did. It takes no lock of the volume: the log orders it with
// appends itself.
func (v *Volume) SealActive() (bool, error) {
	if v.readOnly {
		return false, nil
	}
	v.mu.RLock()
	lg := v.log
	v.mu.RUnlock()
	if lg == nil {
		return false, nil
	}
	return lg.Seal()
}

// SetArchiveSettings changes the archive settings of an open volume (after
// `rewindfs config --archive`), so that status names the archive in use.
func (v *Volume) SetArchiveSettings(s *Settings) {
	v.mu.Lock()
	v.Settings.Archive, v.Settings.ArchiveEndpoint = s.Archive, s.ArchiveEndpoint
	v.Settings.ArchiveCredentialsFile, v.Settings.ArchiveInterval = s.ArchiveCredentialsFile, s.ArchiveInterval
	v.mu.Unlock()
}

// ArchiveSettings returns a copy of the volume's settings, taken under its
// lock, for the archive's uploader (which keeps it).
func (v *Volume) ArchiveSettings() Settings {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return *v.Settings
}
