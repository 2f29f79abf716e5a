package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/envaudit"
	"github.com/condatrust/condatrust/envaudit/envtest"
)

// filesEnv is a signed in-memory channel with the envtest sample package
// (text and binary prefix files, a .so, a link) installed in a prefix
// the way conda does, and a client pinned to the channel.
func filesEnv(t *testing.T) (c *client.Client, ch *clienttest.Channel, prefix, fn string, archive []byte) {
	t.Helper()
	ch = clienttest.New()
	spec := envtest.Spec("demo", "1.0", "h0_0", "linux-64", envtest.SampleFiles())
	fn, archive, err := spec.Archive(condapkg.Conda, condapkg.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := spec.IndexJSON()
	rec, err := canonjson.Parse(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.AddFile("linux-64", fn, archive, rec); err != nil {
		t.Fatal(err)
	}
	c, _ = memEnv(t, ch)
	pkgPath := filepath.Join(t.TempDir(), fn)
	os.WriteFile(pkgPath, archive, 0o644)
	prefix = filepath.Join(t.TempDir(), "envs", "work")
	if _, err := envtest.Install(prefix, pkgPath, envtest.Options{ChannelURL: memBase}); err != nil {
		t.Fatal(err)
	}
	return c, ch, prefix, fn, archive
}

func TestAuditEnvFiles(t *testing.T) {
	c, ch, prefix, fn, archive := filesEnv(t)
	ctx := context.Background()
	noCache := []string{filepath.Join(prefix, "no-such-cache")}
	rd, err := client.ParseRepodata(ch.Repodata("linux-64"), "repodata.json")
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]map[string]*client.Repodata{memBase: {"linux-64": rd}}

	// Clean, downloaded (nothing in the pkgs cache).
	rep, err := c.AuditEnv(ctx, prefix, client.EnvOptions{Files: true, PkgsDirs: noCache})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Packages[0]
	if p.Status != client.StatusTrusted || p.Files == nil || !p.Files.Checked || p.Files.Paths != 5 || len(p.Files.Findings) != 0 ||
		p.Files.Archive != memBase+"/linux-64/"+fn || len(rep.Unexpected) != 0 {
		t.Fatalf("clean: %+v %+v %+v", p, p.Files, rep.Unexpected)
	}

	// Offline, nothing cached: not checked.
	rep, _ = c.AuditEnv(ctx, prefix, client.EnvOptions{Files: true, Offline: true, PkgsDirs: noCache, Repodata: local})
	if f := rep.Packages[0].Files; f.Checked || !strings.Contains(f.Reason, "offline, and no copy of "+fn) {
		t.Errorf("offline: %+v", f)
	}

	// The default pkgs cache of an envs/NAME environment: <prefix>/../../pkgs.
	cache := filepath.Join(prefix, "..", "..", "pkgs")
	os.MkdirAll(cache, 0o755)
	os.WriteFile(filepath.Join(cache, fn), archive, 0o644)
	rep, _ = c.AuditEnv(ctx, prefix, client.EnvOptions{Files: true, Offline: true, Repodata: local})
	if f := rep.Packages[0].Files; !f.Checked || f.Archive != filepath.Join(cache, fn) {
		t.Errorf("from the cache: %+v", f)
	}

	// A tampered cache copy is not used: warned about, and downloaded.
	bad := append([]byte{}, archive...)
	bad[len(bad)/2] ^= 1
	os.WriteFile(filepath.Join(cache, fn), bad, 0o644)
	rep, _ = c.AuditEnv(ctx, prefix, client.EnvOptions{Files: true, PkgsDirs: []string{cache}})
	if f := rep.Packages[0].Files; !f.Checked || !strings.HasPrefix(f.Archive, "https://") ||
		len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "does not match its signed record") {
		t.Errorf("tampered cache: %+v %q", f, rep.Warnings)
	}

	// Tampered files, one planted.
	lib := filepath.Join(prefix, "lib", "libplain.so.1")
	so, _ := os.ReadFile(lib)
	so[3] ^= 1
	os.WriteFile(lib, so, 0o755)
	os.Remove(filepath.Join(prefix, "share", "demo", "README.txt"))
	os.WriteFile(filepath.Join(prefix, "bin", "planted"), []byte("x"), 0o755)
	rep, _ = c.AuditEnv(ctx, prefix, client.EnvOptions{Files: true, PkgsDirs: noCache})
	f := rep.Packages[0].Files
	if f.Modified != 1 || f.Missing != 1 || f.Findings[0].Path != "lib/libplain.so.1" || f.Findings[1].Path != "share/demo/README.txt" {
		t.Errorf("tampered: %+v", f)
	}
	if len(rep.Unexpected) != 1 || rep.Unexpected[0].Path != "bin/planted" || rep.Unexpected[0].Status != envaudit.Unexpected {
		t.Errorf("unexpected: %+v", rep.Unexpected)
	}

	// VerifyEnv is the same without the files.
	pkgs, _, err := c.VerifyEnv(ctx, prefix, client.EnvOptions{Files: true})
	if err != nil || pkgs[0].Files != nil {
		t.Errorf("VerifyEnv audits files: %+v %v", pkgs, err)
	}
}

// TestAuditEnvFilesUntrusted: a package that is not trusted has no
// archive to compare with: its files are not checked, and no download is
// attempted.
func TestAuditEnvFilesUntrusted(t *testing.T) {
	c, ch, prefix, fn, _ := filesEnv(t)
	ch.RemoveSignatures("linux-64", fn)
	c.Fetcher = client.NewMemoryFetcher(ch.URLs(memBase))
	rep, err := c.AuditEnv(context.Background(), prefix, client.EnvOptions{Files: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Packages[0]; p.Status != client.StatusUnsigned || p.Files.Checked || !strings.Contains(p.Files.Reason, "no signed record") {
		t.Errorf("%+v %+v", p, p.Files)
	}
	if _, err := c.AuditEnv(context.Background(), t.TempDir(), client.EnvOptions{Files: true}); err == nil || errors.Is(err, os.ErrExist) {
		t.Errorf("not an environment: %v", err)
	}
}
