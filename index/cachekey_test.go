package index

import (
	"bytes"
	"context"
	"encoding/gob"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/signer"
)

// editCache changes the entry for fn in the cache file of subdirPath the
// way anyone who can write the channel folder can: without the key.
func editCache(t testing.TB, subdirPath, fn string, edit func(*cacheEntry)) {
	t.Helper()
	path := filepath.Join(subdirPath, CacheDir, CacheFile)
	data := readFile(t, path)
	rest, ok := bytes.CutPrefix(data, []byte(cacheMagic))
	if !ok {
		t.Fatalf("%s: no magic", path)
	}
	var c cacheData
	if err := gob.NewDecoder(bytes.NewReader(rest)).Decode(&c); err != nil {
		t.Fatal(err)
	}
	e, ok := c.Entries[fn]
	if !ok {
		t.Fatalf("%s: no entry for %s", path, fn)
	}
	edit(&e)
	c.Entries[fn] = e
	var buf bytes.Buffer
	buf.WriteString(cacheMagic)
	if err := gob.NewEncoder(&buf).Encode(c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// signedRecord returns the record of fn in the subdir's repodata.json.
func signedRecord(t testing.TB, subdirPath, section, fn string) canonjson.Value {
	t.Helper()
	doc := mustParse(t, RepodataFile, readFile(t, filepath.Join(subdirPath, RepodataFile)))
	if _, ok := doc.Get("signatures"); !ok {
		t.Fatalf("%s: not signed", subdirPath)
	}
	recs, _ := doc.Get(section)
	rec, ok := recs.Get(fn)
	if !ok {
		t.Fatalf("%s: no record %s", subdirPath, fn)
	}
	return rec
}

// TestIndexCacheEditedDepends: a cache entry edited in the channel folder
// (depends changed, the package bytes untouched) is not believed: the
// package is read again and the signed record has its true depends.
func TestIndexCacheEditedDepends(t *testing.T) {
	ch := smallChannel(t)
	lin := filepath.Join(ch, "linux-64")
	key, _ := signer.NewKey(make([]byte, 32))
	opts := Options{Signers: []signer.Signer{key}}
	if _, err := Index(context.Background(), ch, opts); err != nil {
		t.Fatal(err)
	}
	editCache(t, lin, "app-2.1-h1_0.tar.bz2", func(e *cacheEntry) {
		e.IndexJSON = bytes.Replace(e.IndexJSON, []byte(`"liba >=1.0"`), []byte(`"evil"`), 1)
	})
	res, err := Index(context.Background(), ch, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := signedRecord(t, lin, "packages", "app-2.1-h1_0.tar.bz2")
	if deps, _ := rec.Get("depends"); string(Compact.Marshal(deps)) != `["liba >=1.0"]` {
		t.Errorf("signed depends %s, want the package's own [\"liba >=1.0\"]", Compact.Marshal(deps))
	}
	if res.Read != 1 || res.Cached != 3 {
		t.Errorf("read %d, cached %d; want the edited entry read again (1, 3)", res.Read, res.Cached)
	}
	want := []string{filepath.Join(lin, CacheDir, CacheFile) + ": 1 entry not authenticated by the cache key (edited, or written with another key): those packages were read again"}
	if strings.Join(res.Warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings %q, want %q", res.Warnings, want)
	}
}

// TestIndexDefaultCacheKey: without Options.CacheKey, the key lives in the
// user's configuration folder, made on first use (folders 0700, file
// 0600), and serves the next runs.
func TestIndexDefaultCacheKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config")
	t.Setenv("XDG_CONFIG_HOME", cfg)
	ch := smallChannel(t)
	res, err := Index(context.Background(), ch, Options{})
	if err != nil || len(res.Warnings) != 0 || res.Read != 4 {
		t.Fatalf("first run: %v, %+v", err, res)
	}
	keyPath := filepath.Join(cfg, "condatrust", "index-cache.key")
	if p, err := DefaultCacheKeyFile(); err != nil || p != keyPath {
		t.Errorf("DefaultCacheKeyFile: %q, %v; want %q", p, err, keyPath)
	}
	for path, mode := range map[string]os.FileMode{cfg: 0o700 | os.ModeDir, filepath.Dir(keyPath): 0o700 | os.ModeDir, keyPath: 0o600} {
		st, err := os.Stat(path)
		if err != nil || st.Mode() != mode {
			t.Errorf("%s: %v, %v; want mode %v", path, st.Mode(), err, mode)
		}
	}
	key := readFile(t, keyPath)
	if len(key) != CacheKeySize {
		t.Errorf("key file: %d bytes", len(key))
	}
	res, err = Index(context.Background(), ch, Options{})
	if err != nil || res.Cached != 4 || len(res.Warnings) != 0 {
		t.Errorf("second run: %v; cached %d, warnings %q", err, res.Cached, res.Warnings)
	}
	// The same key given as an option verifies the same cache.
	res, err = Index(context.Background(), ch, Options{CacheKey: key})
	if err != nil || res.Cached != 4 || len(res.Warnings) != 0 {
		t.Errorf("with the key as an option: %v; cached %d, warnings %q", err, res.Cached, res.Warnings)
	}
}

// TestIndexNoCacheKey: when the default key cannot be made (here: no home
// folder), the run reads everything, writes no cache, and says so once.
func TestIndexNoCacheKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "no-home", ".config")
	t.Setenv("XDG_CONFIG_HOME", cfg)
	ch := smallChannel(t)
	for run := range 2 {
		res, err := Index(context.Background(), ch, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := "no cache key (mkdir " + cfg + ": no such file or directory): the caches in SUBDIR/.cache were neither used nor updated and every package was read; give a key file with --cache-key FILE"
		if res.Read != 4 || len(res.Warnings) != 1 || res.Warnings[0] != want {
			t.Errorf("run %d: read %d, warnings %q; want 4 and %q", run, res.Read, res.Warnings, want)
		}
	}
	if _, err := os.Stat(filepath.Join(ch, "noarch", CacheDir)); !os.IsNotExist(err) {
		t.Errorf("a cache was written: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(cfg)); !os.IsNotExist(err) {
		t.Errorf("the missing home folder was created: %v", err)
	}
}

// TestIndexCacheOtherKey: a cache written with one key is not used with
// another (one warning per subdir), and is rewritten with the new key.
func TestIndexCacheOtherKey(t *testing.T) {
	ch := smallChannel(t)
	if _, err := Index(context.Background(), ch, Options{CacheKey: testCacheKey}); err != nil {
		t.Fatal(err)
	}
	other := bytes.Repeat([]byte{9}, CacheKeySize)
	res, err := Index(context.Background(), ch, Options{CacheKey: other})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, sub := range []string{"linux-64", "noarch"} {
		want = append(want, filepath.Join(ch, sub, CacheDir, CacheFile)+": 2 entries not authenticated by the cache key (edited, or written with another key): those packages were read again")
	}
	if res.Read != 4 || strings.Join(res.Warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("read %d, warnings %q; want 4 and %q", res.Read, res.Warnings, want)
	}
	res, err = Index(context.Background(), ch, Options{CacheKey: other})
	if err != nil || res.Cached != 4 || len(res.Warnings) != 0 {
		t.Errorf("third run: %v, cached %d, warnings %q", err, res.Cached, res.Warnings)
	}
	if _, err := Index(context.Background(), ch, Options{CacheKey: []byte("short")}); err == nil ||
		err.Error() != "index: Options.CacheKey is 5 bytes; give at least 32 random bytes" {
		t.Errorf("short key: %v", err)
	}
}
