package index

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// testCacheKey is a cache key for tests that give one.
var testCacheKey = bytes.Repeat([]byte{7}, CacheKeySize)

// TestMain points the user's configuration directory at a temporary one,
// so that runs without Options.CacheKey never touch the real default key.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "index-test-config")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, v := range []string{"XDG_CONFIG_HOME", "HOME", "AppData", "home"} {
		os.Setenv(v, dir)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
