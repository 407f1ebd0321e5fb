package pagelog

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// require stands in for github.com/stretchr/testify/require, with the same
// names for the few checks these tests use. testify cannot be built in this
// module as it is (go.sum has no entry for the go.yaml.in/yaml/v3 it
// imports), and pagelog should not change go.mod for a test dependency.
var require requireT

type requireT struct{}

func msg(args []any) string {
	if len(args) == 0 {
		return ""
	}
	if f, ok := args[0].(string); ok {
		return ": " + fmt.Sprintf(f, args[1:]...)
	}
	return ": " + fmt.Sprint(args...)
}

// show formats a value for a failure message; long byte slices are cut.
func show(v any) string {
	if b, ok := v.([]byte); ok && len(b) > 64 {
		return fmt.Sprintf("[]byte(len %d) %x...", len(b), b[:64])
	}
	return fmt.Sprintf("%#v", v)
}

func (requireT) NoError(t testing.TB, err error, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v%s", err, msg(args))
	}
}

func (requireT) Error(t testing.TB, err error, args ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error%s", msg(args))
	}
}

func (requireT) ErrorIs(t testing.TB, err, target error, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v is not %v%s", err, target, msg(args))
	}
}

func (requireT) Equal(t testing.TB, want, got any, args ...any) {
	t.Helper()
	if wb, ok := want.([]byte); ok {
		if gb, ok := got.([]byte); ok && bytes.Equal(wb, gb) {
			return
		}
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("not equal%s\nwant: %s\ngot:  %s", msg(args), show(want), show(got))
	}
}

// EqualValues compares after converting got to the type of want.
func (r requireT) EqualValues(t testing.TB, want, got any, args ...any) {
	t.Helper()
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	if g.Type().ConvertibleTo(w.Type()) {
		got = g.Convert(w.Type()).Interface()
	}
	r.Equal(t, want, got, args...)
}

func (requireT) True(t testing.TB, ok bool, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf("condition is false%s", msg(args))
	}
}

func (requireT) Zero(t testing.TB, v any, args ...any) {
	t.Helper()
	if !reflect.ValueOf(v).IsZero() {
		t.Fatalf("%s is not zero%s", show(v), msg(args))
	}
}

func (requireT) Empty(t testing.TB, v any, args ...any) {
	t.Helper()
	if n := reflect.ValueOf(v).Len(); n != 0 {
		t.Fatalf("length %d, want empty%s", n, msg(args))
	}
}

func (requireT) Greater(t testing.TB, a, b int, args ...any) {
	t.Helper()
	if cmp.Compare(a, b) <= 0 {
		t.Fatalf("%d is not greater than %d%s", a, b, msg(args))
	}
}
