package index

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/testvectors"
)

// hotfixInstructions exercise every rule of channel-index.md §8 on the
// packages of conda-index's hotfix fixture.
const hotfixInstructions = `{
  "patch_instructions_version": 1,
  "packages": {
    "hotfix_depends_test-1.0-dummy_0.tar.bz2": {"depends": ["zlib", "dummy"], "features": null},
    "track_features_test-1.0-0.tar.bz2": {"track_features": null, "license": "MIT", "gone": null},
    "absent-1.0-0.tar.bz2": {"depends": []}
  },
  "packages.conda": {
    "track_features_test-1.0-0.conda": {"extra": {"a": 1, "b": null}}
  },
  "remove": ["remove_test-1.0-0.tar.bz2"],
  "revoke": ["revoke_test-1.0-0.tar.bz2"],
  "unknown_key": "ignored"
}
`

// TestPatchHotfixChannel indexes the hotfix fixture with patch
// instructions and checks each patched record byte for byte (the
// expectations are written out by hand from VERIFY-OUTPUT.txt and §8).
func TestPatchHotfixChannel(t *testing.T) {
	src := testvectors.Path(t, "packages/conda-index/channel-hotfix")
	ch := t.TempDir()
	copyPackages(t, src, ch, "osx-64")
	if err := os.WriteFile(filepath.Join(ch, "osx-64", PatchInstructionsFile), []byte(hotfixInstructions), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Index(context.Background(), ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sub SubdirResult
	for _, s := range res.Subdirs {
		if s.Subdir == "osx-64" {
			sub = s
		}
	}
	if !sub.Patched || sub.Records != 6 || !slices.Equal(sub.Removed, []string{"remove_test-1.0-0.conda", "remove_test-1.0-0.tar.bz2"}) {
		t.Errorf("result %+v: want patched, 6 records, both remove_test files removed", sub)
	}
	patched := mustParse(t, "repodata.json", readFile(t, filepath.Join(ch, "osx-64", RepodataFile)))
	want := map[string]string{
		"packages/hotfix_depends_test-1.0-dummy_0.tar.bz2":     `{"build":"dummy_0","build_number":0,"depends":["zlib","dummy"],"md5":"d99640903b79c93bad0bc71545d9be59","name":"hotfix_depends_test","sha256":"fcaf5f4b4f9d322b4cf74fed29526c4fba67ab7c91e4f1857811345fa38503c7","size":2422,"subdir":"osx-64","timestamp":1652966521286,"version":"1.0"}`,
		"packages.conda/hotfix_depends_test-1.0-dummy_0.conda": `{"build":"dummy_0","build_number":0,"depends":["zlib","dummy"],"md5":"bed21039e6ec86a77beccf0600ca53e2","name":"hotfix_depends_test","sha256":"2f22bf17d4d2a895fcb3fec3b9d6e25610cfbd0f108963e818f7bc6bc6f0333d","size":2796,"subdir":"osx-64","timestamp":1652966521286,"version":"1.0"}`,
		"packages/track_features_test-1.0-0.tar.bz2":           `{"build":"0","build_number":0,"depends":[],"gone":null,"license":"MIT","md5":"df2dc7428e78bfe57de76815b89dbcba","name":"track_features_test","sha256":"c10ec43e7453dfa2d08077d677650f54e2cd196e6cf02a0a5160f0480d1fc37d","size":2399,"subdir":"osx-64","timestamp":1652966528049,"version":"1.0"}`,
		"packages.conda/track_features_test-1.0-0.conda":       `{"build":"0","build_number":0,"depends":[],"extra":{"a":1,"b":null},"gone":null,"license":"MIT","md5":"00ff58ccc9c29c84f2185ab9ab5decde","name":"track_features_test","sha256":"035aff729e61fa9a430182e9e118c3968597f0a772247eb00fd96c56165058bf","size":2756,"subdir":"osx-64","timestamp":1652966528049,"version":"1.0"}`,
		"packages/revoke_test-1.0-0.tar.bz2":                   `{"build":"0","build_number":0,"depends":["zlib","package_has_been_revoked"],"md5":"85b9da56f44a86b92178d4a70478687c","name":"revoke_test","revoked":true,"sha256":"4d13bdfb2ecdd5808dfe49755dfe3f94365c6a2d2b304ddfd62d67ad0b36b7a9","size":2396,"subdir":"osx-64","timestamp":1652966525737,"version":"1.0"}`,
		"packages.conda/revoke_test-1.0-0.conda":               `{"build":"0","build_number":0,"depends":["zlib","package_has_been_revoked"],"md5":"e3c417641256f9c7d1be1bd9acabf868","name":"revoke_test","revoked":true,"sha256":"dfadf4eeca02efa4e9985a151b5ba06ef07e40db2e625f416f6a5b81af51899d","size":2727,"subdir":"osx-64","timestamp":1652966525737,"version":"1.0"}`,
	}
	count := 0
	for _, section := range []string{"packages", "packages.conda"} {
		recs, _ := patched.Get(section)
		for _, fn := range recs.Keys() {
			count++
			rec, _ := recs.Get(fn)
			got := string(Compact.Marshal(rec))
			if w, ok := want[section+"/"+fn]; !ok {
				t.Errorf("unexpected record %s/%s", section, fn)
			} else if got != w {
				t.Errorf("%s/%s:\n got %s\nwant %s", section, fn, got, w)
			}
		}
	}
	if count != len(want) {
		t.Errorf("%d records, want %d", count, len(want))
	}
	removed, _ := patched.Get("removed")
	if got := string(Compact.Marshal(removed)); got != `["remove_test-1.0-0.conda","remove_test-1.0-0.tar.bz2"]` {
		t.Errorf("removed = %s", got)
	}

	// The unpatched index is kept: its .tar.bz2 records equal the fixture's
	// repodata_from_packages.json (which lists only those).
	fromPkgs := mustParse(t, "from packages", readFile(t, filepath.Join(ch, "osx-64", RepodataFromPackagesFile)))
	fixture := mustParse(t, "fixture", readFile(t, filepath.Join(src, "osx-64", RepodataFromPackagesFile)))
	gp, _ := fromPkgs.Get("packages")
	wp, _ := fixture.Get("packages")
	if !gp.Equal(wp) {
		t.Errorf("repodata_from_packages.json packages:\n got %s\nwant %s", Compact.Marshal(gp), Compact.Marshal(wp))
	}
	if rm, _ := fromPkgs.Get("removed"); rm.Len() != 0 {
		t.Errorf("repodata_from_packages.json has removed = %s", Compact.Marshal(rm))
	}
}

func TestParsePatchInstructionsErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"patch_instructions_version": 2}`, "patch_instructions_version 2: unsupported"},
		{`{"patch_instructions_version": "1"}`, `patch_instructions_version: want an integer, got "1"`},
		{`{"packages": []}`, "packages: want an object"},
		{`{"packages": {"a-1-0.tar.bz2": "x"}}`, `packages["a-1-0.tar.bz2"]: a fix must be an object of fields, got "x"`},
		{`{"packages.conda": {"a-1-0.conda": [1]}}`, `packages.conda["a-1-0.conda"]: a fix must be an object`},
		{`{"remove": "a-1-0.tar.bz2"}`, `remove: want a list of file names, got "a-1-0.tar.bz2"`},
		{`{"revoke": [1]}`, `revoke[0]: want a file name, got 1`},
		{`[]`, "a JSON array, not an object"},
		{`{"packages": {}`, "line 1"},
	} {
		_, err := ParsePatchInstructions([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.in, err, c.want)
		}
	}
	_, err := ParsePatchInstructions([]byte(`{"patch_instructions_version": 3}`))
	if !errors.Is(err, ErrPatchVersion) {
		t.Errorf("version 3: %v does not match ErrPatchVersion", err)
	}
}

func TestApplyRules(t *testing.T) {
	rec := func(s string) canonjson.Value { return mustParse(t, s, []byte(s)) }
	base := NewRepodata("linux-64")
	base.Packages["a-1-0.tar.bz2"] = rec(`{"name":"a","depends":["x"],"nested":{"keep":1,"drop":2},"s":"v"}`)
	base.PackagesConda["a-1-0.conda"] = rec(`{"name":"a","depends":["x"]}`)
	base.PackagesConda["b-1-0.conda"] = rec(`{"name":"b"}`)
	base.Packages["c-1-0.tar.bz2"] = rec(`{"name":"c"}`)
	p, err := ParsePatchInstructions([]byte(`{
	  "packages": {"a-1-0.tar.bz2": {"depends": ["y"], "nested": {"drop": null, "add": [1]}, "s": {"now": "object"}}},
	  "packages.conda": {"a-1-0.conda": {"depends": ["z"]}, "missing-1-0.conda": {"x": 1}},
	  "revoke": ["b-1-0.conda", "c-1-0.tar.bz2"],
	  "remove": ["nothere-1-0.tar.bz2", "a-1-0.tar.bz2"]}`))
	if err != nil {
		t.Fatal(err)
	}
	before := string(Compact.Marshal(mustValue(t, base)))
	out, err := p.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if after := string(Compact.Marshal(mustValue(t, base))); after != before {
		t.Errorf("Apply modified its input:\n%s\n%s", before, after)
	}
	got := string(Compact.Marshal(mustValue(t, out)))
	// a-1-0 is removed in both formats (after being fixed); b is revoked
	// without a "depends" (created); c is revoked; the conda twin of c
	// does not exist.
	want := `{"info":{"subdir":"linux-64"},"packages":{"c-1-0.tar.bz2":{"depends":["package_has_been_revoked"],"name":"c","revoked":true}},"packages.conda":{"b-1-0.conda":{"depends":["package_has_been_revoked"],"name":"b","revoked":true}},"removed":["a-1-0.conda","a-1-0.tar.bz2"],"repodata_version":1}`
	if got != want {
		t.Errorf("patched:\n got %s\nwant %s", got, want)
	}

	// Without the remove, the fixes themselves are visible.
	p.Remove = nil
	out, err = p.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := out.Record("a-1-0.tar.bz2")
	if got, want := string(Compact.Marshal(a)), `{"depends":["y"],"name":"a","nested":{"add":[1],"keep":1},"s":{"now":"object"}}`; got != want {
		t.Errorf("a-1-0.tar.bz2:\n got %s\nwant %s", got, want)
	}
	ac, _ := out.Record("a-1-0.conda")
	// packages fixes apply to the .conda twin first, then packages.conda
	// fixes on top. The twin has no "nested", so the fix object is taken
	// as it is, its null included (conda-index's behaviour).
	if got, want := string(Compact.Marshal(ac)), `{"depends":["z"],"name":"a","nested":{"add":[1],"drop":null},"s":{"now":"object"}}`; got != want {
		t.Errorf("a-1-0.conda:\n got %s\nwant %s", got, want)
	}
}

func mustValue(t testing.TB, r *Repodata) canonjson.Value {
	t.Helper()
	v, err := r.Value()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParsePatchInstructions(f *testing.F) {
	f.Add([]byte(hotfixInstructions))
	f.Add([]byte(`{"packages": {"a-1-0.tar.bz2": {"x": {"y": null}}}, "remove": ["a-1-0.tar.bz2"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePatchInstructions(data)
		if err != nil {
			return
		}
		r := NewRepodata("noarch")
		r.Packages["a-1-0.tar.bz2"] = mustParse(t, "rec", []byte(`{"name":"a","depends":[]}`))
		r.PackagesConda["a-1-0.conda"] = mustParse(t, "rec", []byte(`{"name":"a"}`))
		out, err := p.Apply(r)
		if err != nil {
			return
		}
		if _, err := out.Marshal(Compact); err != nil {
			t.Fatal(err)
		}
	})
}
