package index

import "slices"

// KnownSubdirs are the subdir names conda knows (its platform list plus
// noarch). The indexer indexes only folders with these names, as
// conda-index does.
var KnownSubdirs = []string{
	"emscripten-wasm32", "freebsd-64",
	"linux-32", "linux-64", "linux-aarch64", "linux-armv6l", "linux-armv7l",
	"linux-ppc64", "linux-ppc64le", "linux-riscv64", "linux-s390x",
	"noarch", "osx-64", "osx-arm64", "wasi-wasm32",
	"win-32", "win-64", "win-arm64", "zos-z",
}

// IsKnownSubdir reports whether name is in [KnownSubdirs].
func IsKnownSubdir(name string) bool { return slices.Contains(KnownSubdirs, name) }
