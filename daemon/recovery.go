package daemon

import (
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/rewindfs/rewindfs/pagelog"
	"github.com/rewindfs/rewindfs/volume"
)

// recoveryTick is how often Config.Progress hears how far opening is.
const recoveryTick = 250 * time.Millisecond

// watchOpen returns the FS to open the volume with (fs, which may be nil
// for the disk, with its reads counted) and a function to call once the
// open returned. In between, cfg.Progress is told every recoveryTick how
// many bytes of the log have been read and about how many there are: the
// scan of the log is most of what a mount waits for.
func watchOpen(cfg Config, fs pagelog.FS) (pagelog.FS, func()) {
	if cfg.Progress == nil {
		return fs, func() {}
	}
	total := pagelog.OpenBytes(filepath.Join(cfg.Volume, volume.LogDir))
	var n atomic.Int64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go every(recoveryTick, stop, stopped, func() { cfg.Progress(n.Load(), total) })
	return pagelog.CountReads(fs, &n), func() {
		close(stop)
		<-stopped
	}
}
