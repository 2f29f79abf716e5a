//go:build linux

package repodata

import "syscall"

// dropPages tells the kernel that the mapped pages of b are not needed
// any more. They leave the process's resident memory; the file's bytes
// stay in the page cache, and touching them again reads them back (the
// mapping is private and never written, so nothing is lost).
func dropPages(b []byte) {
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
}
