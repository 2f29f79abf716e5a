//go:build unix

package atomicfile

import (
	"errors"
	"syscall"
	"time"
)

// gone reports whether process pid has exited: kill(pid, 0) fails with
// ESRCH. A process of another user (EPERM) is alive.
func gone(pid int, _ time.Time) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
