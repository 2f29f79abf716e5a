package index

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/signer"
)

// The exact texts of the refusals.
const (
	notIndexedHint = "not indexed or signed: rename the file to what its info/index.json says, move it to the folder of its subdir, or rebuild the package"
	rebindReason   = "name, version, build and subdir tie a record to its file name and folder, and md5, sha256 and size to its bytes; rebuild the package instead of patching them"
)

// writeMisnamed writes, with the project's writer, a package whose
// info/index.json is spec's but whose file name is filename.
func writeMisnamed(t testing.TB, dir, filename string, spec condapkg.Spec) {
	t.Helper()
	idx, err := spec.IndexJSON()
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "lib", "payload.txt"), []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := condapkg.WriteFile(filepath.Join(dir, filename), os.DirFS(src), condapkg.WriteOptions{IndexJSON: idx}); err != nil {
		t.Fatal(err)
	}
}

func skippedReasons(res *Result) map[string]string {
	m := map[string]string{}
	for _, s := range res.Skipped {
		m[s.Subdir+"/"+s.File] = s.Reason
	}
	return m
}

// TestIndexSkipsPackagesNotNamedByTheirIndexJSON: a package whose file
// name, format section or folder is not what its own info/index.json says
// is left out and listed, never signed: re-filed under the name it claims,
// a signed record would pass every client check.
func TestIndexSkipsPackagesNotNamedByTheirIndexJSON(t *testing.T) {
	ch := smallChannel(t)
	noarch := filepath.Join(ch, "noarch")
	numpy := condapkg.Spec{Name: "numpy", Version: "99.0", Build: "0", Depends: []string{"evil"}}
	writeMisnamed(t, noarch, "evil-1.0-0.tar.bz2", numpy)
	writeMisnamed(t, noarch, "evil-1.0-0.conda", numpy)
	// Named right, but built for linux-64 and put in noarch.
	if _, err := (&condapkg.Spec{Name: "linuxonly", Version: "1.0", Build: "0", Subdir: "linux-64"}).WriteTo(noarch, condapkg.Conda, condapkg.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	key, _ := signer.NewKey(make([]byte, 32))
	want := map[string]string{
		"noarch/evil-1.0-0.tar.bz2":    "its info/index.json does not describe this file (the signed record is for numpy-99.0-0.tar.bz2, not for this file name): " + notIndexedHint,
		"noarch/evil-1.0-0.conda":      "its info/index.json does not describe this file (the signed record is for numpy-99.0-0.conda, not for this file name): " + notIndexedHint,
		"noarch/linuxonly-1.0-0.conda": "its info/index.json does not describe this file (the signed record is for subdir linux-64, not noarch): " + notIndexedHint,
	}
	for run := range 2 { // the second run has a cache
		res, err := Index(context.Background(), ch, Options{Signers: []signer.Signer{key}})
		if err != nil {
			t.Fatal(err)
		}
		if got := skippedReasons(res); !mapsEqual(got, want) {
			t.Errorf("run %d: skipped\n%q\nwant\n%q", run, got, want)
		}
		if s := subResult(t, res, "noarch"); s.Records != 2 || s.Signed != 2 || s.Skipped != 3 {
			t.Errorf("run %d: noarch %+v, want 2 records signed and 3 skipped", run, s)
		}
		for _, name := range []string{RepodataFile, RepodataFromPackagesFile} {
			data := string(readFile(t, filepath.Join(noarch, name)))
			for _, bad := range []string{"numpy", "evil", "linuxonly"} {
				if strings.Contains(data, bad) {
					t.Errorf("run %d: %s mentions %q", run, name, bad)
				}
			}
		}
	}
}

// mapsEqual compares two string maps.
func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestIndexChecksCachedRecords: an entry of the cache (written by an
// indexer that did not check names) is held to the same rule as a package
// read from disk.
func TestIndexChecksCachedRecords(t *testing.T) {
	ch := smallChannel(t)
	opts := Options{CacheKey: testCacheKey}
	if _, err := Index(context.Background(), ch, opts); err != nil {
		t.Fatal(err)
	}
	noarch := filepath.Join(ch, "noarch")
	cache, warning := loadCache(noarch, "noarch", testCacheKey)
	if warning != "" || len(cache) != 2 {
		t.Fatalf("cache %v, %q", cache, warning)
	}
	e := cache["data-0.1-0.tar.bz2"]
	e.IndexJSON = []byte(`{"build":"0","build_number":0,"depends":[],"name":"numpy","subdir":"noarch","version":"99.0"}`)
	cache["data-0.1-0.tar.bz2"] = e
	if err := saveCache(noarch, "noarch", testCacheKey, cache); err != nil {
		t.Fatal(err)
	}
	res, err := Index(context.Background(), ch, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"noarch/data-0.1-0.tar.bz2": "its info/index.json does not describe this file (the signed record is for numpy-99.0-0.tar.bz2, not for this file name): " + notIndexedHint}
	if got := skippedReasons(res); !mapsEqual(got, want) {
		t.Errorf("skipped %q, want %q", got, want)
	}
	if strings.Contains(string(readFile(t, filepath.Join(noarch, RepodataFile))), "numpy") {
		t.Errorf("repodata.json holds the cached numpy record")
	}
	// The entry is dropped from the cache: the package is read next time,
	// and its true record comes back.
	res, err = Index(context.Background(), ch, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Partial() || res.Read != 1 || res.Cached != 3 {
		t.Errorf("third run: skipped %v, read %d, cached %d; want none, 1, 3", res.Skipped, res.Read, res.Cached)
	}
}

// TestPatchMayNotRebindRecords: a patch that changes what ties a record to
// its file (name, version, build, subdir) or to its bytes (md5, sha256,
// size) is refused, whatever the value, before anything is written.
func TestPatchMayNotRebindRecords(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"packages": {"app-2.1-h1_0.tar.bz2": {"name": "numpy"}}}`, `packages["app-2.1-h1_0.tar.bz2"]: a fix may not set "name"`},
		{`{"packages": {"app-2.1-h1_0.tar.bz2": {"version": "99"}}}`, `packages["app-2.1-h1_0.tar.bz2"]: a fix may not set "version"`},
		{`{"packages": {"app-2.1-h1_0.tar.bz2": {"build": "x"}}}`, `packages["app-2.1-h1_0.tar.bz2"]: a fix may not set "build"`},
		{`{"packages.conda": {"liba-1.0-0.conda": {"subdir": "noarch"}}}`, `packages.conda["liba-1.0-0.conda"]: a fix may not set "subdir"`},
		{`{"packages.conda": {"liba-1.0-0.conda": {"subdir": null}}}`, `packages.conda["liba-1.0-0.conda"]: a fix may not set "subdir"`},
		{`{"packages.conda": {"liba-1.0-0.conda": {"sha256": "00"}}}`, `packages.conda["liba-1.0-0.conda"]: a fix may not set "sha256"`},
		{`{"packages.conda": {"liba-1.0-0.conda": {"md5": "00"}}}`, `packages.conda["liba-1.0-0.conda"]: a fix may not set "md5"`},
		{`{"packages.conda": {"liba-1.0-0.conda": {"size": 1}}}`, `packages.conda["liba-1.0-0.conda"]: a fix may not set "size"`},
	} {
		_, err := ParsePatchInstructions([]byte(c.in))
		if err == nil || !strings.HasPrefix(err.Error(), c.want+": "+rebindReason) {
			t.Errorf("%s: error %v, want %q", c.in, err, c.want+": "+rebindReason)
		}
	}

	// Apply refuses the same fixes when given instructions built in Go.
	r := NewRepodata("linux-64")
	r.Packages["a-1-0.tar.bz2"] = mustParse(t, "rec", []byte(`{"build":"0","name":"a","version":"1"}`))
	p := &PatchInstructions{Packages: map[string]canonjson.Value{"a-1-0.tar.bz2": mustParse(t, "fix", []byte(`{"name":"b"}`))}}
	if _, err := p.Apply(r); err == nil || err.Error() != `packages["a-1-0.tar.bz2"]: a fix may not set "name": `+rebindReason {
		t.Errorf("Apply: %v", err)
	}

	// In a channel, the run stops before anything is written.
	ch := smallChannel(t)
	patchPath := filepath.Join(ch, "linux-64", PatchInstructionsFile)
	if err := os.WriteFile(patchPath, []byte(`{"packages": {"app-2.1-h1_0.tar.bz2": {"name": "numpy"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Index(context.Background(), ch, Options{})
	if err == nil || err.Error() != patchPath+`: packages["app-2.1-h1_0.tar.bz2"]: a fix may not set "name": `+rebindReason {
		t.Errorf("Index: %v", err)
	}
	for _, sub := range []string{"noarch", "linux-64"} {
		if _, err := os.Stat(filepath.Join(ch, sub, RepodataFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/repodata.json written: %v", sub, err)
		}
	}
	// Fixes of other fields still apply.
	if err := os.WriteFile(patchPath, []byte(`{"packages": {"app-2.1-h1_0.tar.bz2": {"depends": []}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Index(context.Background(), ch, Options{})
	if err != nil || !subResult(t, res, "linux-64").Patched {
		t.Errorf("a depends fix: %v", err)
	}
}

// TestIndexRefusesInfoOnly: a read that skips part of the archive cannot
// tell whether a second info/index.json is the one that installs.
func TestIndexRefusesInfoOnly(t *testing.T) {
	ch := smallChannel(t)
	_, err := Index(context.Background(), ch, Options{ReadOptions: condapkg.ReadOptions{InfoOnly: true}})
	if err == nil || err.Error() != "index: ReadOptions.InfoOnly is not allowed: the indexer reads whole archives, so that what it signs is what installs" {
		t.Errorf("InfoOnly: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ch, "noarch", RepodataFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("repodata.json written: %v", err)
	}
}
