package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// The paths every attack is run through: the library, and each command
// that verifies packages or records.
const (
	pathLibrary        = "library"
	pathVerifyPackage  = "verify-package"
	pathVerifyRepodata = "verify-repodata"
	pathFetch          = "fetch"
	pathVerifyEnv      = "verify-env"
)

// attack changes a freshly built channel (one signed package,
// noarch/foo-1.0-0.conda) and returns the subdir and file name a user
// asks for. at is the reference time, when an attack needs one.
type attack struct {
	name string
	do   func(ch *clienttest.Channel, fn string) (sub, target string)
	rule trust.Rule
	// skip lists the paths that cannot see this attack, with why.
	skip map[string]string
	at   func(ch *clienttest.Channel) time.Time
}

// servedRepodata overrides what a subdir's repodata.json is, on the server
// and on disk, for attacks clienttest cannot express.
type servedRepodata struct{ sub, body string }

var overrides = map[*clienttest.Channel]servedRepodata{}

// TestAgreement runs one table of attacks through the library,
// verify-package, verify-repodata, fetch and verify-env: every path must
// refuse each attack it can see, with the same rule, and exit 1.
func TestAgreement(t *testing.T) {
	bytesOnly := map[string]string{pathVerifyRepodata: "checks records, not package bytes", pathVerifyEnv: "checks conda-meta, not package bytes"}
	attacks := []attack{
		{name: "edited record", rule: trust.RuleThreshold, do: func(ch *clienttest.Channel, fn string) (string, string) {
			ch.EditRecord("noarch", fn, "depends", canonjson.NewArray(canonjson.MustString("evil")))
			return "noarch", fn
		}},
		{name: "signed record renamed", rule: trust.RuleRecordMismatch, do: func(ch *clienttest.Channel, fn string) (string, string) {
			evil := "foo-3.0-0.conda"
			ch.SetRecord("noarch", evil, ch.Record("noarch", fn))
			ch.Sign("noarch", evil, "pkg_mgr") // the very signature of fn's record
			ch.SetFile("noarch/"+evil, ch.File("noarch/"+fn))
			return "noarch", evil
		}},
		{name: "record moved between sections", rule: trust.RuleRecordMismatch, do: func(ch *clienttest.Channel, fn string) (string, string) {
			// foo-1.0-0.conda's record and signatures filed in "packages"
			// under the name of a .tar.bz2.
			moved := "foo-1.0-0.tar.bz2"
			top := map[string]json.RawMessage{}
			if err := json.Unmarshal(ch.Repodata("noarch"), &top); err != nil {
				panic(err)
			}
			sec := map[string]map[string]json.RawMessage{}
			for _, k := range []string{"packages.conda", "signatures"} {
				m := map[string]json.RawMessage{}
				if err := json.Unmarshal(top[k], &m); err != nil {
					panic(err)
				}
				sec[k] = m
			}
			sec["packages.conda"][moved], sec["signatures"][moved] = sec["packages.conda"][fn], sec["signatures"][fn]
			delete(sec["packages.conda"], fn)
			delete(sec["signatures"], fn)
			for k, m := range sec {
				top[k], _ = json.Marshal(m)
			}
			out, _ := json.Marshal(top)
			overrides[ch] = servedRepodata{"noarch", string(out)}
			ch.SetFile("noarch/"+moved, ch.File("noarch/"+fn))
			return "noarch", moved
		}},
		{name: "record served in another subdir", rule: trust.RuleRecordMismatch, do: func(ch *clienttest.Channel, fn string) (string, string) {
			ch.SetRecord("linux-64", fn, ch.Record("noarch", fn))
			ch.Sign("linux-64", fn, "pkg_mgr")
			ch.SetFile("linux-64/"+fn, ch.File("noarch/"+fn))
			return "linux-64", fn
		}},
		{name: "bytes changed", rule: trust.RuleArtifactHash, skip: bytesOnly, do: func(ch *clienttest.Channel, fn string) (string, string) {
			b := bytes.Clone(ch.File("noarch/" + fn))
			b[len(b)/2] ^= 1
			ch.SetFile("noarch/"+fn, b)
			return "noarch", fn
		}},
		{name: "bytes shorter", rule: trust.RuleArtifactHash, skip: bytesOnly, do: func(ch *clienttest.Channel, fn string) (string, string) {
			b := ch.File("noarch/" + fn)
			ch.SetFile("noarch/"+fn, b[:len(b)-1])
			return "noarch", fn
		}},
		{name: "bytes longer", rule: trust.RuleArtifactHash, skip: bytesOnly, do: func(ch *clienttest.Channel, fn string) (string, string) {
			ch.SetFile("noarch/"+fn, append(bytes.Clone(ch.File("noarch/"+fn)), 0))
			return "noarch", fn
		}},
		{name: "unsigned", rule: trust.RuleUnsigned, do: func(ch *clienttest.Channel, fn string) (string, string) {
			ch.RemoveSignatures("noarch", fn)
			return "noarch", fn
		}},
		{name: "under threshold", rule: trust.RuleThreshold, do: func(ch *clienttest.Channel, fn string) (string, string) {
			ch.SetFile("key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{PkgMgrKeys: []string{"pkg_mgr", "pkg_mgr2"}, Threshold: 2}))
			return "noarch", fn
		}},
		{name: "undelegated key", rule: trust.RuleThreshold, do: func(ch *clienttest.Channel, fn string) (string, string) {
			ch.Sign("noarch", fn, "attacker")
			return "noarch", fn
		}},
		{name: "expired key_mgr", rule: trust.RuleExpired, do: func(ch *clienttest.Channel, fn string) (string, string) {
			return "noarch", fn
		}, at: func(ch *clienttest.Channel) time.Time { return ch.Now.AddDate(0, 7, 0) }},
		{name: "key_mgr rolled back", rule: trust.RuleRollback, do: func(ch *clienttest.Channel, fn string) (string, string) {
			return "noarch", fn // the rollback itself is set up per path below
		}, skip: map[string]string{pathVerifyPackage: "has no memory of an earlier key_mgr", pathVerifyRepodata: "has no memory of an earlier key_mgr"}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			for _, p := range []string{pathLibrary, pathVerifyPackage, pathVerifyRepodata, pathFetch, pathVerifyEnv} {
				if why, ok := a.skip[p]; ok {
					t.Logf("%s: not applicable: %s", p, why)
					continue
				}
				t.Run(p, func(t *testing.T) { runAttack(t, a, p) })
			}
		})
	}
}

func runAttack(t *testing.T, a attack, path string) {
	ch := clienttest.New()
	fn := ch.AddPackage("noarch", "foo", "1.0", "0")
	rollback := a.rule == trust.RuleRollback
	if rollback {
		ch.SetFile("key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{Version: 2}))
	}
	// The user installed the genuine package before the attack.
	installed := ch.Record("noarch", fn)
	dir := t.TempDir()
	srv := ch.Server(t)
	store := filepath.Join(dir, "trust")
	atFlag := []string{}
	at := ch.Now
	if a.at != nil {
		at = a.at(ch)
		atFlag = []string{"--at", at.Format(time.RFC3339)}
	}
	if path == pathFetch || path == pathVerifyEnv {
		rootFile := filepath.Join(dir, "1.root.json")
		if err := os.WriteFile(rootFile, ch.File("1.root.json"), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := clientCLI(t, "add", srv.URL, "--root", rootFile, "--trust-dir", store); code != 0 {
			t.Fatalf("add: %s", stderr)
		}
		if rollback {
			if code, _, stderr := clientCLI(t, "update", srv.URL, "--trust-dir", store); code != 0 {
				t.Fatalf("update: %s", stderr)
			}
		}
	}
	prevKM := ch.File("key_mgr.json")
	if rollback {
		ch.SetFile("key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{Version: 1}))
	}
	sub, target := a.do(ch, fn)
	if o, ok := overrides[ch]; ok {
		ch.Handle(o.sub+"/repodata.json", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(o.body)) })
		defer delete(overrides, ch)
	}
	served := func(sub string) []byte {
		if o, ok := overrides[ch]; ok && o.sub == sub {
			return []byte(o.body)
		}
		return ch.Repodata(sub)
	}

	var err error
	var code int
	var out string
	switch path {
	case pathLibrary:
		opts := trust.Options{At: at}
		root, _ := trust.ParseMetadata(ch.File("1.root.json"), trust.RoleRoot)
		chain, cerr := trust.NewChain(root, opts)
		if cerr != nil {
			t.Fatal(cerr)
		}
		km, _ := trust.ParseMetadata(ch.File("key_mgr.json"), trust.RoleKeyMgr)
		var prev *trust.Metadata
		if rollback {
			prev, _ = trust.ParseMetadata(prevKM, trust.RoleKeyMgr)
		}
		if _, err = chain.SetKeyMgr(km, prev); err == nil {
			v, verr := repodata.NewVerifier(chain)
			if verr != nil {
				t.Fatal(verr)
			}
			f, perr := repodata.Parse(served(sub))
			if perr != nil {
				t.Fatal(perr)
			}
			_, err = v.VerifyPackage(f, sub, target, bytes.NewReader(ch.File(sub+"/"+target)))
		}
		var ve *trust.VerificationError
		if !errors.As(err, &ve) || ve.Rule != a.rule {
			t.Fatalf("library: %v, want a refusal with rule %s", err, a.rule)
		}
		return
	case pathVerifyPackage, pathVerifyRepodata:
		if err := ch.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		if o, ok := overrides[ch]; ok {
			os.WriteFile(filepath.Join(dir, o.sub, "repodata.json"), []byte(o.body), 0o644)
		}
		common := append([]string{"--repodata", filepath.Join(dir, sub, "repodata.json"), "--key-mgr", filepath.Join(dir, "key_mgr.json"), "--root", filepath.Join(dir, "1.root.json")}, atFlag...)
		if path == pathVerifyPackage {
			var stderr string
			code, _, stderr = clientCLI(t, append([]string{"verify-package", filepath.Join(dir, sub, target)}, common...)...)
			out = stderr
		} else {
			var stdout, stderr string
			args := append([]string{"verify-repodata", filepath.Join(dir, sub, "repodata.json"), "--json"}, common[2:]...)
			code, stdout, stderr = clientCLI(t, args...)
			out = stdout + stderr
			if a.rule != trust.RuleExpired {
				var rep struct {
					Records []struct{ File, Status, Rule string }
				}
				if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
					t.Fatalf("verify-repodata --json: %v\n%s%s", err, stdout, stderr)
				}
				found := false
				for _, r := range rep.Records {
					if r.File == target && r.Rule == string(a.rule) {
						found = true
					}
				}
				if !found {
					t.Fatalf("verify-repodata: no record %s with rule %s\n%s", target, a.rule, stdout)
				}
			}
		}
	case pathFetch:
		var stdout, stderr string
		code, stdout, stderr = clientCLI(t, append([]string{"fetch", srv.URL, sub + "/" + target, "-o", filepath.Join(dir, "pkgs"), "--trust-dir", store, "--json"}, atFlag...)...)
		out = stdout + stderr
		if _, err := os.Stat(filepath.Join(dir, "pkgs")); !os.IsNotExist(err) {
			t.Errorf("fetch wrote something after a refusal")
		}
	case pathVerifyEnv:
		prefix := filepath.Join(dir, "env")
		// conda-meta as the genuine install wrote it, for the file asked for.
		if err := ch.WriteCondaMetaRecord(prefix, srv.URL, sub, target, installed); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr string
		code, stdout, stderr = clientCLI(t, append([]string{"verify-env", prefix, "--trust-dir", store, "--json"}, atFlag...)...)
		out = stdout + stderr
	}
	if code != exitUntrusted || !strings.Contains(out, string(a.rule)) {
		t.Fatalf("%s: exit %d, want %d with rule %q in the output:\n%s", path, code, exitUntrusted, a.rule, out)
	}
}
