package envaudit_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/condatrust/condatrust/envaudit"
	"github.com/condatrust/condatrust/envaudit/envtest"
)

// FuzzParsePaths: any input is parsed or refused with a FormatError;
// what is accepted has clean, unique, relative paths.
func FuzzParsePaths(f *testing.F) {
	spec := envtest.Spec("a", "1", "0", "linux-64", envtest.SampleFiles())
	f.Add(spec.Files[envaudit.PathsJSON])
	f.Add([]byte(`{"paths": [{"_path": "a", "path_type": "directory"}], "paths_version": 1}`))
	f.Add([]byte(`{"paths": [{"_path": "a/../b"}]}`))
	f.Add([]byte(`{"paths": [{"_path": "a", "prefix_placeholder": "/p", "file_mode": "binary"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := envaudit.ParsePaths(data)
		if err != nil {
			if !errors.Is(err, envaudit.ErrMalformed) {
				t.Fatalf("not a FormatError: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range p.Entries {
			if seen[e.Path] || e.Path == "" || e.Path[0] == '/' || bytes.Contains([]byte(e.Path), []byte("..")) && (e.Path == ".." || bytes.HasPrefix([]byte(e.Path), []byte("../"))) {
				t.Fatalf("accepted path %q", e.Path)
			}
			seen[e.Path] = true
			if (e.Placeholder == "") != (e.Mode == "") {
				t.Fatalf("placeholder %q with mode %q", e.Placeholder, e.Mode)
			}
		}
	})
}

// FuzzRelocation: a binary relocation keeps the length or fails with
// ErrRelocation; neither mode panics; a prefix as long as the
// placeholder never fails in binary mode; relocating to the placeholder
// itself changes nothing in binary mode.
func FuzzRelocation(f *testing.F) {
	for _, file := range envtest.SampleFiles() {
		f.Add(file.Data, envtest.Placeholder, "/env", false)
	}
	f.Add([]byte("#!/ph/bin/python\n/ph\x00/ph"), "/ph", "/a b", false)
	f.Add([]byte("MZ#!/ph\nPK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00"), "/ph", "/ab", true)
	f.Fuzz(func(t *testing.T, data []byte, placeholder, prefix string, windows bool) {
		r := envaudit.Relocation{Prefix: prefix, Windows: windows, MaxShebang: 127}
		if _, err := r.Apply(data, placeholder, envaudit.Text); err != nil && !errors.Is(err, envaudit.ErrRelocation) {
			t.Fatalf("text: %v", err)
		}
		out, err := r.Apply(data, placeholder, envaudit.Binary)
		switch {
		case err != nil && !errors.Is(err, envaudit.ErrRelocation):
			t.Fatalf("binary: %v", err)
		case err == nil && len(out) != len(data):
			t.Fatalf("binary: length %d -> %d", len(data), len(out))
		}
		if placeholder != "" && !windows {
			same := envaudit.Relocation{Prefix: placeholder}
			if out, err := same.Apply(data, placeholder, envaudit.Binary); err != nil || !bytes.Equal(out, data) {
				t.Fatalf("relocating to the placeholder itself: %q -> %q, %v", data, out, err)
			}
		}
	})
}
