package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// indexChannel writes a noarch .tar.bz2 and a linux-64 .conda that depends
// on it.
func indexChannel(t *testing.T) string {
	t.Helper()
	// The default cache key lives in the user's configuration folder:
	// never the real one in tests.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ch := t.TempDir()
	for _, p := range []struct {
		spec condapkg.Spec
		f    condapkg.Format
	}{
		{condapkg.Spec{Name: "base", Version: "1.0", Build: "0"}, condapkg.TarBz2},
		{condapkg.Spec{Name: "tool", Version: "2.0", Build: "0", Subdir: "linux-64", Depends: []string{"base >=1"}}, condapkg.Conda},
	} {
		sub := p.spec.Subdir
		if sub == "" {
			sub = "noarch"
		}
		if _, err := p.spec.WriteTo(filepath.Join(ch, sub), p.f, condapkg.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return ch
}

func runMain(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(args, &o, &e)
	return code, o.String(), e.String()
}

// partialExit is the documented exit code of a partial index run.
func partialExit() int { return 4 }

func TestIndexCommand(t *testing.T) {
	ch := indexChannel(t)
	code, out, errOut := runMain("index", ch)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"linux-64: 1 record(s) (1 read, 0 from cache); wrote 6 file(s)\n",
		"noarch: 1 record(s) (1 read, 0 from cache); wrote 6 file(s)\n",
		"indexed 2 package(s): 2 read (",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// Compact, no final newline, conda-index's key order.
	data, err := os.ReadFile(filepath.Join(ch, "linux-64", "repodata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(`{"info":{"subdir":"linux-64"},"packages":{},"packages.conda":{"tool-2.0-0.conda":{"build":"0","build_number":0,"depends":["base >=1"],"md5":"`)) ||
		!bytes.HasSuffix(data, []byte(`"subdir":"linux-64","version":"2.0"}},"removed":[],"repodata_version":1}`)) {
		t.Errorf("linux-64/repodata.json:\n%s", data)
	}

	code, out, _ = runMain("index", ch, "--json", "--quiet")
	if code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	var sum indexSummaryJSON
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if !sum.Complete || sum.Read != 0 || sum.Cached != 2 || len(sum.Subdirs) != 2 || len(sum.Skipped) != 0 {
		t.Errorf("--json summary of a warm run: %+v", sum)
	}

	if code, out, errOut = runMain("index", ch, "--quiet"); code != 0 || out != "" || errOut != "" {
		t.Errorf("--quiet: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, _ = runMain("index", ch, "--compact=false", "--quiet"); code != 0 {
		t.Fatalf("--compact=false: exit %d", code)
	}
	data, _ = os.ReadFile(filepath.Join(ch, "noarch", "repodata.json"))
	if !bytes.HasPrefix(data, []byte("{\n  \"info\": {\n    \"subdir\": \"noarch\"\n  },\n")) || !bytes.HasSuffix(data, []byte("\"repodata_version\": 1\n}\n")) {
		t.Errorf("--compact=false layout:\n%s", data)
	}
}

func TestIndexCommandPartial(t *testing.T) {
	ch := indexChannel(t)
	if err := os.WriteFile(filepath.Join(ch, "noarch", "bad-1.0-0.conda"), []byte("PK not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMain("index", ch)
	if code != partialExit() {
		t.Errorf("exit %d, want %d", code, partialExit())
	}
	for _, want := range []string{
		"conda-trust: skipped noarch/bad-1.0-0.conda: not a valid zip archive",
		"conda-trust: error: 1 package(s) skipped: the index is incomplete\n",
		"conda-trust: hint: fix or remove the skipped packages",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "noarch: 1 record(s) (1 read, 0 from cache, 1 skipped)") {
		t.Errorf("stdout:\n%s", out)
	}

	code, out, errOut = runMain("index", ch, "--json", "--quiet")
	if code != partialExit() {
		t.Errorf("--json: exit %d, want %d", code, partialExit())
	}
	if strings.Contains(errOut, "error:") {
		t.Errorf("--json printed an error line after the summary: %q", errOut)
	}
	var sum indexSummaryJSON
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Complete || len(sum.Skipped) != 1 || sum.Skipped[0].File != "bad-1.0-0.conda" || sum.Skipped[0].Subdir != "noarch" ||
		!strings.HasPrefix(sum.Skipped[0].Reason, "not a valid zip archive") {
		t.Errorf("--json summary: %+v", sum)
	}
}

func TestIndexCommandSigns(t *testing.T) {
	ch := indexChannel(t)
	keys := t.TempDir()
	pub, err := signer.GenerateKeyFiles(keys, "pkg_mgr")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMain("index", ch, "--sign-key", filepath.Join(keys, "pkg_mgr.pri"))
	if code != 0 || !strings.Contains(out, "signed by 1 key(s)") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	km := &trust.Metadata{Type: trust.RoleKeyMgr, Version: 1, Expiration: time.Now().Add(time.Hour), Delegations: map[string]trust.Delegation{
		trust.RolePkgMgr: {Keys: []trust.PublicKey{pub}, Threshold: 1}}}
	chain, err := trust.NewChainFromKeyMgr(km, trust.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := repodata.NewVerifier(chain)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"noarch", "linux-64"} {
		f, err := repodata.Open(filepath.Join(ch, sub, "repodata.json"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := v.Verify(f)
		if err == nil {
			err = rep.Err(false)
		}
		if err != nil || rep.Trusted != 1 {
			t.Errorf("%s: %v (%d trusted)", sub, err, rep.Trusted)
		}
		f.Close()
	}
}

func TestIndexCommandErrors(t *testing.T) {
	ch := indexChannel(t)
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"index"}, exitUsage, "index takes the CHANNEL_DIR (got 0 argument(s))"},
		{[]string{"index", ch, "--workers", "-1"}, exitUsage, "--workers -1"},
		{[]string{"index", ch, "--subdir", "linux-65"}, exitUsage, `--subdir "linux-65" is not a conda platform subdir`},
		{[]string{"index", filepath.Join(ch, "noarch")}, exitInput, "hint: give the channel folder"},
		{[]string{"index", filepath.Join(ch, "nope")}, exitInput, "not a channel directory"},
		{[]string{"index", ch, "--sign-key", filepath.Join(ch, "missing.pri")}, exitInput, "hint: --sign-key takes a pkg_mgr private key"},
	} {
		code, _, errOut := runMain(c.args...)
		if code != c.code || !strings.Contains(errOut, c.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.stderr)
		}
	}
	if err := os.WriteFile(filepath.Join(ch, "noarch", "patch_instructions.json"), []byte(`{"remove": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runMain("index", ch)
	if code != exitInput || !strings.Contains(errOut, "patch_instructions.json: remove: want a list of file names") {
		t.Errorf("bad patch file: exit %d, stderr %q", code, errOut)
	}
}

// TestIndexCommandMisnamedPackage: a package whose info/index.json names
// another package is skipped (exit 4), not signed.
func TestIndexCommandMisnamedPackage(t *testing.T) {
	ch := indexChannel(t)
	spec := condapkg.Spec{Name: "numpy", Version: "99.0", Build: "0"}
	_, data, err := spec.Archive(condapkg.TarBz2, condapkg.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ch, "noarch", "evil-1.0-0.tar.bz2"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	if _, err := signer.GenerateKeyFiles(keys, "pkg_mgr"); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runMain("index", ch, "--sign-key", filepath.Join(keys, "pkg_mgr.pri"), "--quiet")
	want := "conda-trust: skipped " + filepath.Join("noarch", "evil-1.0-0.tar.bz2") + ": its info/index.json does not describe this file (the signed record is for numpy-99.0-0.tar.bz2, not for this file name): not indexed or signed: rename the file to what its info/index.json says, move it to the folder of its subdir, or rebuild the package\n"
	if code != partialExit() || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, stderr\n%s\nwant exit 4 and\n%s", code, errOut, want)
	}
	data, err = os.ReadFile(filepath.Join(ch, "noarch", "repodata.json"))
	if err != nil || bytes.Contains(data, []byte("numpy")) || bytes.Contains(data, []byte("evil")) {
		t.Errorf("repodata.json: %v\n%s", err, data)
	}
}
