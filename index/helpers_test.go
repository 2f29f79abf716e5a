package index

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
)

// copyPackages copies the package files of the given subdirs of src into
// dst (vectors are read-only and must never be written to).
func copyPackages(t testing.TB, src, dst string, subdirs ...string) {
	t.Helper()
	for _, sub := range subdirs {
		ents, err := os.ReadDir(filepath.Join(src, sub))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".conda") && !strings.HasSuffix(e.Name(), ".tar.bz2") {
				continue
			}
			copyFile(t, filepath.Join(src, sub, e.Name()), filepath.Join(dst, sub, e.Name()))
		}
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustParse(t testing.TB, what string, data []byte) canonjson.Value {
	t.Helper()
	v, err := canonjson.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// compareRepodata compares two repodata documents field by field and
// reports every difference by file name and field.
func compareRepodata(t testing.TB, name string, got, want []byte) {
	t.Helper()
	g, w := mustParse(t, name+" (got)", got), mustParse(t, name+" (want)", want)
	if !slices.Equal(g.Keys(), w.Keys()) {
		t.Errorf("%s: top-level keys %v, want %v", name, g.Keys(), w.Keys())
	}
	for _, key := range w.Keys() {
		wv, _ := w.Get(key)
		gv, ok := g.Get(key)
		if !ok {
			continue
		}
		if key != "packages" && key != "packages.conda" {
			if !gv.Equal(wv) {
				t.Errorf("%s: %s = %s, want %s", name, key, canonjson.Marshal(gv), canonjson.Marshal(wv))
			}
			continue
		}
		if !slices.Equal(gv.Keys(), wv.Keys()) {
			t.Errorf("%s: %s holds %v, want %v", name, key, gv.Keys(), wv.Keys())
		}
		for _, fn := range wv.Keys() {
			wr, _ := wv.Get(fn)
			gr, ok := gv.Get(fn)
			if !ok {
				continue
			}
			if !slices.Equal(gr.Keys(), wr.Keys()) {
				t.Errorf("%s: %s[%s] has fields %v, want %v", name, key, fn, gr.Keys(), wr.Keys())
			}
			for _, field := range wr.Keys() {
				wf, _ := wr.Get(field)
				if gf, ok := gr.Get(field); ok && !gf.Equal(wf) {
					t.Errorf("%s: %s[%s].%s = %s, want %s", name, key, fn, field, canonjson.Marshal(gf), canonjson.Marshal(wf))
				}
			}
		}
	}
}
