// Package buildinfo says which build of condatrust is running: the module
// version and the version-control commit recorded by the Go toolchain.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// Info is what the binary knows about its own build.
type Info struct {
	Module   string // module path
	Version  string // module version, "(devel)" for a build from a checkout
	Commit   string // vcs.revision, "unknown" when not recorded
	Modified bool   // vcs.modified: the work tree had uncommitted changes
	Go       string // Go version that built the binary
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(devel)", Commit: "unknown", Go: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Module: bi.Main.Path, Version: bi.Main.Version, Commit: "unknown", Go: bi.GoVersion}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the one line --version prints, e.g.
// "v1.2.0 (commit 0123abcd, go1.26.8)".
func (in Info) String() string {
	commit := in.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if in.Modified {
		commit += "+modified"
	}
	return fmt.Sprintf("%s (commit %s, %s)", in.Version, commit, in.Go)
}
