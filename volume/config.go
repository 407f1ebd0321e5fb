package volume

import (
	"fmt"
	"time"
)

// Retention is a change of the retention settings; nil fields stay.
type RetentionChange struct {
	Window      *time.Duration
	MaxLogBytes *int64
}

// UpdateRetention changes the window and the byte cap in dir's settings
// file (atomically) and returns the new settings. A mounted daemon takes
// them up when told to (control request "reload").
func UpdateRetention(dir string, c RetentionChange) (*Settings, error) {
	s, err := ReadSettings(dir)
	if err != nil {
		return nil, err
	}
	if c.Window != nil {
		if *c.Window < time.Second {
			return nil, fmt.Errorf("%w: window %s: give at least 1s", ErrSettings, *c.Window)
		}
		s.Window = c.Window.String()
	}
	if c.MaxLogBytes != nil {
		if *c.MaxLogBytes < 0 {
			return nil, fmt.Errorf("%w: max log bytes %d is negative (0 means no cap)", ErrSettings, *c.MaxLogBytes)
		}
		s.MaxLogBytes = *c.MaxLogBytes
	}
	if err := writeSettings(dir, s); err != nil {
		return nil, fmt.Errorf("write settings of %s: %w", dir, err)
	}
	return s, nil
}
