package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMountHelperArgs: mount(8)'s helper command lines, as mount -t and
// an fstab line give them, become `rewindfs mount` command lines.
func TestMountHelperArgs(t *testing.T) {
	for _, c := range []struct {
		args    string
		want    string // rewindfs arguments, or the error's text after "ERR "
		fake    bool
		verbose bool
	}{
		{"/v /m", "mount /v /m --quiet", false, false},
		{"/v /m -o rw", "mount /v /m --quiet", false, false},
		{"/v /m -o ro,allow_other", "mount /v /m --read-only --allow-other --quiet", false, false},
		{"/v /m -oro,at=before-migration", "mount /v /m --read-only --at before-migration --quiet", false, false},
		{"/v /m -o at=2026-11-24T10:15:00Z,metrics_addr=127.0.0.1:9470", "mount /v /m --at 2026-11-24T10:15:00Z --metrics-addr 127.0.0.1:9470 --quiet", false, false},
		{"/v /m -n -o defaults,noauto,nofail,_netdev,x-systemd.requires-mounts-for=/var,comment=x,nosuid,nodev,noatime", "mount /v /m --quiet", false, false},
		{"/v /m -fv -o debug", "mount /v /m --debug --quiet", true, true},
		{"/v /m -t fuse.rewindfs -o rw", "mount /v /m --quiet", false, false},
		{"/v /m -o allow_other,dsync_direct", "mount /v /m --allow-other --dsync-direct --quiet", false, false},
		{"/v /m -o dsync_direct=1", `ERR unknown option "dsync_direct=1"`, false, false},
		{"/v /m -s -o bogus=1,allow_other", "mount /v /m --allow-other --quiet", false, false},
		{"/v /m -o bogus", `ERR unknown option "bogus"`, false, false},
		{"/v /m -o ro=1", `ERR unknown option "ro=1"`, false, false},
		{"/v /m -o at=", `ERR unknown option "at="`, false, false},
		{"/v", "ERR want VOLUME and MOUNTPOINT, got 1", false, false},
		{"/v /m /x", "ERR want VOLUME and MOUNTPOINT, got 3", false, false},
		{"/v /m -o", "ERR -o needs OPTIONS", false, false},
		{"/v /m -N /proc/1/ns/mnt", "ERR -N", false, false},
		{"/v /m -x", "ERR unknown flag -x", false, false},
	} {
		got, fake, verbose, err := mountHelperArgs(strings.Fields(c.args))
		if want, ok := strings.CutPrefix(c.want, "ERR "); ok {
			require.ErrorContains(t, err, want, c.args)
			continue
		}
		require.NoError(t, err, c.args)
		require.Equal(t, c.want, strings.Join(got, " "), c.args)
		require.Equal(t, c.fake, fake, c.args)
		require.Equal(t, c.verbose, verbose, c.args)
	}
	require.True(t, isMountHelper("/sbin/mount.fuse.rewindfs"))
	require.True(t, isMountHelper("mount.fuse.rewindfs"))
	require.False(t, isMountHelper("/usr/local/bin/rewindfs"))
}
