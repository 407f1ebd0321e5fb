package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckMountpoint(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "vol")
	for _, d := range []string{vol + "/log", dir + "/mnt", dir + "/volume-sibling"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(vol, dir+"/alias"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mnt string
		ok  bool
	}{
		{dir + "/mnt", true},
		{dir + "/volume-sibling", true}, // a name that starts like the volume's
		{vol, false},
		{vol + "/log", false},
		{dir, false},
		{"/", false},
		{dir + "/alias", false},
		{dir + "/alias/log", false},
	} {
		err := checkMountpoint(vol, tc.mnt)
		if (err == nil) != tc.ok {
			t.Errorf("checkMountpoint(%s, %s) = %v, want ok %v", vol, tc.mnt, err, tc.ok)
		}
	}
}
