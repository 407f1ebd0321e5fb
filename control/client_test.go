package control

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

// TestHelpersSendAndDecode: Mark and Rewind send the requests the daemon
// answers (the same as the command line's) and decode its answers, whose
// types live in package volume.
func TestHelpersSendAndDecode(t *testing.T) {
	dir := t.TempDir()
	ln, err := Listen(dir)
	require.NoError(t, err)
	var got []Request
	at := time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)
	srv := NewServer(ln, func(r Request) (any, error) {
		got = append(got, r)
		switch r.Op {
		case "mark":
			return volume.Mark{Name: r.Name, LSN: 41}, nil
		case "rewind":
			return volume.RewindPlan{From: 50, To: 41, ToTime: at, Undone: 9, UndoneBytes: 8192,
				Redone: 1, Files: 2, RewindLSN: 51}, nil
		}
		return nil, nil
	})
	defer srv.Close()

	l, err := Mark(dir, "clean")
	require.NoError(t, err)
	require.Equal(t, lsn.LSN(41), l)
	r, err := Rewind(dir, "clean")
	require.NoError(t, err)
	require.Equal(t, Rewound{From: 50, To: 41, ToTime: at, Undone: 9, UndoneBytes: 8192, Redone: 1, Files: 2, RewindLSN: 51}, r)
	require.Equal(t, []Request{{Op: "mark", Name: "clean"}, {Op: "rewind", Target: "clean"}}, got)
}

// TestRewoundMatchesRewindPlan: every field of Rewound is a field of the
// plan the daemon sends, under the same JSON name.
func TestRewoundMatchesRewindPlan(t *testing.T) {
	b, err := json.Marshal(Rewound{})
	require.NoError(t, err)
	var ours map[string]any
	require.NoError(t, json.Unmarshal(b, &ours))
	b, err = json.Marshal(volume.RewindPlan{SpanFrom: time.Now(), SpanTo: time.Now(), RewindLSN: 1})
	require.NoError(t, err)
	var theirs map[string]any
	require.NoError(t, json.Unmarshal(b, &theirs))
	for k := range ours {
		require.Contains(t, theirs, k, "Rewound has %q, which volume.RewindPlan does not send", k)
	}
	b, err = json.Marshal(Marked{})
	require.NoError(t, err)
	var m, vm map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	b, err = json.Marshal(volume.Mark{})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &vm))
	for k := range m {
		require.Contains(t, vm, k, "Marked has %q, which volume.Mark does not send", k)
	}
}

// TestHelpersReportRefusals: a refusal reaches the caller as the daemon's
// one-line reason; no daemon is ErrNoDaemon.
func TestHelpersReportRefusals(t *testing.T) {
	_, err := Mark(t.TempDir(), "x")
	require.ErrorIs(t, err, ErrNoDaemon)
	dir := t.TempDir()
	ln, err := Listen(dir)
	require.NoError(t, err)
	srv := NewServer(ln, func(r Request) (any, error) {
		return nil, volume.ErrFilesOpen
	})
	defer srv.Close()
	_, err = Rewind(dir, "clean")
	require.EqualError(t, err, volume.ErrFilesOpen.Error())
}
