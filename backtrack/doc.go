// Package backtrack knows how the states of a volume hang together over time:
// timelines, targets and the rebuilding of state(L) for any L in the window.
//
// # Timelines
//
// Every record has an LSN, and LSNs only grow. A rewind does not delete
// anything: it appends an OpRewind record R that names a target T, and
// defines state(R) = state(T). Records after R apply on top of state(T). So
// the states form a tree, not a line: the path to state(L) is found by
// walking back from L, record by record, and jumping from every rewind record
// to its target. The records visited, in LSN order, rebuild state(L). The
// LSNs a rewind abandoned stay in the log and stay valid targets: rewinding
// "forward" to one of them is just another rewind.
//
// The current timeline is the path to the head. A time target means the last
// record on the current timeline whose time is at or before it, so "10m ago"
// names the state the application saw ten minutes ago, even across earlier
// rewinds.
//
// # Targets and the window
//
// A target is an LSN, a time, a duration ago, or a mark (package lsn parses
// them). Resolve turns one into an LSN, or refuses with an error that names
// the earliest and latest restorable LSN and time (invariant 5). The window
// runs from the base LSN (state(0) until compaction folds records into a base
// image) to the head.
//
// # Cost
//
// History keeps the metadata of every record in the window in memory (type,
// time, the op's bytes and where its data part is in the log), never the
// pages themselves: 32 bytes a record, plus the op's bytes with their zero
// bytes left out (about 17 for a page written), in fixed blocks that are
// never copied as the window grows (table.go). Building state(L) replays metadata only: it reads no
// data from disk, so a rewind costs time in proportion to the records on the
// path, not to the size of the database.
package backtrack
