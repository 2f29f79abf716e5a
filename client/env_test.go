package client_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/trust"
)

func byFile(pkgs []client.EnvPackage) map[string]client.EnvPackage {
	m := map[string]client.EnvPackage{}
	for _, p := range pkgs {
		m[p.Filename] = p
	}
	return m
}

func TestVerifyEnv(t *testing.T) {
	ch := clienttest.New()
	good := ch.AddPackage("noarch", "good", "1.0", "0")
	changed := ch.AddPackage("noarch", "changed", "1.0", "0")
	unsigned := ch.AddPackage("noarch", "unsigned", "1.0", "0")
	forged := ch.AddPackage("noarch", "forged", "1.0", "0")
	c, _ := memEnv(t, ch)
	prefix := t.TempDir()
	for _, fn := range []string{good, changed, unsigned, forged} {
		if err := ch.WriteCondaMeta(prefix, memBase, "noarch", fn); err != nil {
			t.Fatal(err)
		}
	}
	// Installed from a channel nobody pinned.
	other := clienttest.New()
	stray := other.AddPackage("noarch", "stray", "1.0", "0")
	if err := other.WriteCondaMeta(prefix, "https://elsewhere.example/ch", "noarch", stray); err != nil {
		t.Fatal(err)
	}
	// The installed "changed" package differs from what was signed.
	meta := filepath.Join(prefix, "conda-meta", "changed-1.0-0.json")
	_, sha := clienttest.Digests([]byte("something else"))
	setMetaField(t, meta, "sha256", sha)
	ch.RemoveSignatures("noarch", unsigned)
	ch.EditRecord("noarch", forged, "depends", canonjson.NewArray(canonjson.MustString("evil")))
	c.Fetcher = client.NewMemoryFetcher(ch.URLs(memBase))
	// history and non-JSON files are not packages.
	os.WriteFile(filepath.Join(prefix, "conda-meta", "history"), []byte("==> 2026 <==\n"), 0o644)

	pkgs, warns, err := c.VerifyEnv(context.Background(), prefix, client.EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 5 || len(warns) != 0 {
		t.Fatalf("%d packages, warnings %q", len(pkgs), warns)
	}
	got := byFile(pkgs)
	want := map[string]struct {
		status client.Status
		rule   trust.Rule
		reason string
	}{
		good:     {client.StatusTrusted, "", ""},
		changed:  {client.StatusUntrusted, trust.RuleArtifactHash, "the recorded sha256 is " + sha},
		unsigned: {client.StatusUnsigned, trust.RuleUnsigned, "no signatures for unsigned-1.0-0.conda"},
		forged:   {client.StatusUntrusted, trust.RuleThreshold, "signature does not verify"},
		stray:    {client.StatusUnknown, "", "its channel https://elsewhere.example/ch is not pinned"},
	}
	for fn, w := range want {
		p := got[fn]
		if p.Status != w.status || p.Rule != w.rule || !strings.Contains(p.Reason, w.reason) {
			t.Errorf("%s: %s %q %q; want %s %q %q", fn, p.Status, p.Rule, p.Reason, w.status, w.rule, w.reason)
		}
	}
	if got[good].Channel != memBase || got[good].Name != "good" {
		t.Errorf("good: %+v", got[good])
	}

	// --channel: the stray package is looked up by file name in a pinned
	// channel that has its record.
	if err := ch.AddFile("noarch", stray, other.File("noarch/"+stray), other.Record("noarch", stray)); err != nil {
		t.Fatal(err)
	}
	c.Fetcher = client.NewMemoryFetcher(ch.URLs(memBase))
	pkgs, _, err = c.VerifyEnv(context.Background(), prefix, client.EnvOptions{Channels: []string{memBase}})
	if err != nil {
		t.Fatal(err)
	}
	if p := byFile(pkgs)[stray]; p.Status != client.StatusTrusted || p.Channel != memBase {
		t.Errorf("stray via --channel: %+v", p)
	}
}

func setMetaField(t *testing.T, path, key, value string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := canonjson.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err = v.With(key, canonjson.MustString(value))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, canonjson.Marshal(v), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyEnvOffline: with --offline and local repodata nothing is
// fetched; the stored key_mgr is re-verified.
func TestVerifyEnvOffline(t *testing.T) {
	ch := clienttest.New()
	fn := ch.AddPackage("noarch", "good", "1.0", "0")
	c, _ := memEnv(t, ch)
	if _, err := update(t, c); err != nil {
		t.Fatal(err)
	}
	prefix := t.TempDir()
	ch.WriteCondaMeta(prefix, memBase, "noarch", fn)
	rd, err := client.ParseRepodata(ch.Repodata("noarch"), "repodata.json")
	if err != nil {
		t.Fatal(err)
	}
	empty := client.NewMemoryFetcher(nil)
	c.Fetcher = empty
	pkgs, _, err := c.VerifyEnv(context.Background(), prefix, client.EnvOptions{
		Offline: true, Channels: []string{memBase},
		Repodata: map[string]map[string]*client.Repodata{memBase: {"noarch": rd}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || pkgs[0].Status != client.StatusTrusted {
		t.Fatalf("%+v", pkgs)
	}
}

// TestVerifyEnvChannelRefused: when a channel's key_mgr is refused, every
// package it vouches for is untrusted, with the reason.
func TestVerifyEnvChannelRefused(t *testing.T) {
	ch := clienttest.New()
	fn := ch.AddPackage("noarch", "good", "1.0", "0")
	c, _ := memEnv(t, ch)
	prefix := t.TempDir()
	ch.WriteCondaMeta(prefix, memBase, "noarch", fn)
	ch.SetFile("key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{SignedBy: []string{"attacker"}}))
	c.Fetcher = client.NewMemoryFetcher(ch.URLs(memBase))
	pkgs, _, err := c.VerifyEnv(context.Background(), prefix, client.EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := pkgs[0]; p.Status != client.StatusUntrusted || p.Rule != trust.RuleThreshold || !strings.Contains(p.Reason, "key_mgr v1: not signed") {
		t.Errorf("%+v", p)
	}
	if _, _, err := c.VerifyEnv(context.Background(), t.TempDir(), client.EnvOptions{}); err == nil {
		t.Error("a folder without conda-meta is accepted as an environment")
	}
}
