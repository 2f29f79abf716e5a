package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// writeMetadata writes an (unsigned) metadata document: index only parses
// the channel's metadata to learn its keys.
func writeMetadata(t *testing.T, path, typ string, version int64, dels map[string][]trust.PublicKey) {
	t.Helper()
	p := trust.Params{Type: typ, Version: version, Timestamp: time.Now(), Expiration: time.Now().Add(time.Hour),
		Delegations: map[string]trust.Delegation{}}
	for role, keys := range dels {
		p.Delegations[role] = trust.Delegation{Keys: keys, Threshold: 1}
	}
	env, err := trust.Build(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, env.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIndexCommandSignKeyRoles: with the channel's trust metadata at its
// top level, index refuses, before reading any package, a --sign-key that
// is a root or key_mgr key of the newest root, or that key_mgr.json does
// not delegate pkg_mgr to.
func TestIndexCommandSignKeyRoles(t *testing.T) {
	keys := t.TempDir()
	pub := map[string]trust.PublicKey{}
	for _, name := range []string{"rootA", "rootB", "key_mgr", "pkg_mgr", "other"} {
		k, err := signer.GenerateKeyFiles(keys, name)
		if err != nil {
			t.Fatal(err)
		}
		pub[name] = k
	}
	pri := func(name string) string { return filepath.Join(keys, name+".pri") }
	ch := indexChannel(t)
	// 10.root.json is the newest (by number, not by name); 2.root.json
	// delegated root to another key.
	writeMetadata(t, filepath.Join(ch, "2.root.json"), trust.RoleRoot, 2,
		map[string][]trust.PublicKey{trust.RoleRoot: {pub["rootA"]}, trust.RoleKeyMgr: {pub["key_mgr"]}})
	writeMetadata(t, filepath.Join(ch, "10.root.json"), trust.RoleRoot, 10,
		map[string][]trust.PublicKey{trust.RoleRoot: {pub["rootB"]}, trust.RoleKeyMgr: {pub["key_mgr"]}})
	kmPath := filepath.Join(ch, "key_mgr.json")
	writeMetadata(t, kmPath, trust.RoleKeyMgr, 1, map[string][]trust.PublicKey{trust.RolePkgMgr: {pub["pkg_mgr"]}})
	root := filepath.Join(ch, "10.root.json")
	const roleHint = "conda-trust: hint: sign repodata with a pkg_mgr key: root and key_mgr keys only sign metadata and stay offline; make one with 'conda-trust keygen pkg_mgr' and delegate it in key_mgr.json ('conda-trust key-mgr next')\n"
	for _, c := range []struct {
		key, stderr string
	}{
		{"rootB", "conda-trust: error: " + root + ": --sign-key " + pri("rootB") + ": pkg_mgr/root: key " + pub["rootB"].Short() +
			" holds two roles, pkg_mgr and root: a signature made for one would count for the other; give each role its own keys (key " + pub["rootB"].String() + ")\n" +
			"conda-trust: refused by rule shared-key (docs/client.md lists every rule)\n" + roleHint},
		{"key_mgr", "conda-trust: error: " + root + ": --sign-key " + pri("key_mgr") + ": key_mgr/pkg_mgr: key " + pub["key_mgr"].Short() +
			" holds two roles, key_mgr and pkg_mgr: a signature made for one would count for the other; give each role its own keys (key " + pub["key_mgr"].String() + ")\n" +
			"conda-trust: refused by rule shared-key (docs/client.md lists every rule)\n" + roleHint},
		{"other", "conda-trust: error: " + kmPath + ": --sign-key " + pri("other") + ": pkg_mgr: key_mgr.json does not delegate pkg_mgr to this key: clients would not trust its signatures (key " + pub["other"].String() + ")\n" +
			"conda-trust: refused by rule delegation (docs/client.md lists every rule)\n" +
			"conda-trust: hint: sign with a pkg_mgr key that key_mgr.json delegates to, or delegate this one with 'conda-trust key-mgr next' and sign the new key_mgr.json\n"},
		// rootA is a root key of 2.root.json only: the key_mgr check speaks.
		{"rootA", "conda-trust: error: " + kmPath + ": --sign-key " + pri("rootA") + ": pkg_mgr: key_mgr.json does not delegate pkg_mgr to this key"},
	} {
		code, out, errOut := runMain("index", ch, "--sign-key", filepath.Join(keys, "pkg_mgr.pri"), "--sign-key", pri(c.key))
		if code != exitUntrusted || out != "" || !strings.HasPrefix(errOut, c.stderr) {
			t.Errorf("--sign-key %s: exit %d, stdout %q, stderr\n%s\nwant exit 1 and\n%s", c.key, code, out, errOut, c.stderr)
		}
		for _, sub := range []string{"noarch", "linux-64"} {
			if ents, _ := os.ReadDir(filepath.Join(ch, sub)); len(ents) != 1 {
				t.Errorf("--sign-key %s: %s holds %d entries; want only its package", c.key, sub, len(ents))
			}
		}
	}
	if code, _, errOut := runMain("index", ch, "--sign-key", pri("pkg_mgr")); code != 0 || errOut != "" {
		t.Errorf("the pkg_mgr key: exit %d, stderr %q", code, errOut)
	}

	// Without key_mgr.json only the root's keys are refused.
	if err := os.Remove(kmPath); err != nil {
		t.Fatal(err)
	}
	unchecked := "conda-trust: warning: the --sign-key key(s) were not checked against the channel's key_mgr.json: there is no " + kmPath +
		"; clients count only signatures by keys it delegates pkg_mgr to. Give --key-mgr FILE to check them.\n"
	if code, _, errOut := runMain("index", ch, "--sign-key", pri("other")); code != 0 || errOut != unchecked {
		t.Errorf("no key_mgr.json, another key: exit %d, stderr\n%s\nwant\n%s", code, errOut, unchecked)
	}
	if code, _, errOut := runMain("index", ch, "--sign-key", pri("rootB")); code != exitUntrusted || !strings.Contains(errOut, root+": --sign-key") {
		t.Errorf("no key_mgr.json, a root key: exit %d, stderr %q", code, errOut)
	}
	// Metadata that cannot be parsed stops the run: the check cannot be made.
	if err := os.WriteFile(kmPath, []byte(`{"signed": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runMain("index", ch, "--sign-key", pri("pkg_mgr")); code != exitInput || !strings.HasPrefix(errOut, "conda-trust: error: "+kmPath+": ") ||
		!strings.Contains(errOut, "conda-trust: hint: "+kmPath+" must be the channel's key_mgr metadata: fix it, or give --key-mgr with the channel's key_mgr.json") {
		t.Errorf("bad key_mgr.json: exit %d, stderr %q", code, errOut)
	}
}

// TestIndexCommandCacheKey: --cache-key FILE authenticates the cache with
// the key in FILE, made when missing (32 bytes, mode 0600); the default
// key file is then not made. A file that is not a cache key is refused.
func TestIndexCommandCacheKey(t *testing.T) {
	ch := indexChannel(t)
	cfg := os.Getenv("XDG_CONFIG_HOME")
	keyFile := filepath.Join(t.TempDir(), "cache.key")
	if code, _, errOut := runMain("index", ch, "--cache-key", keyFile, "--quiet"); code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	st, err := os.Stat(keyFile)
	if err != nil || st.Size() != 32 || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(cfg, "conda-trust")); !os.IsNotExist(err) {
		t.Errorf("the default key folder was made: %v", err)
	}
	key, _ := os.ReadFile(keyFile)
	code, out, errOut := runMain("index", ch, "--cache-key", keyFile)
	if code != 0 || errOut != "" || !strings.Contains(out, "0 read") || bytes.Contains([]byte(out+errOut), key) {
		t.Errorf("warm run: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Without the flag, the default key does not verify this cache.
	code, _, errOut = runMain("index", ch, "--quiet")
	if code != 0 || strings.Count(errOut, "not authenticated by the cache key") != 2 {
		t.Errorf("default key: exit %d, stderr %q", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "pkg_mgr.pub")
	if err := os.WriteFile(bad, []byte("0123abcd"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runMain("index", ch, "--cache-key", bad)
	want := "conda-trust: error: " + bad + ": 8 bytes, not a cache key: a cache key file holds exactly 32 random bytes; give another file, or delete this one if it is an old cache key, and a new one is made\n" +
		"conda-trust: hint: --cache-key takes a file of 32 random bytes kept outside the channel folder; give a path that does not exist and index makes one\n"
	if code != exitInput || errOut != want {
		t.Errorf("not a key: exit %d, stderr\n%s\nwant\n%s", code, errOut, want)
	}
}

// TestIndexCommandKeyMgrFlag: --key-mgr FILE replaces CHANNEL_DIR/key_mgr.json
// for the check of --sign-key keys.
func TestIndexCommandKeyMgrFlag(t *testing.T) {
	keys := t.TempDir()
	pub := map[string]trust.PublicKey{}
	for _, name := range []string{"pkg_mgr", "other"} {
		k, err := signer.GenerateKeyFiles(keys, name)
		if err != nil {
			t.Fatal(err)
		}
		pub[name] = k
	}
	ch := indexChannel(t)
	km := filepath.Join(t.TempDir(), "key_mgr.json")
	writeMetadata(t, km, trust.RoleKeyMgr, 1, map[string][]trust.PublicKey{trust.RolePkgMgr: {pub["pkg_mgr"]}})
	code, out, errOut := runMain("index", ch, "--key-mgr", km, "--sign-key", filepath.Join(keys, "other.pri"))
	if code != exitUntrusted || out != "" || !strings.HasPrefix(errOut, "conda-trust: error: "+km+": --sign-key ") {
		t.Errorf("other key: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := runMain("index", ch, "--key-mgr", km, "--sign-key", filepath.Join(keys, "pkg_mgr.pri"), "--quiet"); code != 0 || errOut != "" {
		t.Errorf("pkg_mgr key: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runMain("index", ch, "--key-mgr", km, "--unsigned"); code != exitUsage || !strings.Contains(errOut, "--key-mgr checks the --sign-key keys") {
		t.Errorf("--key-mgr without --sign-key: exit %d, stderr %q", code, errOut)
	}
}

// TestIndexCommandSignedChannel: a channel with key_mgr.json, or whose
// repodata.json is signed, is not indexed without --sign-key (exit 2,
// nothing written) unless --unsigned says so, loudly.
func TestIndexCommandSignedChannel(t *testing.T) {
	keys := t.TempDir()
	pkgPub, err := signer.GenerateKeyFiles(keys, "pkg_mgr")
	if err != nil {
		t.Fatal(err)
	}
	pkgKey := filepath.Join(keys, "pkg_mgr.pri")
	const hint = "conda-trust: hint: sign as you index with --sign-key KEY (a pkg_mgr key that key_mgr.json delegates to); or give --unsigned to index without signatures on purpose\n"
	entries := func(ch string) int {
		n := 0
		for _, sub := range []string{"noarch", "linux-64"} {
			ents, _ := os.ReadDir(filepath.Join(ch, sub))
			n += len(ents)
		}
		return n
	}

	// key_mgr.json next to the subdirs: refused before anything is read.
	ch := indexChannel(t)
	km := filepath.Join(ch, "key_mgr.json")
	writeMetadata(t, km, trust.RoleKeyMgr, 1, map[string][]trust.PublicKey{trust.RolePkgMgr: {pkgPub}})
	code, out, errOut := runMain("index", ch)
	want := "conda-trust: error: " + ch + " is a signed channel (" + km + "): indexing it without --sign-key would rewrite repodata.json without any signature, and clients that verify signatures would refuse every package; nothing was written\n" + hint
	if code != exitUsage || out != "" || errOut != want || entries(ch) != 2 {
		t.Errorf("key_mgr.json: exit %d, stdout %q, %d entries, stderr\n%s\nwant\n%s", code, out, entries(ch), errOut, want)
	}
	if code, _, errOut := runMain("index", ch, "--unsigned", "--sign-key", pkgKey); code != exitUsage || !strings.Contains(errOut, "--unsigned and --sign-key exclude each other") {
		t.Errorf("--unsigned --sign-key: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut = runMain("index", ch, "--unsigned")
	if code != 0 || !strings.Contains(out, "indexed 2 package(s)") ||
		!strings.HasPrefix(errOut, "conda-trust: WARNING: --unsigned: "+ch+" is a signed channel ("+km+"); every signature of its repodata.json is removed") {
		t.Errorf("--unsigned: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// No key_mgr.json, but a signed repodata.json (signed without a
	// key_mgr to check the key against, which is said).
	ch = indexChannel(t)
	if code, _, errOut := runMain("index", ch, "--sign-key", pkgKey); code != 0 || !strings.Contains(errOut, "were not checked against the channel's key_mgr.json") {
		t.Fatalf("signing: exit %d, stderr %q", code, errOut)
	}
	before, _ := os.ReadFile(filepath.Join(ch, "noarch", "repodata.json"))
	for _, args := range [][]string{{"index", ch}, {"index", ch, "--subdir", "linux-64"}} {
		code, _, errOut := runMain(args...)
		if code != exitUsage || !strings.Contains(errOut, " is a signed channel ("+filepath.Join(ch, "linux-64", "repodata.json")) || !strings.HasSuffix(errOut, hint) {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(ch, "noarch", "repodata.json")); !bytes.Equal(before, after) {
		t.Error("a refused run rewrote repodata.json")
	}
	if code, _, errOut := runMain("index", ch, "--unsigned", "--quiet"); code != 0 || !strings.Contains(errOut, "WARNING: --unsigned") {
		t.Errorf("--unsigned: exit %d, stderr %q", code, errOut)
	}
	// Unsigned now: a plain index run is fine again.
	if code, _, errOut := runMain("index", ch, "--quiet"); code != 0 || errOut != "" {
		t.Errorf("unsigned channel: exit %d, stderr %q", code, errOut)
	}
}
