package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/synth"
)

// demoDir runs the demo once into a temporary folder: a signed channel
// and its keys.
func demoDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	if code, _, errOut := runMain("demo", dir); code != 0 {
		t.Fatalf("demo: exit %d: %s", code, errOut)
	}
	return dir
}

// TestVerifyRepodataSummary checks that a large file of unsigned or
// untrusted records gives a short report, not one line per record, and
// that --verbose still lists every record.
func TestVerifyRepodataSummary(t *testing.T) {
	demo := demoDir(t)
	keyMgr := filepath.Join(demo, "channel", "key_mgr.json")
	dir := t.TempDir()

	// 3000 records, no signature at all: the summary alone.
	unsigned := filepath.Join(dir, "unsigned.json")
	if err := os.WriteFile(unsigned, synth.Repodata(3000, "u"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runMain("verify-repodata", unsigned, "--key-mgr", keyMgr)
	if code != exitUntrusted {
		t.Fatalf("exit %d, want %d", code, exitUntrusted)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 22 ||
		lines[20] != "... and 2980 more unsigned record(s) (--verbose lists every record, --json prints them all)" ||
		lines[21] != unsigned+": 3000 record(s): 0 trusted, 0 untrusted, 3000 unsigned (the file has no signatures)" {
		t.Errorf("report of %d lines, want 20 records, a count and the summary:\n%s", len(lines), out)
	}
	_, out, _ = runMain("verify-repodata", unsigned, "--key-mgr", keyMgr, "--verbose")
	if n := strings.Count(out, "\n"); n != 3001 {
		t.Errorf("--verbose: %d lines, want 3001", n)
	}

	// A signed file with 50 unsigned records added: 20 listed, then a count.
	signed := filepath.Join(dir, "signed.json")
	if err := os.WriteFile(signed, synth.Repodata(10, "s"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runMain("sign-repodata", signed, "--key", filepath.Join(demo, "keys", "pkg_mgr.pri")); code != 0 {
		t.Fatalf("sign-repodata: exit %d: %s", code, errOut)
	}
	addUnsigned(t, signed, 50)
	code, out, _ = runMain("verify-repodata", signed, "--key-mgr", keyMgr)
	if code != exitUntrusted {
		t.Fatalf("exit %d, want %d", code, exitUntrusted)
	}
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 22 {
		t.Fatalf("%d lines, want 20 records, a count and the summary:\n%s", len(lines), out)
	}
	for _, l := range lines[:20] {
		if !strings.HasPrefix(l, "unsigned ") {
			t.Errorf("record line %q", l)
		}
	}
	if lines[20] != "... and 30 more unsigned record(s) (--verbose lists every record, --json prints them all)" {
		t.Errorf("count line %q", lines[20])
	}
	if lines[21] != signed+": 60 record(s): 10 trusted, 0 untrusted, 50 unsigned" {
		t.Errorf("summary %q", lines[21])
	}
}

// addUnsigned adds n unsigned records to the "packages.conda" of a
// repodata file, keeping every other byte of each existing record's value.
func addUnsigned(t *testing.T, path string, n int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var conda map[string]json.RawMessage
	if err := json.Unmarshal(doc["packages.conda"], &conda); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		fn, rec := synth.Record(1000+i, "added")
		fn = strings.TrimSuffix(strings.TrimSuffix(fn, ".tar.bz2"), ".conda") + ".conda"
		conda[fn] = rec
	}
	if doc["packages.conda"], err = json.Marshal(conda); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.TrimSpace(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJSONEmptyLists runs every --json verb in a case where its lists are
// empty or the run fails early, and checks that the output is one JSON
// document in which no list or object is null.
func TestJSONEmptyLists(t *testing.T) {
	demo := demoDir(t)
	ch := filepath.Join(demo, "channel")
	store := filepath.Join(t.TempDir(), "store")
	dir := t.TempDir()
	unsignedRoot := filepath.Join(dir, "unsigned.root.json")
	if code, _, errOut := runMain("root", "init", "--root-key", filepath.Join(demo, "keys", "root1.pub"),
		"--key-mgr-key", filepath.Join(demo, "keys", "key_mgr.pub"), "-o", unsignedRoot); code != 0 {
		t.Fatal(errOut)
	}
	unsignedRepodata := filepath.Join(dir, "repodata.json")
	if err := os.WriteFile(unsignedRepodata, synth.Repodata(3, "e"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"list", "--trust-dir", store},
		{"add", ch, "--root", filepath.Join(ch, "1.root.json"), "--trust-dir", store},
		{"update", "--trust-dir", store},
		{"list", "--trust-dir", store},
		{"fetch", ch, "noarch/nosuch-1.0-0.conda", "-o", dir, "--trust-dir", store},
		{"remove", ch, "--trust-dir", store},
		{"update", ch, "--trust-dir", store},
		{"inspect", unsignedRoot},
		{"verify-metadata", unsignedRoot, unsignedRoot},
		{"verify-repodata", unsignedRepodata, "--key-mgr", filepath.Join(ch, "key_mgr.json")},
		{"verify-package", filepath.Join(dir, "nosuch-1.0-0.conda"), "--repodata", unsignedRepodata, "--key-mgr", filepath.Join(ch, "key_mgr.json")},
		{"keygen", "k", "--dir", filepath.Join(dir, "keys")},
		{"verify-attestation", filepath.Join(dir, "nosuch-1.0-0.conda"), filepath.Join(dir, "nosuch.v0.sigs"), "--sigstore-root", filepath.Join(dir, "nosuch.json"), "--attest-issuer", "https://issuer.example.com", "--attest-identity", "ci@example.com"},
		{"verify-package", filepath.Join(dir, "nosuch-1.0-0.conda"), "--repodata", unsignedRepodata, "--key-mgr", filepath.Join(ch, "key_mgr.json"), "--require-attestation", "--sigstore-root", filepath.Join(dir, "nosuch.json"), "--attest-issuer", "https://issuer.example.com", "--attest-identity", "ci@example.com"},
	} {
		args := append(args, "--json")
		_, out, errOut := runMain(args...)
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("%q: stdout is not one JSON document: %v\n%s\nstderr: %s", args, err, out, errOut)
			continue
		}
		if strings.Contains(out, "null") {
			t.Errorf("%q: null in JSON:\n%s", args, out)
		}
	}
}
