package index

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/condatrust/condatrust/internal/atomicfile"
)

// CacheDir and CacheFile locate the incremental cache of a subdir:
// SUBDIR/.cache/condatrust-index.gob. The .cache folder is the one
// conda-index uses for its own cache.db; neither is meant to be served.
const (
	CacheDir  = ".cache"
	CacheFile = "condatrust-index.gob"
)

// cacheVersion changes whenever the meaning of a cached entry changes, so
// that an old cache is discarded rather than trusted.
const cacheVersion = 1

// cacheMagic starts the file so that a stray file is not decoded.
const cacheMagic = "condatrust-index-cache\n"

// cacheEntry is what is kept of one package between runs: everything a
// record is built from.
type cacheEntry struct {
	Size       int64
	ModTime    int64 // nanoseconds since the epoch
	MD5        string
	SHA256     string
	IndexJSON  []byte
	RunExports []byte // info/run_exports.json, nil when absent
}

type cacheData struct {
	Version int
	Entries map[string]cacheEntry
}

// loadCache reads the cache of a subdir. A missing cache is empty; an
// unreadable or foreign one is empty too, with a warning, since the cache
// is only an optimisation: everything will be read again.
func loadCache(subdirPath string) (map[string]cacheEntry, string) {
	path := filepath.Join(subdirPath, CacheDir, CacheFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]cacheEntry{}, ""
	}
	if err != nil {
		return map[string]cacheEntry{}, fmt.Sprintf("%s: %v; reading every package again", path, err)
	}
	rest, ok := bytes.CutPrefix(data, []byte(cacheMagic))
	var c cacheData
	if ok {
		err = gob.NewDecoder(bytes.NewReader(rest)).Decode(&c)
	}
	switch {
	case !ok || err != nil:
		return map[string]cacheEntry{}, fmt.Sprintf("%s: not a readable cache (%v); reading every package again", path, err)
	case c.Version != cacheVersion:
		return map[string]cacheEntry{}, ""
	case c.Entries == nil:
		return map[string]cacheEntry{}, ""
	}
	return c.Entries, ""
}

// saveCache writes the cache of a subdir atomically.
func saveCache(subdirPath string, entries map[string]cacheEntry) error {
	dir := filepath.Join(subdirPath, CacheDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString(cacheMagic)
	if err := gob.NewEncoder(&buf).Encode(cacheData{Version: cacheVersion, Entries: entries}); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, CacheFile), buf.Bytes(), 0o644)
}
