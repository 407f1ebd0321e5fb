package lsn

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// TargetKind says which form of target a user gave.
type TargetKind int

// The zero TargetKind is no target, so a zero Target is never mistaken for
// LSN 0 or the zero time.
const (
	TargetLSN  TargetKind = iota + 1 // an LSN: 18233
	TargetTime                       // an RFC 3339 time: 2026-11-24T10:15:00Z
	TargetAgo                        // a duration before now: 5m, 1h30m
	TargetMark                       // the name of a mark: before-migration
)

// String names the kind in lower case, as messages use it.
func (k TargetKind) String() string {
	switch k {
	case TargetLSN:
		return "lsn"
	case TargetTime:
		return "time"
	case TargetAgo:
		return "ago"
	case TargetMark:
		return "mark"
	}
	return "none"
}

// Target is a point in a volume's history as a user names it. Only the
// fields of its Kind are set; resolving a time or a mark to an LSN is the
// job of whoever holds the volume's time map and marks.
type Target struct {
	Kind TargetKind
	LSN  LSN           // TargetLSN
	Time time.Time     // TargetTime, and TargetAgo once resolved: now - Ago
	Ago  time.Duration // TargetAgo, never negative
	Mark string        // TargetMark
	Text string        // what the user typed, without surrounding space
}

// Errors returned by ParseTarget and ValidMarkName. The returned error's
// message is a complete one-line reason; test for the kind with errors.Is.
var (
	// ErrNotTarget is returned when the text is none of the target forms,
	// or a malformed one of them (LSN 0, a time with no offset).
	ErrNotTarget = errors.New("lsn: not a target")
	// ErrFutureTarget is returned for a time after now.
	ErrFutureTarget = errors.New("lsn: target in the future")
	// ErrMarkName is returned by ValidMarkName for a name that cannot be a mark.
	ErrMarkName = errors.New("lsn: not a mark name")
)

// targetForms is the end of every "not a target" message.
const targetForms = "give an LSN (18233), an RFC 3339 time (2026-11-24T10:15:00Z), " +
	"a duration ago (5m, 1h30m) or a mark name"

// markRule says what a mark name may be; it matches ^[A-Za-z][A-Za-z0-9._-]{0,63}$.
const markRule = "a letter, then at most 63 letters, digits, '.', '_' or '-'"

// maxMarkLen is the longest mark name, in bytes.
const maxMarkLen = 64

// reasonError is an error whose message is the full one-line reason and
// which unwraps to one of the package's sentinels.
type reasonError struct {
	kind error
	msg  string
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &reasonError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// ParseTarget reads a target as users type it, in this order:
//
//   - an LSN, all decimal digits: "18233". LSN 0 is an error: LSNs start at 1.
//   - an RFC 3339 time, with or without fractional seconds, any offset:
//     "2026-11-24T10:15:00Z", "2026-11-24T11:15:00.5+01:00". A time after now
//     is an error.
//   - a duration ago, as time.ParseDuration reads it: "5m", "1h30m", "90s".
//     "-5m" means the same as "5m". Time is set to now - Ago.
//   - a mark name, as ValidMarkName accepts it.
//
// The forms cannot overlap: a mark name starts with a letter, the others
// with a digit or a sign. Errors are one line naming what was typed and the
// accepted forms.
func ParseTarget(s string, now time.Time) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, errorf(ErrNotTarget, "lsn: empty target: %s", targetForms)
	}
	if isDigits(s) {
		return parseLSN(s)
	}
	if looksLikeTime(s) {
		return parseTime(s, now)
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		if d < 0 { // -math.MinInt64 is itself
			return Target{}, errorf(ErrNotTarget, "lsn: %q is not a target: a duration ago is at most %s", s, time.Duration(math.MaxInt64))
		}
		// Round(0) drops the monotonic reading, so the Time compares and
		// prints like any parsed time.
		return Target{Kind: TargetAgo, Ago: d, Time: now.Add(-d).Round(0), Text: s}, nil
	}
	if isLetter(s[0]) {
		if err := ValidMarkName(s); err != nil {
			return Target{}, errorf(ErrNotTarget, "lsn: %q is not a target: %s (%s)", s, targetForms, markRule)
		}
		return Target{Kind: TargetMark, Mark: s, Text: s}, nil
	}
	return Target{}, errorf(ErrNotTarget, "lsn: %q is not a target: %s", s, targetForms)
}

func parseLSN(s string) (Target, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return Target{}, errorf(ErrNotTarget, "lsn: %q is not a target: an LSN is at most %d", s, uint64(1<<64-1))
	}
	if n == 0 {
		return Target{}, errorf(ErrNotTarget, "lsn: %q is not a target: LSNs start at 1", s)
	}
	return Target{Kind: TargetLSN, LSN: LSN(n), Text: s}, nil
}

func parseTime(s string, now time.Time) (Target, error) {
	// RFC3339Nano also reads times without fractional seconds.
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		why := "write a date, 'T', a time and an offset, as in 2026-11-24T10:15:00Z or 2026-11-24T11:15:00+01:00"
		var pe *time.ParseError
		if errors.As(err, &pe) && pe.Message != "" {
			why = strings.TrimPrefix(pe.Message, ": ") + "; " + why
		}
		return Target{}, errorf(ErrNotTarget, "lsn: %q is not an RFC 3339 time: %s", s, why)
	}
	if t.After(now) {
		return Target{}, errorf(ErrFutureTarget, "lsn: %q is in the future: now is %s",
			s, now.In(t.Location()).Format(time.RFC3339))
	}
	return Target{Kind: TargetTime, Time: t, Text: s}, nil
}

// ValidMarkName reports whether name can be a mark, and why not. A mark
// name matches ^[A-Za-z][A-Za-z0-9._-]{0,63}$, so it is never read as an
// LSN, a time or a duration.
func ValidMarkName(name string) error {
	switch {
	case name == "":
		return errorf(ErrMarkName, "lsn: empty mark name: a mark name is %s", markRule)
	case isDigits(name):
		return errorf(ErrMarkName, "lsn: mark name %q is an LSN: a mark name is %s", name, markRule)
	case looksLikeTime(name):
		return errorf(ErrMarkName, "lsn: mark name %q is a time: a mark name is %s", name, markRule)
	}
	if _, err := time.ParseDuration(name); err == nil {
		return errorf(ErrMarkName, "lsn: mark name %q is a duration: a mark name is %s", name, markRule)
	}
	if !isLetter(name[0]) {
		return errorf(ErrMarkName, "lsn: mark name %q does not start with a letter: a mark name is %s", name, markRule)
	}
	if len(name) > maxMarkLen {
		return errorf(ErrMarkName, "lsn: mark name %q is %d bytes long: a mark name is %s", name, len(name), markRule)
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isLetter(c) && !isDigit(c) && c != '.' && c != '_' && c != '-' {
			return errorf(ErrMarkName, "lsn: mark name %q has %q at byte %d: a mark name is %s", name, c, i, markRule)
		}
	}
	return nil
}

// String describes the target for messages: "LSN 18233",
// "2026-11-24T10:15:00Z", "5m0s ago (2026-11-24T10:10:00Z)",
// "mark before-migration".
func (t Target) String() string {
	switch t.Kind {
	case TargetLSN:
		return "LSN " + t.LSN.String()
	case TargetTime:
		return t.Time.Format(time.RFC3339Nano)
	case TargetAgo:
		return t.Ago.String() + " ago (" + t.Time.Format(time.RFC3339Nano) + ")"
	case TargetMark:
		return "mark " + t.Mark
	}
	return "no target"
}

// looksLikeTime reports whether s starts as an RFC 3339 date does,
// "dddd-", so that a malformed time gets a time's error message.
func looksLikeTime(s string) bool {
	return len(s) >= 5 && isDigits(s[:4]) && s[4] == '-'
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
