package index

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := map[string]cacheEntry{"a-1-0.conda": {Size: 10, ModTime: 123, MD5: "m", SHA256: "s", IndexJSON: []byte(`{"name":"a"}`)}}
	if err := saveCache(dir, in); err != nil {
		t.Fatal(err)
	}
	out, warning := loadCache(dir)
	if warning != "" || len(out) != 1 || string(out["a-1-0.conda"].IndexJSON) != `{"name":"a"}` || out["a-1-0.conda"].ModTime != 123 {
		t.Errorf("loaded %+v, warning %q", out, warning)
	}
	if out, warning := loadCache(t.TempDir()); warning != "" || len(out) != 0 {
		t.Errorf("missing cache: %+v, %q", out, warning)
	}
}

// FuzzLoadCache: a damaged or hostile cache file gives an empty cache and
// a warning, never a panic.
func FuzzLoadCache(f *testing.F) {
	dir := f.TempDir()
	if err := saveCache(dir, map[string]cacheEntry{"a-1-0.conda": {Size: 1, IndexJSON: []byte("{}")}}); err != nil {
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
		entries, _ := loadCache(dir)
		if entries == nil {
			t.Fatal("nil cache")
		}
	})
}
