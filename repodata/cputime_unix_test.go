//go:build unix

package repodata

import "syscall"

// processCPU returns the user and system CPU time this process has used,
// in nanoseconds, or 0 where it cannot tell.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
