package envaudit_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/envaudit"
)

func TestParsePaths(t *testing.T) {
	good := `{"paths": [
  {"_path": "bin/tool", "path_type": "hardlink", "sha256": "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "size_in_bytes": 10, "prefix_placeholder": "/ph", "file_mode": "text"},
  {"_path": "lib/x.so", "path_type": "hardlink", "prefix_placeholder": "/ph", "file_mode": "binary", "no_link": true},
  {"_path": "lib/y", "prefix_placeholder": "/ph"},
  {"_path": "lib/link", "path_type": "softlink", "sha256": "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"},
  {"_path": "share/empty", "path_type": "directory"}
], "paths_version": 1}`
	p, err := envaudit.ParsePaths([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	e := p.Entries
	if len(e) != 5 || e[0].Mode != envaudit.Text || e[0].Size != 10 || !strings.HasPrefix(e[0].SHA256, "abcdef") ||
		e[1].Mode != envaudit.Binary || !e[1].NoLink || e[1].Size != -1 || e[2].Mode != envaudit.Text || e[2].Type != envaudit.Hardlink ||
		e[3].Type != envaudit.Softlink || e[4].Type != envaudit.Directory {
		t.Errorf("%+v", e)
	}
	for _, c := range []struct{ doc, want string }{
		{`[]`, "not a JSON object"},
		{`{"paths_version": 1}`, "paths: missing"},
		{`{"paths": [], "paths_version": 2}`, "only version 1"},
		{`{"paths": [{"path_type": "hardlink"}]}`, `paths[0]: no "_path"`},
		{`{"paths": [{"_path": "/etc/passwd"}]}`, "absolute"},
		{`{"paths": [{"_path": "../x"}]}`, "leaves the prefix"},
		{`{"paths": [{"_path": "a/./b"}]}`, "not a clean path"},
		{`{"paths": [{"_path": "a\\b"}]}`, "backslash"},
		{`{"paths": [{"_path": "C:x"}]}`, "drive letter"},
		{`{"paths": [{"_path": "a"}, {"_path": "a"}]}`, "listed twice"},
		{`{"paths": [{"_path": "a", "path_type": "fifo"}]}`, "not hardlink, softlink or directory"},
		{`{"paths": [{"_path": "a", "sha256": "abc"}]}`, "not 64 hex digits"},
		{`{"paths": [{"_path": "a", "size_in_bytes": -1}]}`, "negative"},
		{`{"paths": [{"_path": "a", "file_mode": "text"}]}`, "without a prefix_placeholder"},
		{`{"paths": [{"_path": "a", "prefix_placeholder": "/p", "file_mode": "octal"}]}`, "not text or binary"},
		{`{"paths": [{"_path": "a", "prefix_placeholder": ""}]}`, "empty"},
		{`{"paths": [{"_path": "a", "path_type": "softlink", "prefix_placeholder": "/p"}]}`, "only files are relocated"},
	} {
		_, err := envaudit.ParsePaths([]byte(c.doc))
		var fe *envaudit.FormatError
		if !errors.As(err, &fe) || !errors.Is(err, envaudit.ErrMalformed) || !strings.Contains(err.Error(), c.want) ||
			!strings.HasPrefix(err.Error(), "info/paths.json: ") {
			t.Errorf("%s: %v, want %q", c.doc, err, c.want)
		}
	}
}

func TestParseMeta(t *testing.T) {
	m, err := envaudit.ParseMeta([]byte(`{"name": "a", "subdir": "noarch", "noarch": {"type": "python"},
  "files": ["lib/python3.12/site-packages/a.py", "bin/a"],
  "paths_data": {"paths": [{"_path": "bin/a", "path_type": "unix_python_entry_point"}, {"_path": "lib/python3.12/site-packages/a.py", "path_type": "hardlink"}]}}`), "a.json")
	if err != nil || !m.NoarchPython || len(m.Generated) != 1 || m.Generated[0] != "bin/a" || len(m.Files) != 2 {
		t.Fatalf("%+v %v", m, err)
	}
	if m, _ := envaudit.ParseMeta([]byte(`{"noarch": "python"}`), "b.json"); !m.NoarchPython {
		t.Error(`"noarch": "python" is not noarch python`)
	}
	if _, err := envaudit.ParseMeta([]byte(`{"files": ["../../etc/passwd"]}`), "c.json"); !errors.Is(err, envaudit.ErrMalformed) || !strings.Contains(err.Error(), "c.json: files: entry 0") {
		t.Errorf("%v", err)
	}
}
