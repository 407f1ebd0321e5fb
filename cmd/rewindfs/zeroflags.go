package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// refuseZero refuses a flag given explicitly as zero where zero is not a
// value but volume.Init's "not given, use the default": `--window 0s` must
// not quietly become a 24-hour window.
func refuseZero(c *cli.Context, names ...string) error {
	for _, n := range names {
		if !c.IsSet(n) {
			continue
		}
		var zero bool
		switch f := c.Value(n).(type) {
		case int:
			zero = f == 0
		case int64:
			zero = f == 0
		default:
			zero = fmt.Sprint(f) == "0s"
		}
		if zero {
			return fmt.Errorf("--%s 0 is out of range (see rewindfs %s --help for what it takes)", n, c.Command.Name)
		}
	}
	return nil
}
