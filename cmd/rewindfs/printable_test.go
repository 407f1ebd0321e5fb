package main

import "testing"

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b c":                   "/a/b c",
		"/café":                    "/café",
		"/new\nline":               `"/new\nline"`,
		"/caf\xe9":                 `"/caf\xe9"`,
		"/\x01ctl":                 `"/\x01ctl"`,
		"/\u202eevil":              `"/\u202eevil"`,
		"/tab\there":               `"/tab\there"`,
		`/quote"and\backslash`:     `/quote"and\backslash`,
		"":                         "",
		"/x\n  999  rewind forged": `"/x\n  999  rewind forged"`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
}
