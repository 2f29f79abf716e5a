//go:build !unix

package repodata

import "os"

// mapFile reads path; systems without mmap keep the bytes on the heap.
func mapFile(path string) ([]byte, func() error, bool, error) {
	data, err := os.ReadFile(path)
	return data, func() error { return nil }, false, err
}
