package index

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := map[string]cacheEntry{"a-1-0.conda": {Size: 10, ETag: "7b-a", MD5: "m", SHA256: "s", IndexJSON: []byte(`{"name":"a"}`)}}
	if err := saveCache(dir, "noarch", testCacheKey, in); err != nil {
		t.Fatal(err)
	}
	out, warning := loadCache(dir, "noarch", testCacheKey)
	if warning != "" || len(out) != 1 || string(out["a-1-0.conda"].IndexJSON) != `{"name":"a"}` || out["a-1-0.conda"].ETag != "7b-a" {
		t.Errorf("loaded %+v, warning %q", out, warning)
	}
	if out, warning := loadCache(t.TempDir(), "noarch", testCacheKey); warning != "" || len(out) != 0 {
		t.Errorf("missing cache: %+v, %q", out, warning)
	}
	// Another key, or the same file in another subdir's folder: nothing
	// verifies.
	path := filepath.Join(dir, CacheDir, CacheFile)
	for _, c := range []struct {
		subdir string
		key    []byte
	}{{"noarch", bytes.Repeat([]byte{8}, CacheKeySize)}, {"linux-64", testCacheKey}} {
		out, warning := loadCache(dir, c.subdir, c.key)
		if want := path + ": 1 entry not authenticated by the cache key (edited, or written with another key): those packages were read again"; len(out) != 0 || warning != want {
			t.Errorf("%s: loaded %+v, warning %q", c.subdir, out, warning)
		}
	}
}

// TestCacheMACCoversEveryField: changing any field, or the file name an
// entry is filed under, makes it fail to verify.
func TestCacheMACCoversEveryField(t *testing.T) {
	base := cacheEntry{Size: 10, ETag: "7b-a", MD5: "m", SHA256: "s", IndexJSON: []byte(`{"name":"a"}`), RunExports: []byte(`{}`),
		About: []byte(`{"home":"h"}`), PostInstall: piTextPrefix}
	mac := entryMAC(testCacheKey, "noarch", "a-1-0.conda", base)
	for name, edit := range map[string]func(*cacheEntry){
		"Size":        func(e *cacheEntry) { e.Size++ },
		"ETag":        func(e *cacheEntry) { e.ETag += "x" },
		"MD5":         func(e *cacheEntry) { e.MD5 = "n" },
		"SHA256":      func(e *cacheEntry) { e.SHA256 = "t" },
		"IndexJSON":   func(e *cacheEntry) { e.IndexJSON = []byte(`{"name":"b"}`) },
		"RunExports":  func(e *cacheEntry) { e.RunExports = nil },
		"About":       func(e *cacheEntry) { e.About = []byte(`{"home":"i"}`) },
		"PostInstall": func(e *cacheEntry) { e.PostInstall |= piBinaryPrefix },
		// Bytes moved from one field to the next.
		"boundary": func(e *cacheEntry) { e.MD5, e.SHA256 = "ms", "" },
	} {
		e := base
		edit(&e)
		if bytes.Equal(entryMAC(testCacheKey, "noarch", "a-1-0.conda", e), mac) {
			t.Errorf("%s: MAC unchanged", name)
		}
	}
	if bytes.Equal(entryMAC(testCacheKey, "noarch", "b-1-0.conda", base), mac) {
		t.Error("file name not covered")
	}
}

func TestLoadCacheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index-cache.key")
	key, err := LoadCacheKey(path)
	if err != nil || len(key) != CacheKeySize {
		t.Fatalf("created key: %d bytes, %v", len(key), err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", st, err)
	}
	again, err := LoadCacheKey(path)
	if err != nil || !bytes.Equal(again, key) {
		t.Errorf("second load: %v, same key %v", err, bytes.Equal(again, key))
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadCacheKey(path)
	if want := path + ": 5 bytes, not a cache key: a cache key file holds exactly 32 random bytes; give another file, or delete this one if it is an old cache key, and a new one is made"; err == nil || err.Error() != want {
		t.Errorf("short key file: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := LoadCacheKey(filepath.Join(missing, "key")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no such directory "+missing) {
		t.Errorf("missing folder: %v", err)
	}
}

// FuzzLoadCache: a damaged or hostile cache file gives an empty cache and
// a warning, never a panic.
func FuzzLoadCache(f *testing.F) {
	dir := f.TempDir()
	if err := saveCache(dir, "noarch", testCacheKey, map[string]cacheEntry{"a-1-0.conda": {Size: 1, IndexJSON: []byte("{}")}}); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, CacheDir, CacheFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(cacheMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, CacheDir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, CacheDir, CacheFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		entries, _ := loadCache(dir, "noarch", testCacheKey)
		if entries == nil {
			t.Fatal("nil cache")
		}
	})
}
