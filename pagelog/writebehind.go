package pagelog

// writeBehindEvery is how many bytes of whole pages may be written to the
// active segment before the kernel is asked to begin writing them out.
// PostgreSQL's WAL writer uses 1 MiB (wal_writer_flush_after) for the
// same purpose.
const writeBehindEvery = 1 << 20

// writeBehindPage is the unit writeback is asked for in: the page size of
// the page cache that the segment's writes go through.
const writeBehindPage = 4096

// writeBehindQueue bounds the requests waiting for the worker. A request
// that finds it full is not made; the next write asks for the larger range.
const writeBehindQueue = 8

// behindJob is a range of a segment file to start writing back. The
// background makes the calls, off the log's lock: sync_file_range may
// block while the device's queue is full, and a WRITE that waited for it
// under the lock was slower than the sync it saves (2026-12-07).
type behindJob struct {
	f      File
	off, n int64
}

// writeBehind asks for writeback of the active segment's whole pages below
// end, once writeBehindEvery bytes were written since it last asked.
//
// One log holds every file's changes, so the segment's dirty pages are
// everyone's, and without this they wait for the next sync. An
// application's fsync of 8 KiB of WAL then waits for the megabytes of
// table data logged since the sync before it: the daemon's fdatasyncs took
// 30-72 ms during pgbench -i on 2026-12-07, and the roll's fsync took
// 18-68 ms, under the log's lock. Started early, most of that is on the
// disk by then. It changes no guarantee: only a sync makes anything
// durable.
//
// The page that holds end is left out: the next append writes into it
// again. The caller holds l.mu.
func (l *Log) writeBehind(seg *segment, end int64) {
	to := end &^ (writeBehindPage - 1)
	if to-seg.behind < writeBehindEvery {
		return
	}
	if l.behind.add(behindJob{seg.f, seg.behind, to - seg.behind}, writeBehindQueue, doBehindJob) {
		seg.behind = to
	}
}

func doBehindJob(j behindJob) { j.f.StartWriteback(j.off, j.n) }
