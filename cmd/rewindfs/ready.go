package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// reportNotReady tells the `mount` that started this daemon why it will not
// serve, when it failed before runForeground took over the ready pipe (which
// unsets readyFDEnv). Without it the parent could only guess the reason from
// the last line of daemon.log, which a second daemon of the same volume,
// racing this one, may have written.
func reportNotReady(err error) {
	fdStr := os.Getenv(readyFDEnv)
	if err == nil || fdStr == "" {
		return
	}
	os.Unsetenv(readyFDEnv)
	fd, perr := strconv.Atoi(fdStr)
	if perr != nil {
		return
	}
	pipe := os.NewFile(uintptr(fd), "ready")
	fmt.Fprintf(pipe, "%s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	pipe.Close()
}
