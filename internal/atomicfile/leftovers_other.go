//go:build !unix

package atomicfile

import "time"

// gone cannot ask the system about pid here: a temporary file older than
// StaleAge is taken to be a leftover.
func gone(_ int, modTime time.Time) bool {
	return time.Since(modTime) > StaleAge
}
