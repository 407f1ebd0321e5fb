package main

import (
	"strconv"
	"unicode/utf8"
)

// printable returns a path as `log` prints it on a line of text. A name is
// any bytes but '/' and NUL, so it may hold a newline (and forge a line of
// the output), other control characters, bidirectional overrides or bytes
// that are not UTF-8. Such a path is printed quoted, with Go's escapes
// ("new\nline", "caf\xe9"); every other path as it is.
func printable(p string) string {
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRuneInString(p[i:])
		if (r == utf8.RuneError && n == 1) || !strconv.IsPrint(r) {
			return strconv.Quote(p)
		}
		i += n
	}
	return p
}
