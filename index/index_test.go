package index

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/signer"
)

// smallChannel writes four packages: two noarch, two linux-64, both
// formats.
func smallChannel(t testing.TB) string {
	t.Helper()
	ch := t.TempDir()
	specs := []struct {
		spec   condapkg.Spec
		format condapkg.Format
	}{
		{condapkg.Spec{Name: "liba", Version: "1.0", Build: "0", Subdir: "linux-64", Timestamp: 1700000000000, License: "BSD-3-Clause",
			Files: map[string][]byte{"lib/liba.txt": []byte("a")}}, condapkg.Conda},
		{condapkg.Spec{Name: "app", Version: "2.1", Build: "h1_0", Subdir: "linux-64", Depends: []string{"liba >=1.0"},
			Extra: map[string]any{"arch": "x86_64", "platform": "linux", "app_type": "desk"}}, condapkg.TarBz2},
		{condapkg.Spec{Name: "data", Version: "0.1", Build: "0", Files: map[string][]byte{"share/data.txt": []byte("d")}}, condapkg.Conda},
		{condapkg.Spec{Name: "data", Version: "0.1", Build: "0"}, condapkg.TarBz2},
	}
	for _, s := range specs {
		sub := s.spec.Subdir
		if sub == "" {
			sub = "noarch"
		}
		if _, err := s.spec.WriteTo(filepath.Join(ch, sub), s.format, condapkg.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return ch
}

func subResult(t testing.TB, res *Result, sub string) SubdirResult {
	t.Helper()
	for _, s := range res.Subdirs {
		if s.Subdir == sub {
			return s
		}
	}
	t.Fatalf("no result for %s in %+v", sub, res.Subdirs)
	return SubdirResult{}
}

func TestIndexIncremental(t *testing.T) {
	ch := smallChannel(t)
	ctx := context.Background()
	res, err := Index(ctx, ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 4 || res.Cached != 0 || res.Partial() {
		t.Fatalf("cold run: %+v", res)
	}
	lin := subResult(t, res, "linux-64")
	wantFiles := []string{"repodata_from_packages.json.zst", "repodata_from_packages.json", "repodata.json.zst", "repodata.json",
		"current_repodata.json.zst", "current_repodata.json"}
	if !slices.Equal(lin.Written, wantFiles) || lin.Records != 2 {
		t.Errorf("linux-64 cold: %+v", lin)
	}
	data := readFile(t, filepath.Join(ch, "linux-64", RepodataFile))
	doc := mustParse(t, "repodata.json", data)
	pk, _ := doc.Get("packages")
	app, _ := pk.Get("app-2.1-h1_0.tar.bz2")
	// arch and platform are dropped, the unknown app_type kept.
	if got := strings.Join(app.Keys(), ","); got != "app_type,build,build_number,depends,md5,name,sha256,size,subdir,version" {
		t.Errorf("app record keys: %s", got)
	}
	st1, _ := os.Stat(filepath.Join(ch, "linux-64", RepodataFile))

	// Warm: nothing read, nothing rewritten.
	res, err = Index(ctx, ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 0 || res.Cached != 4 {
		t.Errorf("warm run: read %d, cached %d", res.Read, res.Cached)
	}
	for _, s := range res.Subdirs {
		if len(s.Written) != 0 || len(s.Unchanged) != 6 {
			t.Errorf("warm run %s: written %v, unchanged %v", s.Subdir, s.Written, s.Unchanged)
		}
	}
	st2, _ := os.Stat(filepath.Join(ch, "linux-64", RepodataFile))
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Errorf("unchanged repodata.json was rewritten")
	}

	// A package replaced by another of the same name is read again, even
	// with the same size, when its modification time changed.
	spec := condapkg.Spec{Name: "liba", Version: "1.0", Build: "0", Subdir: "linux-64", Timestamp: 1700000000001, License: "BSD-3-Clause",
		Files: map[string][]byte{"lib/liba.txt": []byte("a")}}
	p, err := spec.WriteTo(filepath.Join(ch, "linux-64"), condapkg.Conda, condapkg.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
	res, err = Index(ctx, ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 1 || res.Cached != 3 {
		t.Errorf("after a change: read %d, cached %d; want 1 and 3", res.Read, res.Cached)
	}
	doc = mustParse(t, "repodata.json", readFile(t, filepath.Join(ch, "linux-64", RepodataFile)))
	pc, _ := doc.Get("packages.conda")
	liba, _ := pc.Get("liba-1.0-0.conda")
	if ts, _ := liba.Get("timestamp"); ts.NumberText() != "1700000000001" {
		t.Errorf("the changed package's record was not updated: %s", canonjson.Marshal(liba))
	}

	// A deleted package disappears.
	if err := os.Remove(filepath.Join(ch, "noarch", "data-0.1-0.tar.bz2")); err != nil {
		t.Fatal(err)
	}
	res, err = Index(ctx, ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := subResult(t, res, "noarch").Records; n != 1 {
		t.Errorf("noarch has %d records after a deletion, want 1", n)
	}
}

func TestIndexCorruptPackageSkipped(t *testing.T) {
	ch := smallChannel(t)
	if err := os.WriteFile(filepath.Join(ch, "noarch", "broken-1.0-0.conda"), []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A truncated .tar.bz2.
	good := readFile(t, filepath.Join(ch, "noarch", "data-0.1-0.tar.bz2"))
	if err := os.WriteFile(filepath.Join(ch, "noarch", "cut-1.0-0.tar.bz2"), good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(ch, "noarch", "dir-1.0-0.conda"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := Index(context.Background(), ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial() || len(res.Skipped) != 3 {
		t.Fatalf("skipped %+v, want 3", res.Skipped)
	}
	reasons := map[string]string{}
	for _, s := range res.Skipped {
		reasons[s.File] = s.Subdir + ": " + s.Reason
	}
	for file, want := range map[string]string{
		"broken-1.0-0.conda": "noarch: not a valid zip archive",
		"cut-1.0-0.tar.bz2":  "noarch: ",
		"dir-1.0-0.conda":    "noarch: not a regular file",
	} {
		if !strings.HasPrefix(reasons[file], want) {
			t.Errorf("%s: reason %q, want prefix %q", file, reasons[file], want)
		}
	}
	if r := reasons["cut-1.0-0.tar.bz2"]; !strings.Contains(r, "bzip2") && !strings.Contains(r, "EOF") {
		t.Errorf("truncated package reason %q names neither bzip2 nor EOF", r)
	}
	if n := subResult(t, res, "noarch").Records; n != 2 {
		t.Errorf("noarch: %d records, want the 2 good ones", n)
	}
	// A skipped package is not cached: it is reported again next time.
	res, err = Index(context.Background(), ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 3 || res.Read != 0 || res.Cached != 4 {
		t.Errorf("second run: skipped %d, read %d, cached %d; want 3, 0, 4", len(res.Skipped), res.Read, res.Cached)
	}
}

func TestIndexSigAndStaleFiles(t *testing.T) {
	ch := smallChannel(t)
	noarch := filepath.Join(ch, "noarch")
	for name, data := range map[string]string{
		"data-0.1-0.tar.bz2.sig":     "key sig",
		"repodata.json.bz2":          "stale",
		"current_repodata.json":      "{}",
		"README.sig":                 "not for a package",
		"data-0.1-0.tar.bz2.partial": "ignored",
	} {
		if err := os.WriteFile(filepath.Join(noarch, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Index(context.Background(), ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc := mustParse(t, "repodata.json", readFile(t, filepath.Join(noarch, RepodataFile)))
	pk, _ := doc.Get("packages")
	rec, _ := pk.Get("data-0.1-0.tar.bz2")
	if sig, ok := rec.Get("sig"); !ok || sig.Str() != "." {
		t.Errorf(`record with a .sig: %s, want "sig": "."`, canonjson.Marshal(rec))
	}
	pc, _ := doc.Get("packages.conda")
	rec, _ = pc.Get("data-0.1-0.conda")
	if _, ok := rec.Get("sig"); ok {
		t.Errorf("record without a .sig has a sig field")
	}
	if d := subResult(t, res, "noarch").Deleted; !slices.Equal(d, []string{"repodata.json.bz2"}) {
		t.Errorf("deleted %v, want the stale repodata.json.bz2", d)
	}
	// A current_repodata.json left by another indexer is replaced.
	if got := readFile(t, filepath.Join(noarch, CurrentRepodataFile)); string(got) == "{}" {
		t.Errorf("current_repodata.json was not rewritten")
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q", res.Warnings)
	}

	// --no-zst removes the .zst copies, which clients would prefer.
	res, err = Index(context.Background(), ch, Options{NoZst: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := subResult(t, res, "noarch").Deleted; !slices.Equal(d, []string{"repodata_from_packages.json.zst", "repodata.json.zst", "current_repodata.json.zst"}) {
		t.Errorf("deleted %v with NoZst", d)
	}
	if _, err := os.Stat(filepath.Join(noarch, "repodata.json.zst")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("repodata.json.zst still there: %v", err)
	}
}

func TestIndexSigns(t *testing.T) {
	ch := smallChannel(t)
	k1, _ := signer.NewKey(make([]byte, 32))
	seed2 := make([]byte, 32)
	seed2[0] = 1
	k2, _ := signer.NewKey(seed2)
	// A patch changes a record: the signature must cover the patched one.
	if err := os.WriteFile(filepath.Join(ch, "linux-64", PatchInstructionsFile),
		[]byte(`{"patch_instructions_version":1,"packages":{"app-2.1-h1_0.tar.bz2":{"depends":["liba >=1.0,<2"]}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Index(context.Background(), ch, Options{Signers: []signer.Signer{k1, k2}, Layout: Indented})
	if err != nil {
		t.Fatal(err)
	}
	if s := subResult(t, res, "linux-64"); s.Signed != 2 {
		t.Errorf("signed %d records in linux-64, want 2", s.Signed)
	}
	for _, sub := range []string{"noarch", "linux-64"} {
		doc := mustParse(t, sub, readFile(t, filepath.Join(ch, sub, RepodataFile)))
		sigs, ok := doc.Get("signatures")
		if !ok {
			t.Fatalf("%s: no signatures", sub)
		}
		n := 0
		for _, section := range []string{"packages", "packages.conda"} {
			recs, _ := doc.Get(section)
			for _, fn := range recs.Keys() {
				n++
				rec, _ := recs.Get(fn)
				msg := canonjson.Marshal(rec)
				entry, _ := sigs.Get(fn)
				for _, k := range []*signer.Key{k1, k2} {
					s, _ := entry.Get(k.Public().String())
					sv, _ := s.Get("signature")
					sig, _ := hex.DecodeString(sv.Str())
					if pub := k.Public(); !ed25519.Verify(pub[:], msg, sig) {
						t.Errorf("%s %s: signature by %s does not verify", sub, fn, k.Public().Short())
					}
				}
				if fn == "app-2.1-h1_0.tar.bz2" && !strings.Contains(string(msg), "liba >=1.0,<2") {
					t.Errorf("the signed record is not the patched one: %s", msg)
				}
			}
		}
		if n != sigs.Len() {
			t.Errorf("%s: %d records, %d signature entries", sub, n, sigs.Len())
		}
		fromPkgs := mustParse(t, sub, readFile(t, filepath.Join(ch, sub, RepodataFromPackagesFile)))
		if _, ok := fromPkgs.Get("signatures"); ok {
			t.Errorf("%s: repodata_from_packages.json is signed", sub)
		}
		checkZst(t, filepath.Join(ch, sub, RepodataFile))
	}

	// Signing again with the same keys changes nothing.
	res, err = Index(context.Background(), ch, Options{Signers: []signer.Signer{k1, k2}, Layout: Indented})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Subdirs {
		if len(s.Written) != 0 {
			t.Errorf("re-signing %s rewrote %v", s.Subdir, s.Written)
		}
	}
	// Indexing without a key says that the signatures are gone.
	res, err = Index(context.Background(), ch, Options{Layout: Indented})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "was signed and is now rewritten without signatures") {
		t.Errorf("warnings after an unsigned run over a signed channel: %q", res.Warnings)
	}
}

func TestIndexRepairsZst(t *testing.T) {
	ch := smallChannel(t)
	if _, err := Index(context.Background(), ch, Options{}); err != nil {
		t.Fatal(err)
	}
	zpath := filepath.Join(ch, "noarch", RepodataFile+ZstSuffix)
	if err := os.WriteFile(zpath, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Index(context.Background(), ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := subResult(t, res, "noarch").Written; !slices.Equal(w, []string{RepodataFile + ZstSuffix}) {
		t.Errorf("written %v, want only the damaged .zst", w)
	}
	checkZst(t, filepath.Join(ch, "noarch", RepodataFile))
}

func TestIndexErrors(t *testing.T) {
	ch := smallChannel(t)
	if _, err := Index(context.Background(), filepath.Join(ch, "noarch"), Options{}); !errors.Is(err, ErrNotChannel) {
		t.Errorf("indexing a subdir: %v, want ErrNotChannel", err)
	}
	if _, err := Index(context.Background(), filepath.Join(ch, "missing"), Options{}); !errors.Is(err, ErrNotChannel) {
		t.Errorf("missing folder: %v, want ErrNotChannel", err)
	}
	if _, err := Index(context.Background(), ch, Options{Subdirs: []string{"linux-65"}}); err == nil || !strings.Contains(err.Error(), `subdir "linux-65" is not a conda platform`) {
		t.Errorf("unknown subdir: %v", err)
	}
	// An invalid patch file stops the run before anything is written.
	if err := os.WriteFile(filepath.Join(ch, "linux-64", PatchInstructionsFile), []byte(`{"patch_instructions_version": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Index(context.Background(), ch, Options{})
	if !errors.Is(err, ErrPatchVersion) || !strings.Contains(err.Error(), filepath.Join(ch, "linux-64", PatchInstructionsFile)) {
		t.Errorf("bad patch file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ch, "noarch", RepodataFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("noarch/repodata.json written although the run failed: %v", err)
	}
}

func TestIndexSubdirsAndCorruptCache(t *testing.T) {
	ch := smallChannel(t)
	res, err := Index(context.Background(), ch, Options{Subdirs: []string{"osx-arm64"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range res.Subdirs {
		names = append(names, s.Subdir)
	}
	if !slices.Equal(names, []string{"noarch", "osx-arm64"}) {
		t.Errorf("subdirs %v, want noarch (always) and osx-arm64", names)
	}
	if _, err := os.Stat(filepath.Join(ch, "osx-arm64", RepodataFile)); err != nil {
		t.Errorf("the requested empty subdir was not indexed: %v", err)
	}
	if err := os.WriteFile(filepath.Join(ch, "noarch", CacheDir, CacheFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = Index(context.Background(), ch, Options{Subdirs: []string{"noarch"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 2 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "not a readable cache") {
		t.Errorf("corrupt cache: read %d, warnings %q", res.Read, res.Warnings)
	}
}
