//go:build !linux

package repodata

// dropPages does nothing where madvise is not used.
func dropPages(b []byte) {}
