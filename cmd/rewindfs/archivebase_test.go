package main

import (
	"testing"
	"time"
)

func TestParseBaseEvery(t *testing.T) {
	cases := []struct {
		in string
		n  int64
		d  time.Duration
	}{
		{"1GiB", 1 << 30, 0}, {"24h", 0, 24 * time.Hour}, {"1GiB,24h", 1 << 30, 24 * time.Hour},
		{"6h, 512MiB", 512 << 20, 6 * time.Hour}, {"65536", 65536, 0}, {"2d", 0, 48 * time.Hour}, {"64K", 64 << 10, 0},
	}
	for _, c := range cases {
		n, d, err := parseBaseEvery(c.in)
		if err != nil || n != c.n || d != c.d {
			t.Errorf("parseBaseEvery(%q) = %d, %s, %v; want %d, %s", c.in, n, d, err, c.n, c.d)
		}
	}
	for _, in := range []string{"", "lots", "1GiB,", "-1GiB", "0h", "1.5GiB"} {
		if n, d, err := parseBaseEvery(in); err == nil {
			t.Errorf("parseBaseEvery(%q) = %d, %s; want an error", in, n, d)
		}
	}
}
