package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, c := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "m", Version: "v1.2.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "false"}}},
			"v1.2.0 (commit 0123456789ab, go1.26.8)"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "m", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			"(devel) (commit abc+modified, go1.26.8)"},
		{debug.BuildInfo{GoVersion: "go1.26.8"}, "(devel) (commit unknown, go1.26.8)"},
	} {
		if got := fromBuildInfo(&c.bi).String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
