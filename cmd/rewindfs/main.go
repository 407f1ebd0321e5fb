// Command rewindfs mounts a file system whose every change is a record in an
// append-only log, so that whatever database runs on it can be rewound to any
// LSN or time in the volume's window. See README.md.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// completionFlag is what urfave/cli's bash completion script adds to a
// command line to ask for the words that may come next.
const completionFlag = "--generate-bash-completion"

func main() {
	if isMountHelper(os.Args[0]) {
		runMountHelper() // mount -t fuse.rewindfs, /etc/fstab (mounthelper.go)
		return
	}
	app := newApp()
	if err := app.Run(reorderFlags(app, os.Args)); err != nil {
		msg := strings.TrimSpace(err.Error())
		msg = strings.ReplaceAll(msg, "\n", "; ")
		fmt.Fprintf(os.Stderr, "rewindfs: %s\n", msg)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "rewindfs",
		Usage:   "a file system with an undo button for the database on it",
		Version: version,
		Description: "Every change made through a rewindfs mount becomes a record in an append-only log with a\n" +
			"log sequence number (LSN). A database on the mount can be rewound to any LSN, time or mark\n" +
			"inside the volume's window, live or unmounted, and rewinds never destroy history.",
		Commands: []*cli.Command{
			initCommand(), mountCommand(), unmountCommand(), statusCommand(), logCommand(),
			archiveCommand(), restoreCommand(),
			cloneCommand(),
			importCommand(),
			rewindCommand(), markCommand(), verifyCommand(), compactCommand(), configCommand(), diffCommand(), bisectCommand(),
			latencyCommand(),
		},
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {},
	}
}

// reorderFlags moves a command's flags in front of its arguments. The
// command line contract puts them after (`rewindfs mount VOL MNT
// --foreground`), and urfave/cli v2 stops reading flags at the first
// argument. A flag that takes a value brings its value along; "--" ends
// the flags.
func reorderFlags(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	// Shell completion (urfave/cli's --generate-bash-completion) must stay
	// the last argument, with no "--" before it, and urfave/cli reads the
	// word being completed from os.Args: leave such a line alone.
	if args[len(args)-1] == completionFlag {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.Name == args[1] || contains(c.Aliases, args[1]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	// A subcommand (archive ls) has the flags: reorder from there.
	for _, sub := range cmd.Subcommands {
		if sub.Name == args[2] || contains(sub.Aliases, args[2]) {
			rest := reorderFlags(&cli.App{Commands: cmd.Subcommands}, append([]string{args[0]}, args[2:]...))
			return append([]string{args[0], args[1]}, rest[1:]...)
		}
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	flags := []string{}
	pos := []string{}
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(pos) > 0 {
		out = append(out, "--")
		out = append(out, pos...)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// needArgs checks the count of positional arguments.
func needArgs(c *cli.Context, n int, usage string) error {
	if c.NArg() != n {
		return fmt.Errorf("%s takes %d argument(s): rewindfs %s %s (see rewindfs %s --help)", c.Command.Name, n, c.Command.Name, usage, c.Command.Name)
	}
	return nil
}
