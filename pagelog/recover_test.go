package pagelog

import (
	"bytes"
	"fmt"
	"github.com/stretchr/testify/require"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/rewindfs/rewindfs/lsn"
)

// builtLog is a small synced log in a MemFS, with the records it holds.
type builtLog struct {
	files map[string][]byte // file name in /log → content
	recs  []testRecord
	ends  map[lsn.LSN]int64 // LSN → offset just past the record in its segment
	offs  map[lsn.LSN]int64 // LSN → offset of the record in its segment
	segOf map[lsn.LSN]string
	last  string // name of the last segment
}

func buildLog(t *testing.T, codec Codec, segSize int64, n int) *builtLog {
	t.Helper()
	mem := NewMemFS()
	opts := Options{Dir: "/log", VolumeID: testVolume, FS: mem, SegmentSize: segSize, Codec: codec}
	l, _, err := Open(opts, nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, uint64(codec)))
	b := &builtLog{files: map[string][]byte{}, ends: map[lsn.LSN]int64{}, offs: map[lsn.LSN]int64{}, segOf: map[lsn.LSN]string{}}
	for i := range n {
		r := appendTest(t, l, rng, i%5, []int{0, 1, 9, 100, 300}[i%5])
		b.recs = append(b.recs, r)
	}
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.Scan(nil), ErrClosed)
	// Find every record's place with a scan of a fresh open.
	l, _, err = Open(opts, nil)
	require.NoError(t, err)
	segs := l.Segments()
	require.NoError(t, l.Scan(func(s *Scanned) error {
		off := int64(s.Data.Off) - recordHeaderLen - int64(len(s.Meta))
		b.offs[s.LSN] = off
		b.ends[s.LSN] = alignUp(int64(s.Data.Off) + int64(s.Data.Len))
		b.segOf[s.LSN] = segs[s.Data.Seg].Name
		return nil
	}))
	require.NoError(t, l.Close())
	names, err := mem.ReadDir("/log")
	require.NoError(t, err)
	for _, name := range names {
		// Without the segments' indexes (index.go), so that Open scans
		// every segment, as it does for a segment not indexed yet;
		// TestIndexedCorruption covers a log with indexes.
		if _, _, ok := isIndexFile(name); ok {
			continue
		}
		b.files[name], err = mem.ReadFile(path.Join("/log", name))
		require.NoError(t, err)
	}
	b.last = segs[len(segs)-1].Name
	return b
}

// mem returns a MemFS holding the log, with file name changed by edit (nil:
// removed). All of it is synced.
func (b *builtLog) mem(t *testing.T, name string, edit func([]byte) []byte) *MemFS {
	t.Helper()
	mem := NewMemFS()
	require.NoError(t, mem.MkdirAll("/log", 0o755))
	for n, content := range b.files {
		content = bytes.Clone(content)
		if n == name {
			if edit == nil {
				continue
			}
			content = edit(content)
		}
		f, err := mem.OpenFile(path.Join("/log", n), os.O_RDWR|os.O_CREATE, 0o644)
		require.NoError(t, err)
		_, err = f.WriteAt(content, 0)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	require.NoError(t, mem.SyncDir("/log"))
	return mem
}

func (b *builtLog) opts(fs FS) Options {
	return Options{Dir: "/log", VolumeID: testVolume, FS: fs}
}

// TestTornTail cuts, zeroes or scrambles the last segment from every
// offset on, and checks that Open recovers to the records before that
// offset, cuts the rest (keeping a copy), that appending works and that the
// log then reopens clean.
func TestTornTail(t *testing.T) {
	b := buildLog(t, CodecNone, 1500, 20)
	seg := b.files[b.last]
	breaks := map[string]func(content []byte, at int) []byte{
		"truncate": func(c []byte, at int) []byte { return c[:at] },
		"zero": func(c []byte, at int) []byte {
			clear(c[at:])
			return c
		},
		"garbage": func(c []byte, at int) []byte {
			rng := rand.New(rand.NewPCG(uint64(at), 1))
			for i := at; i < len(c); i++ {
				c[i] = byte(rng.UintN(256))
			}
			return c
		},
		"zero grown": func(c []byte, at int) []byte {
			// The size reached the disk, the data did not.
			return append(c[:at], make([]byte, len(c)-at+13)...)
		},
	}
	for how, brk := range breaks {
		t.Run(how, func(t *testing.T) {
			for at := segHeaderLen; at < len(seg); at++ {
				checkTornAt(t, b, how, at, brk)
			}
		})
	}
}

func checkTornAt(t *testing.T, b *builtLog, how string, at int, brk func([]byte, int) []byte) {
	t.Helper()
	mem := b.mem(t, b.last, func(c []byte) []byte { return brk(c, at) })
	broken, _ := mem.ReadFile(path.Join("/log", b.last))
	// A record survives if its bytes, padding included, are unchanged:
	// zeroes written over padding or over reserved bytes change nothing,
	// and garbage may by chance repeat a byte.
	orig := b.files[b.last]
	var want []testRecord
	var validEnd int64 = segHeaderLen
	for _, r := range b.recs {
		if b.segOf[r.lsn] != b.last {
			want = append(want, r)
			continue
		}
		off, end := b.offs[r.lsn], b.ends[r.lsn]
		if end > int64(len(broken)) || !bytes.Equal(orig[off:end], broken[off:end]) {
			break
		}
		want = append(want, r)
		validEnd = end
	}
	l, rep, err := Open(b.opts(mem), nil)
	require.NoError(t, err, "%s at %d", how, at)
	require.Equal(t, want[len(want)-1].lsn, rep.Head, "%s at %d", how, at)
	// Zeros after the last valid record are where the log ends (the
	// unused rest of a preallocated segment): nothing is cut.
	wantCut := int64(len(broken)) - validEnd
	if bytes.Count(broken[validEnd:], []byte{0}) == len(broken)-int(validEnd) {
		wantCut = 0
	}
	require.Equal(t, wantCut, rep.CutBytes, "%s at %d", how, at)
	if rep.CutBytes > 0 {
		require.Equal(t, b.last, rep.CutSegment)
		require.Equal(t, path.Join("/log", cutName(b.last, validEnd)), rep.CutCopy)
		cut, err := mem.ReadFile(rep.CutCopy)
		require.NoError(t, err)
		require.Equal(t, broken[validEnd:], cut, "%s at %d: cut copy", how, at)
	}
	requireSameRecords(t, want, scanAll(t, l))
	n, _, _, err := l.Append(9, []byte("after"), []byte("recovery"))
	require.NoError(t, err)
	require.Equal(t, rep.Head+1, n)
	require.NoError(t, l.Close())

	// The cut is durable: a crash now loses nothing, and the log is clean.
	mem.Crash()
	l, rep, err = Open(b.opts(mem), nil)
	require.NoError(t, err, "%s at %d: reopen", how, at)
	require.Zero(t, rep.CutBytes, "%s at %d: reopen", how, at)
	require.Equal(t, n, rep.Head)
	require.NoError(t, l.Close())
	_, err = Verify("/log", mem)
	require.NoError(t, err)
}

// TestCorruption flips one byte inside every record and checks that Open
// and Verify refuse the log with ErrCorrupt naming the segment, the offset
// and the LSN, and leave it untouched. A flip in the last record of the last
// segment cannot be told from a torn write and is cut instead.
func TestCorruption(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			b := buildLog(t, codec, 1500, 20)
			lastLSN := b.recs[len(b.recs)-1].lsn
			rng := rand.New(rand.NewPCG(11, 11))
			for _, r := range b.recs {
				seg := b.segOf[r.lsn]
				off := b.offs[r.lsn]
				covered := b.ends[r.lsn] - off
				for _, at := range []int64{0, 4, 16, 32, covered / 2, covered - 1} {
					at := off + at%covered
					bit := byte(1 << rng.UintN(8))
					mem := b.mem(t, seg, func(c []byte) []byte { c[at] ^= bit; return c })
					_, rep, err := Open(b.opts(mem), nil)
					if r.lsn == lastLSN {
						require.NoError(t, err, "flip at %s+%d", seg, at)
						require.True(t, rep.CutBytes > 0)
						continue
					}
					where := fmt.Sprintf("segment %s offset %d lsn %d", seg, off, r.lsn)
					require.ErrorIs(t, err, ErrCorrupt, "flip at %s+%d", seg, at)
					require.True(t, strings.Contains(err.Error(), where), "error %q does not name %q", err, where)
					_, err = Verify("/log", mem)
					require.ErrorIs(t, err, ErrCorrupt)
					require.True(t, strings.Contains(err.Error(), where), "Verify: error %q does not name %q", err, where)
					// Nothing was changed or added.
					names, _ := mem.ReadDir("/log")
					require.Equal(t, len(b.files), len(names))
					got, _ := mem.ReadFile(path.Join("/log", seg))
					require.Equal(t, len(b.files[seg]), len(got))
				}
			}
		})
	}
}

func TestBadSegments(t *testing.T) {
	b := buildLog(t, CodecNone, 600, 12)
	var names []string
	for n := range b.files {
		names = append(names, n)
	}
	require.True(t, len(names) >= 3, "want 3 segments at least, have %v", names)
	slices.Sort(names)
	middle := names[1]
	other := testVolume
	other[0] ^= 1

	for _, tc := range []struct {
		name   string
		file   string
		edit   func([]byte) []byte
		target error
		say    string
	}{
		{"missing middle segment", middle, nil, ErrCorrupt, "lsn gap between segments"},
		{"header flip", middle, func(c []byte) []byte { c[40] ^= 1; return c }, ErrCorrupt, "segment " + middle},
		{"other volume", middle, func(c []byte) []byte {
			copy(c, encodeSegHeader(segHeader{volume: other, first: mustParse(middle), created: 1}))
			return c
		}, ErrVolumeMismatch, "segment " + middle},
		{"new version", names[len(names)-1], func(c []byte) []byte { c[8] = 3; return c }, ErrVersion, "version 3"},
		{"wrong first lsn", middle, func(c []byte) []byte {
			copy(c, encodeSegHeader(segHeader{volume: testVolume, first: mustParse(middle) + 1, created: 1}))
			return c
		}, ErrCorrupt, "header says first lsn"},
		{"torn tail of a middle segment", middle, func(c []byte) []byte { return c[:len(c)-3] }, ErrCorrupt, "not the last"},
		{"empty file", middle, func(c []byte) []byte { return nil }, ErrCorrupt, "segment header incomplete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := b.mem(t, tc.file, tc.edit)
			_, _, err := Open(b.opts(mem), nil)
			require.ErrorIs(t, err, tc.target)
			require.True(t, strings.Contains(err.Error(), tc.say), "error %q does not say %q", err, tc.say)
			if tc.target != ErrVolumeMismatch {
				_, err = Verify("/log", mem)
				require.ErrorIs(t, err, tc.target)
			}
		})
	}
}

// TestTempSegmentRemoved: a segment whose creation a crash interrupted is
// removed by Open, and does not confuse a read-only open.
func TestTempSegmentRemoved(t *testing.T) {
	b := buildLog(t, CodecNone, 0, 3)
	mem := b.mem(t, "", nil)
	f, err := mem.OpenFile("/log/0000000000000004.seg.tmp", os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("half a header"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	ro, _, err := Open(Options{Dir: "/log", FS: mem, VolumeID: testVolume, ReadOnly: true}, nil)
	require.NoError(t, err)
	require.NoError(t, ro.Close())
	_, err = mem.ReadFile("/log/0000000000000004.seg.tmp")
	require.NoError(t, err, "a read-only open removed a file")

	l, rep, err := Open(b.opts(mem), nil)
	require.NoError(t, err)
	require.EqualValues(t, 3, rep.Head)
	_, err = mem.ReadFile("/log/0000000000000004.seg.tmp")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, l.Close())
}

// TestReadOnlyTornTail: a read-only open ends quietly at a torn tail and
// changes nothing.
func TestReadOnlyTornTail(t *testing.T) {
	b := buildLog(t, CodecNone, 0, 5)
	mem := b.mem(t, b.last, func(c []byte) []byte { return c[:len(c)-5] })
	before, _ := mem.ReadFile(path.Join("/log", b.last))
	opts := b.opts(mem)
	opts.ReadOnly = true
	l, rep, err := Open(opts, nil)
	require.NoError(t, err)
	require.EqualValues(t, 4, rep.Head)
	require.Zero(t, rep.CutBytes)
	require.NoError(t, l.Close())
	after, _ := mem.ReadFile(path.Join("/log", b.last))
	require.Equal(t, before, after)
	v, err := Verify("/log", mem)
	require.NoError(t, err)
	require.EqualValues(t, 4, v.Head)
	require.Equal(t, b.last, v.TornSegment)
	require.Equal(t, b.offs[5], v.TornOffset)
	require.Equal(t, int64(len(before))-b.offs[5], v.TornBytes)
	require.Equal(t, "record runs past end of segment", v.TornReason)
}

func mustParse(name string) lsn.LSN {
	n, ok := parseSegmentName(name)
	if !ok {
		panic(name)
	}
	return n
}

// TestCutCopyNeverOverwritten: two cuts at the same place keep two copies.
func TestCutCopyNeverOverwritten(t *testing.T) {
	mem := NewMemFS()
	opts := Options{Dir: "/log", VolumeID: testVolume, FS: mem}
	var copies []string
	for i := range 2 {
		l, _, err := Open(opts, nil)
		require.NoError(t, err)
		_, _, _, err = l.Append(1, nil, []byte("kept"))
		require.NoError(t, err)
		require.NoError(t, l.Sync(l.Head()))
		end := l.Bytes()
		_, _, _, err = l.Append(1, nil, []byte{byte(i), 1, 2, 3})
		require.NoError(t, err)
		require.NoError(t, l.Close())
		// Tear the last record.
		f, err := mem.OpenFile("/log/"+segmentName(1), os.O_RDWR, 0)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(end+20))
		require.NoError(t, f.Close())
		l, rep, err := Open(opts, nil)
		require.NoError(t, err)
		require.EqualValues(t, 20, rep.CutBytes)
		copies = append(copies, rep.CutCopy)
		require.NoError(t, l.Close())
		// The next round appends at the same offset again.
		f, err = mem.OpenFile("/log/"+segmentName(1), os.O_RDWR, 0)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(end-alignUp(recordHeaderLen+4)))
		require.NoError(t, f.Close())
	}
	require.Equal(t, copies[0]+".1", copies[1])
	a, _ := mem.ReadFile(copies[0])
	b, _ := mem.ReadFile(copies[1])
	require.Equal(t, 20, len(a))
	require.True(t, !bytes.Equal(a, b), "second cut overwrote the first copy")
}
