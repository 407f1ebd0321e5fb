package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rewindfs/rewindfs/lsn"
	"github.com/rewindfs/rewindfs/volume"
)

func testSettings() *volume.Settings {
	return &volume.Settings{
		FormatVersion: volume.FormatVersion,
		VolumeID:      "00112233445566778899aabbccddeeff",
		PageSize:      4096,
		Window:        "24h0m0s",
		Compression:   "none",
		SegmentSize:   1 << 16,
		Created:       "2026-11-24T10:00:00Z",
		RootMode:      0o755,
	}
}

// seg makes a segment object covering first..last, starting at minute first.
func seg(first, last lsn.LSN) Object {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	return Object{
		Kind: KindSegment, Key: SegmentKey(first), FirstLSN: first, LastLSN: last,
		FirstTime: t0.Add(time.Duration(first) * time.Second), LastTime: t0.Add(time.Duration(last) * time.Second),
		Size: 1000 + int64(last-first), CRC32C: fmt.Sprintf("%08x", uint32(first)*2654435761),
	}
}

func testManifest(seq uint64, objs ...Object) *Manifest {
	m := &Manifest{
		Format: manifestFormat, Version: manifestVersion, Seq: seq,
		VolumeID: testSettings().VolumeID, Created: time.Date(2026, 11, 24, 11, 0, 0, 123456789, time.UTC),
		Settings: testSettings(), Objects: objs,
	}
	if seq > 1 {
		m.Previous = &ManifestRef{Seq: seq - 1, Key: ManifestKey(seq - 1), Size: 321, CRC32C: "0badc0de"}
	}
	if len(objs) > 0 {
		m.ArchivedThrough = objs[len(objs)-1].LastLSN
	}
	return m
}

func TestParseURL(t *testing.T) {
	good := map[string]Location{
		"s3://bucket":                {Bucket: "bucket"},
		"s3://bucket/":               {Bucket: "bucket"},
		"s3://bucket/pg":             {Bucket: "bucket", Prefix: "pg"},
		"s3://my.bucket-1/a/b/c/":    {Bucket: "my.bucket-1", Prefix: "a/b/c"},
		"s3://backups/rewindfs/pg-1": {Bucket: "backups", Prefix: "rewindfs/pg-1"},
	}
	for in, want := range good {
		got, err := ParseURL(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		again, err := ParseURL(got.String())
		require.NoError(t, err)
		require.Equal(t, got, again, "String() round trip of %s", in)
	}
	for _, in := range []string{
		"", "bucket/prefix", "http://bucket/prefix", "gs://bucket/x", "s3://", "s3:///prefix",
		"s3://Bucket/x", "s3://b/x", "s3://bucket_1/x", "s3://-bucket/x", "s3://user@bucket/x",
		"s3://bucket:9000/x", "s3://bucket/x?versionId=1", "s3://bucket/a//b", "s3://bucket/a/../b",
	} {
		_, err := ParseURL(in)
		require.ErrorIs(t, err, ErrBadURL, "%q", in)
	}
	loc := Location{Bucket: "b-1", Prefix: "p/q"}
	require.Equal(t, "p/q/segments/0000000000000001.seg", loc.Key(SegmentKey(1)))
	require.Equal(t, "s3://b-1/p/q/manifests/00000000000000ff.json", loc.URL(ManifestKey(255)))
	require.Equal(t, "segments/0000000000000001.seg", Location{Bucket: "b-1"}.Key(SegmentKey(1)))
}

func TestManifestRoundTrip(t *testing.T) {
	m := testManifest(3, seg(1, 10), seg(11, 25), seg(26, 26))
	b, err := m.Encode()
	require.NoError(t, err)
	got, err := DecodeManifest(b, "test")
	require.NoError(t, err)
	require.Equal(t, m, got)
	b2, err := got.Encode()
	require.NoError(t, err)
	require.Equal(t, string(b), string(b2), "encoding is deterministic")

	// The field names are the format: check them from the outside.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	for _, k := range []string{"format", "version", "seq", "volume_id", "created", "previous", "settings", "base_lsn", "archived_through", "objects"} {
		require.Contains(t, raw, k)
	}
	obj := raw["objects"].([]any)[1].(map[string]any)
	require.Equal(t, map[string]any{
		"kind": "segment", "key": "segments/000000000000000b.seg", "first_lsn": 11.0, "last_lsn": 25.0,
		"first_time": "2026-11-24T10:00:11Z", "last_time": "2026-11-24T10:00:25Z", "size": 1014.0, "crc32c": m.Objects[1].CRC32C,
	}, obj)
	prev := raw["previous"].(map[string]any)
	require.Equal(t, "manifests/0000000000000002.json", prev["key"])
	require.NotContains(t, raw["settings"], "archive", "a manifest never carries the archive settings")

	// Manifest 1 has no previous; an empty manifest is allowed.
	_, err = DecodeManifest(mustEncode(t, testManifest(1)), "empty")
	require.NoError(t, err)
}

func mustEncode(t *testing.T, m *Manifest) []byte {
	t.Helper()
	b, err := json.Marshal(m) // not Encode: the tests break manifests on purpose
	require.NoError(t, err)
	return b
}

func TestDecodeManifestRefusesBadOnes(t *testing.T) {
	cases := map[string]func(m *Manifest){
		"format":           func(m *Manifest) { m.Format = "something-else" },
		"version":          func(m *Manifest) { m.Version = 3 },
		"seq zero":         func(m *Manifest) { m.Seq = 0 },
		"volume id":        func(m *Manifest) { m.VolumeID = "xyz" },
		"settings missing": func(m *Manifest) { m.Settings = nil },
		"settings other":   func(m *Manifest) { s := testSettings(); s.VolumeID = strings.Repeat("1", 32); m.Settings = s },
		"previous missing": func(m *Manifest) { m.Previous = nil },
		"previous wrong":   func(m *Manifest) { m.Previous.Seq = 7 },
		"previous crc":     func(m *Manifest) { m.Previous.CRC32C = "xyz" },
		"unknown kind":     func(m *Manifest) { m.Objects[0].Kind = "base-pages" },
		"key":              func(m *Manifest) { m.Objects[1].Key = "segments/x.seg" },
		"lsn range":        func(m *Manifest) { m.Objects[1].LastLSN = 5 },
		"overlap":          func(m *Manifest) { m.Objects[1].FirstLSN, m.Objects[1].Key = 10, SegmentKey(10) },
		"duplicate":        func(m *Manifest) { m.Objects[1] = m.Objects[0]; m.Objects = m.Objects[:2] },
		"times":            func(m *Manifest) { m.Objects[0].LastTime = m.Objects[0].FirstTime.Add(-1) },
		"size":             func(m *Manifest) { m.Objects[0].Size = 0 },
		"crc":              func(m *Manifest) { m.Objects[0].CRC32C = "12345" },
		"archived_through": func(m *Manifest) { m.ArchivedThrough = 99 },
		"not json":         nil,
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			m := testManifest(2, seg(1, 10), seg(11, 20), seg(21, 30))
			var b []byte
			if breakIt == nil {
				b = []byte("{not json")
			} else {
				breakIt(m)
				b = mustEncode(t, m)
			}
			_, err := DecodeManifest(b, "m")
			require.ErrorIs(t, err, ErrManifest)
		})
	}
}

func TestChainFindsGaps(t *testing.T) {
	m := testManifest(4, seg(1, 10), seg(11, 20), seg(31, 40), seg(41, 50))
	_, err := m.Chain()
	require.ErrorIs(t, err, ErrGap)
	require.Contains(t, err.Error(), "segments/000000000000001f.seg", "the error names the object after the gap")
	require.Contains(t, err.Error(), "LSNs 21..30")
	r, err := m.Restorable()
	require.ErrorIs(t, err, ErrGap)
	require.Equal(t, lsn.LSN(1), r.FirstLSN)
	require.Equal(t, lsn.LSN(20), r.LastLSN, "the restorable range stops before the gap")
	require.Equal(t, 2, r.Segments)

	// The chain must start right after the base.
	m = testManifest(1, seg(2, 10))
	_, err = m.Chain()
	require.ErrorIs(t, err, ErrGap)

	m = testManifest(2, seg(1, 10), seg(11, 20), seg(21, 21))
	segs, err := m.Chain()
	require.NoError(t, err)
	require.Len(t, segs, 3)
	r, err = m.Restorable()
	require.NoError(t, err)
	require.Equal(t, Range{FirstLSN: 1, FirstTime: segs[0].FirstTime, LastLSN: 21, LastTime: segs[2].LastTime, Segments: 3,
		Bytes: segs[0].Size + segs[1].Size + segs[2].Size}, r)
}

func TestSelectSegments(t *testing.T) {
	chain := []Object{seg(1, 10), seg(11, 20), seg(21, 30)}
	now := chain[2].LastTime.Add(time.Hour)
	pick := func(s string) ([]Object, error) {
		tg, err := lsn.ParseTarget(s, now)
		require.NoError(t, err)
		return selectSegments(chain, &tg, now)
	}
	n := func(s string) int {
		segs, err := pick(s)
		require.NoError(t, err, s)
		return len(segs)
	}
	segs, err := selectSegments(chain, nil, now)
	require.NoError(t, err)
	require.Len(t, segs, 3)
	require.Equal(t, 1, n("1"))
	require.Equal(t, 1, n("10"))
	require.Equal(t, 2, n("11"))
	require.Equal(t, 3, n("30"))
	require.Equal(t, 3, n("some-mark"), "a mark needs every record to be found")
	// Times: the segments that start at or before the time.
	require.Equal(t, 1, n(chain[0].LastTime.Add(500*time.Millisecond).Format(time.RFC3339Nano)))
	require.Equal(t, 2, n(chain[1].FirstTime.Format(time.RFC3339Nano)))
	require.Equal(t, 3, n(chain[2].LastTime.Format(time.RFC3339Nano)))
	require.Equal(t, 3, n("1h"))
	for _, bad := range []string{"31", "1000", chain[0].FirstTime.Add(-time.Second).Format(time.RFC3339Nano), chain[2].LastTime.Add(time.Second).Format(time.RFC3339Nano), "59m"} {
		_, err := pick(bad)
		require.ErrorIs(t, err, ErrTarget, bad)
	}
	_, err = pick("31")
	require.Contains(t, err.Error(), "LSN 1 (")
}

func TestFindLatestWithoutList(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 3, 7, 8, 9, 100, 1000} {
		b := newMemBucket()
		for i := uint64(1); i <= n; i++ {
			b.put(ManifestKey(i), []byte("x"), nil)
		}
		for _, hint := range []uint64{0, 1, n / 2, n, n + 5, 1 << 40} {
			b.stats.Store(0)
			got, err := FindLatest(context.Background(), b, hint)
			require.NoError(t, err)
			require.Equal(t, n, got, "n=%d hint=%d", n, hint)
			require.LessOrEqual(t, b.stats.Load(), int64(2+4*bitsLen(n+1)), "HEADs for n=%d hint=%d", n, hint)
			if hint == n && n > 0 {
				require.Equal(t, int64(2), b.stats.Load(), "the right hint costs two HEADs")
			}
		}
	}
	b := newMemBucket()
	b.down.Store(true)
	_, err := FindLatest(context.Background(), b, 0)
	require.ErrorIs(t, err, errStoreDown)
	_, _, err = Latest(context.Background(), newMemBucket(), 0)
	require.ErrorIs(t, err, ErrNoArchive)
}

func bitsLen(n uint64) int {
	k := 0
	for ; n > 0; n >>= 1 {
		k++
	}
	return k
}

func TestReadManifestChecksMetadata(t *testing.T) {
	b := newMemBucket()
	data, err := testManifest(1, seg(1, 5)).Encode()
	require.NoError(t, err)
	b.put(ManifestKey(1), data, map[string]string{metaCRC32C: Checksum(data)})
	m, ref, err := ReadManifest(context.Background(), b, 1)
	require.NoError(t, err)
	require.Equal(t, uint64(1), m.Seq)
	require.Equal(t, Checksum(data), ref.CRC32C)
	b.damage(ManifestKey(1), len(data)-3)
	_, _, err = ReadManifest(context.Background(), b, 1)
	require.ErrorIs(t, err, ErrChecksum)
	require.Contains(t, err.Error(), "manifests/0000000000000001.json")
	// A manifest stored under another number is refused.
	b.put(ManifestKey(2), data, nil)
	_, _, err = ReadManifest(context.Background(), b, 2)
	require.True(t, errors.Is(err, ErrManifest), "%v", err)
}
