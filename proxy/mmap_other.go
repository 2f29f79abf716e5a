//go:build !unix

package proxy

import (
	"os"
	"time"
)

// mapRead reads path (no mapping here).
func mapRead(path string) ([]byte, func(), error) {
	data, err := os.ReadFile(path)
	return data, func() {}, err
}

// processGone cannot ask whether pid runs here: a folder a day old is
// taken for a leftover.
func processGone(_ int, mtime time.Time) bool {
	return time.Since(mtime) > 24*time.Hour
}
