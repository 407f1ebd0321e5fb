// Package volume holds an open volume: its directory (settings, lock, log),
// the record history and the live file system state, and the one funnel every
// change goes through (check → append to the log → apply). The FUSE layer and
// the command line both work through it.
//
// A volume directory holds:
//
//	rewindfs.json   settings: format version, page size, window, compression, identity
//	log/            the page log's segment files (package pagelog)
//	lock            flock'ed by the process that has the volume open read-write
//	control.sock    the mounted daemon's control socket (owner only)
//	daemon.log      what the daemon says while it runs
//	archive.json    the newest archive manifest the daemon wrote (package archive)
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rewindfs/rewindfs/fsstate"
	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/pagelog"
)

// FormatVersion is the settings and layout version this code writes and
// reads. It is part of the on-disk format.
const FormatVersion = 1

// File names inside a volume directory. Part of the on-disk format.
const (
	SettingsFile = "rewindfs.json"
	LogDir       = "log"
	LockFile     = "lock"
	SocketFile   = "control.sock"
	DaemonLog    = "daemon.log"
)

// Errors returned when opening or creating a volume.
var (
	// ErrNotVolume: the directory has no settings file.
	ErrNotVolume = errors.New("not a rewindfs volume")
	// ErrVersion: the settings are of a format version this build does not know.
	ErrVersion = errors.New("unsupported volume format version")
	// ErrNotEmpty: init into a directory that holds files and is not a volume.
	ErrNotEmpty = errors.New("directory is not empty")
	// ErrExists: init of a directory that already is a volume.
	ErrExists = errors.New("already a rewindfs volume")
	// ErrSettings: the settings file is unreadable or has bad values.
	ErrSettings = errors.New("bad volume settings")
)

// Settings is the content of rewindfs.json.
type Settings struct {
	FormatVersion int    `json:"format_version"`
	VolumeID      string `json:"volume_id"` // 32 hex digits
	PageSize      int    `json:"page_size"`
	Window        string `json:"window"` // a Go duration
	MaxLogBytes   int64  `json:"max_log_bytes,omitempty"`
	Compression   string `json:"compression"`
	SegmentSize   int64  `json:"segment_size"`
	Created       string `json:"created"` // RFC 3339 with nanoseconds
	RootMode      uint32 `json:"root_mode"`
	RootUID       uint32 `json:"root_uid"`
	RootGID       uint32 `json:"root_gid"`

	// Archive, when set, is where the daemon archives sealed segments:
	// s3://BUCKET/PREFIX (package archive). These fields are optional, so
	// format version 1 stays: a build without them ignores them (and
	// does not archive). Credentials are never stored here: they come from
	// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the file named below.
	Archive                string `json:"archive,omitempty"`
	ArchiveEndpoint        string `json:"archive_endpoint,omitempty"`         // http(s)://HOST[:PORT]; empty: Amazon S3
	ArchiveCredentialsFile string `json:"archive_credentials_file,omitempty"` // an AWS shared credentials file

	// Ancestors is the lineage of a clone (rewindfs clone, clone.go): the
	// volumes it was cloned from, oldest first, the parent last. Their
	// sealed segments are hard-linked into the clone's log with their own
	// IDs in the headers, so the log accepts those IDs too. Optional like
	// the archive fields: a build without it refuses the shared segments
	// as another volume's, which is an error, not a misreading.
	Ancestors []Ancestor `json:"ancestors,omitempty"`
	// ArchiveInterval (a Go duration; empty: DefaultArchiveInterval) is
	// how old the oldest unarchived record in the active segment may get
	// before the daemon seals that segment so that it is uploaded.
	ArchiveInterval string `json:"archive_interval,omitempty"`
	// ArchiveWindow (a duration, days allowed: "30d"; empty: keep for
	// ever) is the archive's retention, separate from Window. The daemon
	// uploads a base image every ArchiveBaseEveryBytes of log (0:
	// DefaultArchiveBaseEveryBytes) or ArchiveBaseEvery (empty:
	// DefaultArchiveBaseEvery), whichever first. See archiveretention.go.
	ArchiveWindow         string `json:"archive_window,omitempty"`
	ArchiveBaseEveryBytes int64  `json:"archive_base_every_bytes,omitempty"`
	ArchiveBaseEvery      string `json:"archive_base_every,omitempty"`
}

// InitOptions are the choices `rewindfs init` offers.
type InitOptions struct {
	Window      time.Duration
	MaxLogBytes int64
	PageSize    int
	Compression string
	SegmentSize int64
	Now         time.Time
	// Archive, ArchiveEndpoint and ArchiveCredentialsFile are stored as
	// given; the caller checks them (package archive).
	Archive                string
	ArchiveEndpoint        string
	ArchiveCredentialsFile string
	ArchiveInterval        time.Duration // 0: DefaultArchiveInterval
	// The archive's retention and base image interval (0: for ever, the
	// defaults); see archiveretention.go.
	ArchiveWindow         time.Duration
	ArchiveBaseEveryBytes int64
	ArchiveBaseEvery      time.Duration
}

// DefaultSegmentSize bounds a segment file; records never span segments.
const DefaultSegmentSize = 64 << 20

// Init makes dir a new volume. dir may not exist yet, or be empty.
func Init(dir string, o InitOptions) (*Settings, error) {
	if o.PageSize == 0 {
		o.PageSize = 4096
	}
	if o.PageSize < 512 || o.PageSize > 65536 || o.PageSize&(o.PageSize-1) != 0 {
		return nil, fmt.Errorf("%w: page size %d: give a power of two from 512 to 65536", ErrSettings, o.PageSize)
	}
	if o.Window == 0 {
		o.Window = 24 * time.Hour
	}
	if o.Window < time.Second {
		return nil, fmt.Errorf("%w: window %s: give at least 1s", ErrSettings, o.Window)
	}
	if o.Compression == "" {
		o.Compression = "none"
	}
	if _, err := pagelog.ParseCodec(o.Compression); err != nil {
		return nil, fmt.Errorf("%w: compression %q: give s2, zstd or none", ErrSettings, o.Compression)
	}
	if o.MaxLogBytes < 0 {
		return nil, fmt.Errorf("%w: max log bytes %d is negative", ErrSettings, o.MaxLogBytes)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < 1<<16 || o.SegmentSize > 1<<31 {
		return nil, fmt.Errorf("%w: segment size %d: give 65536 to 2147483648 bytes", ErrSettings, o.SegmentSize)
	}
	if err := checkArchiveInterval(o.ArchiveInterval); err != nil {
		return nil, err
	}
	if err := checkArchiveRetention(o); err != nil {
		return nil, err
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if err := checkEmpty(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	s := &Settings{
		FormatVersion: FormatVersion,
		VolumeID:      hex.EncodeToString(id[:]),
		PageSize:      o.PageSize,
		Window:        o.Window.String(),
		MaxLogBytes:   o.MaxLogBytes,
		Compression:   o.Compression,
		SegmentSize:   o.SegmentSize,
		Created:       o.Now.UTC().Format(time.RFC3339Nano),
		RootMode:      0o755,
		RootUID:       uint32(os.Getuid()),
		RootGID:       uint32(os.Getgid()),

		Archive:                o.Archive,
		ArchiveEndpoint:        o.ArchiveEndpoint,
		ArchiveCredentialsFile: o.ArchiveCredentialsFile,
	}
	if o.ArchiveInterval != 0 {
		s.ArchiveInterval = o.ArchiveInterval.String()
	}
	s.setArchiveRetention(o)
	if err := os.MkdirAll(filepath.Join(dir, LogDir), 0o700); err != nil {
		return nil, err
	}
	// The settings file is written last: a directory without it is not a
	// volume, so an init cut short by a crash can simply be run again.
	if err := writeSettings(dir, s); err != nil {
		return nil, err
	}
	return s, nil
}

// CreateWith makes dir a volume with settings s, which come from
// elsewhere (a restore from an archive keeps the volume's identity, which
// every segment header carries). Like Init, it refuses a directory that
// holds anything but a log/ directory, and writes the settings last.
func CreateWith(dir string, s *Settings) error {
	if s.FormatVersion != FormatVersion {
		return fmt.Errorf("%w: format version %d, this rewindfs writes version %d", ErrVersion, s.FormatVersion, FormatVersion)
	}
	if err := s.check(); err != nil {
		return fmt.Errorf("%w: %v", ErrSettings, err)
	}
	if err := checkEmpty(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, LogDir), 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	return writeSettings(dir, s)
}

func checkEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, SettingsFile)); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, dir)
	}
	for _, e := range ents {
		if e.Name() != LogDir && e.Name() != "lost+found" {
			return fmt.Errorf("%w: %s holds %q and is not a rewindfs volume; give an empty or new directory", ErrNotEmpty, dir, e.Name())
		}
	}
	return nil
}

// writeSettings replaces the settings file atomically: temporary file, fsync,
// rename, fsync of the directory.
func writeSettings(dir string, s *Settings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return pagelog.WriteFileDurably(nil, filepath.Join(dir, SettingsFile), b, 0o600)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadSettings reads and checks a volume's settings.
func ReadSettings(dir string) (*Settings, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("volume %s does not exist (create it with `rewindfs init %s`)", dir, dir)
		}
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrNotVolume, dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, SettingsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s (create a volume with `rewindfs init`)", ErrNotVolume, dir, SettingsFile)
	}
	if err != nil {
		return nil, err
	}
	var s Settings
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrSettings, filepath.Join(dir, SettingsFile), err)
	}
	if s.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%w: %s has format version %d, this rewindfs reads version %d", ErrVersion, dir, s.FormatVersion, FormatVersion)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrSettings, filepath.Join(dir, SettingsFile), err)
	}
	return &s, nil
}

func (s *Settings) check() error {
	if _, err := s.ID(); err != nil {
		return err
	}
	if _, err := s.AncestorIDs(); err != nil {
		return err
	}
	if s.PageSize < 512 || s.PageSize > 65536 || s.PageSize&(s.PageSize-1) != 0 {
		return fmt.Errorf("page_size %d", s.PageSize)
	}
	if _, err := s.WindowDuration(); err != nil {
		return err
	}
	if _, err := pagelog.ParseCodec(s.Compression); err != nil {
		return err
	}
	if _, err := s.CreatedTime(); err != nil {
		return err
	}
	if s.SegmentSize < 1<<16 || s.SegmentSize > 1<<31 {
		return fmt.Errorf("segment_size %d", s.SegmentSize)
	}
	return nil
}

// ID returns the volume's identity.
func (s *Settings) ID() ([16]byte, error) {
	var id [16]byte
	b, err := hex.DecodeString(s.VolumeID)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("volume_id %q is not 32 hex digits", s.VolumeID)
	}
	copy(id[:], b)
	return id, nil
}

// Ancestor is one volume a clone descends from.
type Ancestor struct {
	VolumeID  string  `json:"volume_id"`  // 32 hex digits
	Path      string  `json:"path"`       // its directory when the clone was made
	BranchLSN lsn.LSN `json:"branch_lsn"` // the clone (or the next ancestor) starts at state(BranchLSN) of it
	Cloned    string  `json:"cloned"`     // when, RFC 3339
}

// IsClone reports whether the volume was made by `rewindfs clone`. Its
// log starts with segments of its ancestors, so an archive of it would
// hold segments of several volumes: archiving a clone is not supported.
func (s *Settings) IsClone() bool { return len(s.Ancestors) > 0 }

// AncestorIDs returns the IDs of the volumes this one was cloned from,
// oldest first (none for a volume that is no clone).
func (s *Settings) AncestorIDs() ([][16]byte, error) {
	var ids [][16]byte
	for _, a := range s.Ancestors {
		b, err := hex.DecodeString(a.VolumeID)
		if err != nil || len(b) != 16 {
			return nil, fmt.Errorf("ancestors: volume_id %q is not 32 hex digits", a.VolumeID)
		}
		ids = append(ids, [16]byte(b))
	}
	return ids, nil
}

// WindowDuration returns the configured window.
func (s *Settings) WindowDuration() (time.Duration, error) {
	d, err := time.ParseDuration(s.Window)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("window %q", s.Window)
	}
	return d, nil
}

// CreatedTime returns when the volume was made.
func (s *Settings) CreatedTime() (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s.Created)
}

// Root returns state(0)'s root directory.
func (s *Settings) Root() fsstate.Root {
	t, _ := s.CreatedTime()
	return fsstate.Root{Mode: s.RootMode, UID: s.RootUID, GID: s.RootGID, Time: t.UnixNano()}
}
