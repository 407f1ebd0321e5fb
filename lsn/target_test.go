package lsn

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// now is the clock the target tests run at.
var now = time.Date(2026, 11, 24, 10, 20, 0, 0, time.UTC)

func TestParseTarget(t *testing.T) {
	cet := time.FixedZone("", 3600)
	tests := []struct {
		in   string
		want Target
	}{
		{"18233", Target{Kind: TargetLSN, LSN: 18233, Text: "18233"}},
		{"1", Target{Kind: TargetLSN, LSN: 1, Text: "1"}},
		{"007", Target{Kind: TargetLSN, LSN: 7, Text: "007"}},
		{"18446744073709551615", Target{Kind: TargetLSN, LSN: 1<<64 - 1, Text: "18446744073709551615"}},
		{" 42\n", Target{Kind: TargetLSN, LSN: 42, Text: "42"}},

		{"2026-11-24T10:15:00Z", Target{Kind: TargetTime, Time: time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC), Text: "2026-11-24T10:15:00Z"}},
		{"2026-11-24T10:15:00.123456789Z", Target{Kind: TargetTime, Time: time.Date(2026, 11, 24, 10, 15, 0, 123456789, time.UTC), Text: "2026-11-24T10:15:00.123456789Z"}},
		{"2026-11-24T10:15:00.5Z", Target{Kind: TargetTime, Time: time.Date(2026, 11, 24, 10, 15, 0, 5e8, time.UTC), Text: "2026-11-24T10:15:00.5Z"}},
		{"2026-11-24T11:15:00+01:00", Target{Kind: TargetTime, Time: time.Date(2026, 11, 24, 11, 15, 0, 0, cet), Text: "2026-11-24T11:15:00+01:00"}},
		{"2026-11-24T10:20:00Z", Target{Kind: TargetTime, Time: now, Text: "2026-11-24T10:20:00Z"}}, // now itself is not the future
		{"1999-01-01T00:00:00-05:00", Target{Kind: TargetTime, Time: time.Date(1999, 1, 1, 0, 0, 0, 0, time.FixedZone("", -5*3600)), Text: "1999-01-01T00:00:00-05:00"}},

		{"5m", Target{Kind: TargetAgo, Ago: 5 * time.Minute, Time: now.Add(-5 * time.Minute), Text: "5m"}},
		{"-5m", Target{Kind: TargetAgo, Ago: 5 * time.Minute, Time: now.Add(-5 * time.Minute), Text: "-5m"}},
		{"+5m", Target{Kind: TargetAgo, Ago: 5 * time.Minute, Time: now.Add(-5 * time.Minute), Text: "+5m"}},
		{"1h30m", Target{Kind: TargetAgo, Ago: 90 * time.Minute, Time: now.Add(-90 * time.Minute), Text: "1h30m"}},
		{"90s", Target{Kind: TargetAgo, Ago: 90 * time.Second, Time: now.Add(-90 * time.Second), Text: "90s"}},
		{"1.5h", Target{Kind: TargetAgo, Ago: 90 * time.Minute, Time: now.Add(-90 * time.Minute), Text: "1.5h"}},
		{"250ms", Target{Kind: TargetAgo, Ago: 250 * time.Millisecond, Time: now.Add(-250 * time.Millisecond), Text: "250ms"}},
		{"0s", Target{Kind: TargetAgo, Time: now, Text: "0s"}},

		{"before-migration", Target{Kind: TargetMark, Mark: "before-migration", Text: "before-migration"}},
		{"v1.2_rc-3", Target{Kind: TargetMark, Mark: "v1.2_rc-3", Text: "v1.2_rc-3"}},
		{"m", Target{Kind: TargetMark, Mark: "m", Text: "m"}},
		{"h", Target{Kind: TargetMark, Mark: "h", Text: "h"}}, // a unit alone is no duration
		{"Z" + strings.Repeat("x", 63), Target{Kind: TargetMark, Mark: "Z" + strings.Repeat("x", 63), Text: "Z" + strings.Repeat("x", 63)}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in, now)
			require.NoError(t, err)
			assert.Equal(t, tt.want.Kind, got.Kind)
			assert.Equal(t, tt.want.LSN, got.LSN)
			assert.True(t, tt.want.Time.Equal(got.Time), "time %s, want %s", got.Time, tt.want.Time)
			_, wantOff := tt.want.Time.Zone()
			_, gotOff := got.Time.Zone()
			assert.Equal(t, wantOff, gotOff, "the offset typed is kept")
			assert.Equal(t, tt.want.Ago, got.Ago)
			assert.Equal(t, tt.want.Mark, got.Mark)
			assert.Equal(t, tt.want.Text, got.Text)
		})
	}
}

func TestParseTargetAgoDropsMonotonicClock(t *testing.T) {
	got, err := ParseTarget("5m", time.Now())
	require.NoError(t, err)
	assert.Equal(t, got.Time, got.Time.Round(0), "Time carries no monotonic reading")
}

func TestParseTargetErrors(t *testing.T) {
	const forms = "give an LSN (18233), an RFC 3339 time (2026-11-24T10:15:00Z), a duration ago (5m, 1h30m) or a mark name"
	tests := []struct {
		in   string
		kind error
		msg  string
	}{
		{"10:15", ErrNotTarget, `lsn: "10:15" is not a target: ` + forms},
		{"", ErrNotTarget, "lsn: empty target: " + forms},
		{"  ", ErrNotTarget, "lsn: empty target: " + forms},
		{"-5", ErrNotTarget, `lsn: "-5" is not a target: ` + forms},
		{"0", ErrNotTarget, `lsn: "0" is not a target: LSNs start at 1`},
		{"000", ErrNotTarget, `lsn: "000" is not a target: LSNs start at 1`},
		{"18446744073709551616", ErrNotTarget, `lsn: "18446744073709551616" is not a target: an LSN is at most 18446744073709551615`},
		{"-9223372036854775808ns", ErrNotTarget, `lsn: "-9223372036854775808ns" is not a target: a duration ago is at most 2562047h47m16.854775807s`},
		{"9223372036854775808ns", ErrNotTarget, `lsn: "9223372036854775808ns" is not a target: ` + forms},
		{"5d", ErrNotTarget, `lsn: "5d" is not a target: ` + forms},
		{"5 m", ErrNotTarget, `lsn: "5 m" is not a target: ` + forms},
		{"_x", ErrNotTarget, `lsn: "_x" is not a target: ` + forms},
		{"my mark", ErrNotTarget, `lsn: "my mark" is not a target: ` + forms + ` (a letter, then at most 63 letters, digits, '.', '_' or '-')`},
		{"a/b", ErrNotTarget, `lsn: "a/b" is not a target: ` + forms + ` (a letter, then at most 63 letters, digits, '.', '_' or '-')`},
		{"a" + strings.Repeat("x", 64), ErrNotTarget, `lsn: "a` + strings.Repeat("x", 64) + `" is not a target: ` + forms + ` (a letter, then at most 63 letters, digits, '.', '_' or '-')`},
		{"2026-11-24", ErrNotTarget, `lsn: "2026-11-24" is not an RFC 3339 time: write a date, 'T', a time and an offset, as in 2026-11-24T10:15:00Z or 2026-11-24T11:15:00+01:00`},
		{"2026-11-24T10:15:00", ErrNotTarget, `lsn: "2026-11-24T10:15:00" is not an RFC 3339 time: write a date, 'T', a time and an offset, as in 2026-11-24T10:15:00Z or 2026-11-24T11:15:00+01:00`},
		{"2026-11-24 10:15:00Z", ErrNotTarget, `lsn: "2026-11-24 10:15:00Z" is not an RFC 3339 time: write a date, 'T', a time and an offset, as in 2026-11-24T10:15:00Z or 2026-11-24T11:15:00+01:00`},
		{"2026-13-24T10:15:00Z", ErrNotTarget, `lsn: "2026-13-24T10:15:00Z" is not an RFC 3339 time: month out of range; write a date, 'T', a time and an offset, as in 2026-11-24T10:15:00Z or 2026-11-24T11:15:00+01:00`},
		{"2026-11-24T10:20:00.000000001Z", ErrFutureTarget, `lsn: "2026-11-24T10:20:00.000000001Z" is in the future: now is 2026-11-24T10:20:00Z`},
		{"2026-11-24T12:00:00+01:00", ErrFutureTarget, `lsn: "2026-11-24T12:00:00+01:00" is in the future: now is 2026-11-24T11:20:00+01:00`},
		{"2100-01-01T00:00:00Z", ErrFutureTarget, `lsn: "2100-01-01T00:00:00Z" is in the future: now is 2026-11-24T10:20:00Z`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in, now)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.kind)
			assert.Equal(t, tt.msg, err.Error())
			assert.NotContains(t, err.Error(), "\n", "errors are one line")
			assert.Equal(t, Target{}, got)
		})
	}
}

func TestValidMarkName(t *testing.T) {
	const rule = "a mark name is a letter, then at most 63 letters, digits, '.', '_' or '-'"
	tests := []struct {
		name string
		msg  string // "" if valid
	}{
		{"before-migration", ""},
		{"a", ""},
		{"A.b_c-9", ""},
		{"x" + strings.Repeat("9", 63), ""},
		{"", "lsn: empty mark name: " + rule},
		{"5m", `lsn: mark name "5m" is a duration: ` + rule},
		{"-5m", `lsn: mark name "-5m" is a duration: ` + rule},
		{"18233", `lsn: mark name "18233" is an LSN: ` + rule},
		{"2026-11-24T10:15:00Z", `lsn: mark name "2026-11-24T10:15:00Z" is a time: ` + rule},
		{"9lives", `lsn: mark name "9lives" does not start with a letter: ` + rule},
		{"-x", `lsn: mark name "-x" does not start with a letter: ` + rule},
		{"x" + strings.Repeat("9", 64), `lsn: mark name "x` + strings.Repeat("9", 64) + `" is 65 bytes long: ` + rule},
		{"my mark", `lsn: mark name "my mark" has ' ' at byte 2: ` + rule},
		{"a/b", `lsn: mark name "a/b" has '/' at byte 1: ` + rule},
		{"café", `lsn: mark name "café" has 'Ã' at byte 3: ` + rule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidMarkName(tt.name)
			if tt.msg == "" {
				require.NoError(t, err)
				got, err := ParseTarget(tt.name, now)
				require.NoError(t, err, "a valid mark name parses as a mark")
				assert.Equal(t, TargetMark, got.Kind)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMarkName)
			assert.Equal(t, tt.msg, err.Error())
		})
	}
}

func TestTargetString(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"18233", "LSN 18233"},
		{"2026-11-24T10:15:00Z", "2026-11-24T10:15:00Z"},
		{"2026-11-24T11:15:00.25+01:00", "2026-11-24T11:15:00.25+01:00"},
		{"-5m", "5m0s ago (2026-11-24T10:15:00Z)"},
		{"1h30m", "1h30m0s ago (2026-11-24T08:50:00Z)"},
		{"before-migration", "mark before-migration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in, now)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.String())
		})
	}
	assert.Equal(t, "no target", Target{}.String())
}

func TestTargetKindString(t *testing.T) {
	for k, want := range map[TargetKind]string{
		0: "none", TargetLSN: "lsn", TargetTime: "time", TargetAgo: "ago", TargetMark: "mark", 99: "none",
	} {
		assert.Equal(t, want, k.String())
	}
}

// FuzzParseTarget checks that ParseTarget never panics, that its errors are
// one line, and that what it accepts parses the same again from Text.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"18233", "0", "2026-11-24T10:15:00Z", "-5m", "1h30m", "before-migration", "10:15", "2026-13-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTarget(s, now)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		again, err := ParseTarget(got.Text, now)
		if err != nil || again.Kind != got.Kind || again.LSN != got.LSN || !again.Time.Equal(got.Time) || again.Mark != got.Mark {
			t.Fatalf("%q parsed as %v, its Text %q as %v, %v", s, got, got.Text, again, err)
		}
		if got.Kind == TargetMark {
			if err := ValidMarkName(got.Mark); err != nil {
				t.Fatalf("%q parsed as a mark, but %v", s, err)
			}
		}
	})
}
