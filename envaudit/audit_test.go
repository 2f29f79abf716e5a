package envaudit_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/envaudit"
	"github.com/condatrust/condatrust/envaudit/envtest"
)

// installed builds the sample package in format f, installs it into a
// new prefix and returns the environment, the archive and its record.
func installed(t *testing.T, f condapkg.Format) (*envaudit.Env, string, string, *envaudit.Meta) {
	t.Helper()
	spec := envtest.Spec("demo", "1.0", "h0_0", "linux-64", envtest.SampleFiles())
	pkg, err := spec.WriteTo(t.TempDir(), f, condapkg.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "env")
	metaFile, err := envtest.Install(prefix, pkg, envtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(metaFile)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := envaudit.ParseMeta(data, metaFile)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(prefix)
	return &envaudit.Env{Files: os.DirFS(prefix), Prefix: abs, HostOS: "linux"}, prefix, pkg, meta
}

func TestAuditClean(t *testing.T) {
	for _, f := range []condapkg.Format{condapkg.Conda, condapkg.TarBz2} {
		t.Run(f.String(), func(t *testing.T) {
			env, prefix, pkg, meta := installed(t, f)
			res, err := env.Audit(envaudit.ArchiveFile(pkg), meta)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Findings) != 0 || res.Checked != len(envtest.SampleFiles()) {
				t.Fatalf("clean env: checked %d, findings %+v", res.Checked, res.Findings)
			}
			// The relocated files really hold the prefix, not the placeholder.
			tool, _ := os.ReadFile(filepath.Join(prefix, "bin", "demo-tool"))
			so, _ := os.ReadFile(filepath.Join(prefix, "lib", "libdemo.so"))
			if strings.Contains(string(tool)+string(so), envtest.Placeholder) || !strings.Contains(string(so), env.Prefix+"/lib\x00") {
				t.Errorf("not relocated:\n%q\n%q", tool, so)
			}
			un, err := env.Unexpected([]*envaudit.Meta{meta})
			if err != nil || len(un) != 0 {
				t.Errorf("unexpected in a clean env: %+v %v", un, err)
			}
		})
	}
}

func TestAuditFindings(t *testing.T) {
	env, prefix, pkg, meta := installed(t, condapkg.Conda)
	p := func(rel string) string { return filepath.Join(prefix, filepath.FromSlash(rel)) }
	// A modified .so of the same size, a text file with a line added, a
	// missing file, a link retargeted, an unexpected file in the prefix
	// and a file conda-meta lists that the archive does not install.
	so, _ := os.ReadFile(p("lib/libplain.so.1"))
	so[9] ^= 0xff
	os.WriteFile(p("lib/libplain.so.1"), so, 0o644)
	f, _ := os.OpenFile(p("bin/demo-tool"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("import evil\n")
	f.Close()
	os.Remove(p("share/demo/README.txt"))
	os.Remove(p("lib/libplain.so"))
	os.Symlink("/tmp/elsewhere.so", p("lib/libplain.so"))
	os.WriteFile(p("lib/libinjected.so"), []byte("evil"), 0o644)
	meta.Files = append(meta.Files, "lib/libextra.so")

	res, err := env.Audit(envaudit.ArchiveFile(pkg), meta)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path   string
		status envaudit.Status
		reason string
	}{
		{"bin/demo-tool", envaudit.Modified, "bytes, expected"},
		{"lib/libextra.so", envaudit.Unexpected, "listed in demo-1.0-h0_0.json but not installed by the package archive"},
		{"lib/libplain.so", envaudit.Modified, `a symbolic link to "/tmp/elsewhere.so", expected "libplain.so.1"`},
		{"lib/libplain.so.1", envaudit.Modified, "sha256 "},
		{"share/demo/README.txt", envaudit.Missing, "not in the prefix"},
	}
	if len(res.Findings) != len(want) {
		t.Fatalf("findings %+v", res.Findings)
	}
	for i, w := range want {
		g := res.Findings[i]
		if g.Path != w.path || g.Status != w.status || !strings.Contains(g.Reason, w.reason) {
			t.Errorf("finding %d: %+v, want %s %s %q", i, g, w.path, w.status, w.reason)
		}
	}
	if res.Count(envaudit.Modified) != 3 {
		t.Errorf("Count(modified) = %d", res.Count(envaudit.Modified))
	}
	un, err := env.Unexpected([]*envaudit.Meta{meta})
	if err != nil || len(un) != 1 || un[0].Path != "lib/libinjected.so" {
		t.Errorf("Unexpected: %+v %v", un, err)
	}
}

// TestAuditRelocatedBinary: a binary file with the prefix is checked
// after relocation: the same bytes with the placeholder left in are
// modified.
func TestAuditRelocatedBinary(t *testing.T) {
	env, prefix, pkg, meta := installed(t, condapkg.TarBz2)
	for _, f := range envtest.SampleFiles() {
		if f.Path == "lib/libdemo.so" {
			os.WriteFile(filepath.Join(prefix, "lib", "libdemo.so"), f.Data, 0o755)
		}
	}
	res, err := env.Audit(envaudit.ArchiveFile(pkg), meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Findings[0].Path != "lib/libdemo.so" || res.Findings[0].Status != envaudit.Modified ||
		!strings.Contains(res.Findings[0].Reason, "after replacing the binary placeholder with "+env.Prefix) {
		t.Fatalf("%+v", res.Findings)
	}
	// Audited for another prefix, every relocated file differs.
	env.Prefix = "/somewhere/else"
	res, _ = env.Audit(envaudit.ArchiveFile(pkg), meta)
	if res.Count(envaudit.Modified) != 2 {
		t.Errorf("another prefix: %+v", res.Findings)
	}
}

// TestAuditInconsistentPaths: a paths.json that does not describe the
// archive makes the package uncheckable, a FormatError, not findings.
func TestAuditInconsistentPaths(t *testing.T) {
	spec := envtest.Spec("demo", "1.0", "0", "linux-64", envtest.SampleFiles())
	spec.Files["share/demo/README.txt"] = []byte("not what paths.json hashed\n")
	pkg, err := spec.WriteTo(t.TempDir(), condapkg.Conda, condapkg.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := &envaudit.Env{Files: os.DirFS(t.TempDir()), Prefix: "/p"}
	_, err = env.Audit(envaudit.ArchiveFile(pkg), &envaudit.Meta{Subdir: "linux-64"})
	var fe *envaudit.FormatError
	if !errors.As(err, &fe) || !errors.Is(err, envaudit.ErrMalformed) || !strings.Contains(err.Error(), "info/paths.json: share/demo/README.txt: does not describe the archive: sha256") {
		t.Fatalf("%v", err)
	}
}

// TestAuditNoPathsJSON: a package without paths.json is checked against
// its members.
func TestAuditNoPathsJSON(t *testing.T) {
	spec := condapkg.Spec{Name: "old", Version: "1", Build: "0", Files: map[string][]byte{"share/old.txt": []byte("old\n")}}
	pkg, err := spec.WriteTo(t.TempDir(), condapkg.TarBz2, condapkg.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prefix := t.TempDir()
	os.MkdirAll(filepath.Join(prefix, "share"), 0o755)
	os.WriteFile(filepath.Join(prefix, "share", "old.txt"), []byte("new\n"), 0o644)
	env := &envaudit.Env{Files: os.DirFS(prefix), Prefix: prefix}
	res, err := env.Audit(envaudit.ArchiveFile(pkg), &envaudit.Meta{Files: []string{"share/old.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 1 || len(res.Findings) != 1 || res.Findings[0].Status != envaudit.Modified {
		t.Fatalf("%+v", res)
	}
}

func TestUnexpectedSkips(t *testing.T) {
	prefix := t.TempDir()
	for _, f := range []string{"conda-meta/history", "pkgs/x-1-0.conda", "envs/other/bin/x", "lib/m.py", "lib/__pycache__/m.cpython-312.pyc",
		"lib/__pycache__/n.cpython-312.pyc", "lib/sub/pkgs/x"} {
		os.MkdirAll(filepath.Dir(filepath.Join(prefix, f)), 0o755)
		os.WriteFile(filepath.Join(prefix, f), nil, 0o644)
	}
	env := &envaudit.Env{Files: os.DirFS(prefix)}
	un, err := env.Unexpected([]*envaudit.Meta{{Files: []string{"lib/m.py"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range un {
		got = append(got, f.Path)
	}
	if strings.Join(got, " ") != "lib/__pycache__/n.cpython-312.pyc lib/sub/pkgs/x" {
		t.Errorf("%q", got)
	}
}
