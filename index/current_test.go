package index

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
)

func testRecord(t *testing.T, name, version, build string, bn int, extra string) canonjson.Value {
	t.Helper()
	js := fmt.Sprintf(`{"name": %q, "version": %q, "build": %q, "build_number": %d, "md5": "%032x", "sha256": "%064x", "size": 1, "subdir": "linux-64"%s}`,
		name, version, build, bn, len(name+version+build), len(name+version+build), extra)
	return mustParse(t, name, []byte(js))
}

// TestCurrentRepodataSelection checks each rule of conda-index's
// current_repodata selection on a hand-made index.
func TestCurrentRepodataSelection(t *testing.T) {
	r := NewRepodata("linux-64")
	add := func(fn string, v canonjson.Value) {
		t.Helper()
		if err := r.Add(fn, v); err != nil {
			t.Fatal(err)
		}
	}
	// The newest version, all its builds; 1.10 > 1.9 as versions.
	add("foo-1.9-0.tar.bz2", testRecord(t, "foo", "1.9", "0", 0, `, "depends": ["bar <2", "gone >=9", "bar <2"]`))
	add("foo-1.10-0.tar.bz2", testRecord(t, "foo", "1.10", "0", 0, `, "depends": ["bar <2", "gone >=9", "conda-forge::bar"]`))
	add("foo-1.10-1.tar.bz2", testRecord(t, "foo", "1.10", "1", 1, ``))
	// bar 2.0 is newest, but foo needs bar <2: the newest such version
	// (1.5, both builds) comes along; 1.0 does not.
	add("bar-1.0-0.tar.bz2", testRecord(t, "bar", "1.0", "0", 0, ``))
	add("bar-1.5-0.tar.bz2", testRecord(t, "bar", "1.5", "0", 0, ``))
	add("bar-1.5-1.tar.bz2", testRecord(t, "bar", "1.5", "1", 1, `, "depends": ["baz 0.1"]`))
	add("bar-2.0-0.tar.bz2", testRecord(t, "bar", "2.0", "0", 0, ``))
	// Only one level: bar 1.5's dependency on baz 0.1 is not followed.
	// baz has a .conda twin: only the .conda is kept, with the md5 of the
	// .tar.bz2 as legacy_bz2_md5.
	add("baz-0.1-0.tar.bz2", testRecord(t, "baz", "0.1", "0", 0, ``))
	add("baz-0.2-0.tar.bz2", testRecord(t, "baz", "0.2", "0", 0, ``))
	add("baz-0.2-0.conda", testRecord(t, "baz", "0.2", "0", 0, ``))
	// A .conda without twin gets "legacy_bz2_md5": null.
	add("qux-1.0-0.conda", testRecord(t, "qux", "1.0", "0", 0, ``))
	// Features: the newest featureless version at or below the kept one
	// comes along.
	add("mkl-2.0-0.tar.bz2", testRecord(t, "mkl", "2.0", "0", 0, `, "track_features": "mkl"`))
	add("mkl-1.5-0.tar.bz2", testRecord(t, "mkl", "1.5", "0", 0, `, "track_features": ""`))
	add("mkl-1.0-0.tar.bz2", testRecord(t, "mkl", "1.0", "0", 0, ``))
	// Equal versions: "1.2" keeps 1.2.0 too (conda's prefix match), and
	// build number, then timestamp, decide which comes first.
	add("eq-1.2-0.tar.bz2", testRecord(t, "eq", "1.2", "0", 0, ``))
	add("eq-1.2.0-5.tar.bz2", testRecord(t, "eq", "1.2.0", "5", 5, ``))
	add("eq-1.1-0.tar.bz2", testRecord(t, "eq", "1.1", "0", 0, ``))
	// record_version 2 is not for this conda: left out, not even as the newest.
	add("rv-9.0-0.tar.bz2", testRecord(t, "rv", "9.0", "0", 0, `, "record_version": 2`))
	add("rv-1.0-0.tar.bz2", testRecord(t, "rv", "1.0", "0", 0, ``))
	r.Removed = []string{"old-1.0-0.tar.bz2"}

	cur := CurrentRepodata(r)
	got := append(slices.Sorted(maps.Keys(cur.Packages)), slices.Sorted(maps.Keys(cur.PackagesConda))...)
	want := []string{
		"bar-1.5-0.tar.bz2", "bar-1.5-1.tar.bz2", "bar-2.0-0.tar.bz2",
		"eq-1.2-0.tar.bz2", "eq-1.2.0-5.tar.bz2",
		"foo-1.10-0.tar.bz2", "foo-1.10-1.tar.bz2",
		"mkl-1.5-0.tar.bz2", "mkl-2.0-0.tar.bz2",
		"rv-1.0-0.tar.bz2",
		"baz-0.2-0.conda", "qux-1.0-0.conda",
	}
	if !slices.Equal(got, want) {
		t.Errorf("kept\n %v\nwant\n %v", got, want)
	}
	baz := cur.PackagesConda["baz-0.2-0.conda"]
	twin, _ := r.Packages["baz-0.2-0.tar.bz2"].Get("md5")
	if m, _ := baz.Get("legacy_bz2_md5"); !m.Equal(twin) {
		t.Errorf("baz legacy_bz2_md5 = %s, want %s", canonjson.Marshal(m), canonjson.Marshal(twin))
	}
	if m, ok := cur.PackagesConda["qux-1.0-0.conda"].Get("legacy_bz2_md5"); !ok || !m.IsNull() {
		t.Errorf("qux legacy_bz2_md5 = %s (present %v), want null", canonjson.Marshal(m), ok)
	}
	if _, ok := r.PackagesConda["baz-0.2-0.conda"].Get("legacy_bz2_md5"); ok {
		t.Error("CurrentRepodata changed the record of its input")
	}
	if !slices.Equal(cur.Removed, r.Removed) {
		t.Errorf("removed %v", cur.Removed)
	}
}

// TestCurrentRepodataSigned checks that a signed channel gets a signed
// current_repodata.json: the same signatures as repodata.json for records
// that are the same, signatures of the changed bytes for .conda records.
func TestCurrentRepodataSigned(t *testing.T) {
	ch := smallChannel(t)
	k, err := signer.NewKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Index(context.Background(), ch, Options{Signers: []signer.Signer{k}, CacheKey: testCacheKey}); err != nil {
		t.Fatal(err)
	}
	full, err := repodata.Parse(readFile(t, filepath.Join(ch, "linux-64", RepodataFile)))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := repodata.Parse(readFile(t, filepath.Join(ch, "linux-64", CurrentRepodataFile)))
	if err != nil {
		t.Fatal(err)
	}
	if cur.Len() != 2 || !cur.HasSignatures() {
		t.Fatalf("current_repodata.json: %d records, signed %v", cur.Len(), cur.HasSignatures())
	}
	sigOf := func(f *repodata.File, fn string) canonjson.Value {
		t.Helper()
		r, ok := f.Record(fn)
		if !ok {
			t.Fatalf("no record %s", fn)
		}
		env, err := f.Envelope(r)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := env.Value().Get("signatures")
		return s
	}
	if a, b := sigOf(full, "app-2.1-h1_0.tar.bz2"), sigOf(cur, "app-2.1-h1_0.tar.bz2"); !a.Equal(b) || a.Len() != 1 {
		t.Errorf("app's signature differs between repodata.json and current_repodata.json: %s, %s", canonjson.Marshal(a), canonjson.Marshal(b))
	}
	if a, b := sigOf(full, "liba-1.0-0.conda"), sigOf(cur, "liba-1.0-0.conda"); a.Equal(b) || b.Len() != 1 {
		t.Errorf("liba.conda's record gained legacy_bz2_md5 and must be signed anew: %s", canonjson.Marshal(b))
	}
	for _, r := range cur.Records() {
		env, err := cur.Envelope(r)
		if err != nil {
			t.Fatal(err)
		}
		pub := k.Public()
		sig, ok := env.SignatureBy(pub)
		if !ok || !ed25519.Verify(pub[:], env.SignedBytes(), sig.Sig) {
			t.Errorf("%s: no valid signature by the key", r.Filename)
		}
	}
}
