//go:build pkcs11 && cgo

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/condatrust/condatrust/internal/softhsmtest"
	"github.com/condatrust/condatrust/internal/synth"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/signer/pkcs11key"
)

// hsm sets up a SoftHSM2 token "t" holding an Ed25519 key "pkg" and
// returns a URI prefix for it (append ";object=LABEL" and pkcs11Query).
func hsm(t *testing.T) (dir, query string) {
	t.Helper()
	if why := softhsmtest.Missing(); why != "" {
		t.Skip(why)
	}
	dir = t.TempDir()
	conf, err := softhsmtest.Setup(filepath.Join(dir, "hsm"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if err := softhsmtest.InitToken(conf, "t", "123456", "12345678"); err != nil {
		t.Fatal(err)
	}
	pin := filepath.Join(dir, "pin")
	os.WriteFile(pin, []byte("123456\n"), 0o600)
	query = fmt.Sprintf("?module-path=%s&pin-source=file:%s", softhsmtest.Module, pin)
	if _, _, err := signer.GenerateTokenKey(dir, "pkg", "pkcs11:token=t;object=pkg"+query); err != nil {
		t.Fatal(err)
	}
	return dir, query
}

// TestPKCS11SigningFailuresWriteNothing: a missing object, a wrong PIN and a
// token removed after 100 signatures each fail sign-repodata with a clear
// message, and no output (nor temporary file) is left.
func TestPKCS11SigningFailuresWriteNothing(t *testing.T) {
	dir, query := hsm(t)
	in := filepath.Join(dir, "repodata.json")
	if err := os.WriteFile(in, synth.Repodata(3000, ""), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "signed.json")
	bad := filepath.Join(dir, "bad.pin")
	os.WriteFile(bad, []byte("999999\n"), 0o600)

	cases := []struct {
		name, ref, want string
		hook            func(k *pkcs11key.Key, n int64)
	}{
		{"missing object", "pkcs11:token=t;object=nosuch" + query, `token "t" has no private key with this label and id`, nil},
		{"wrong PIN", "pkcs11:token=t;object=pkg" + strings.Replace(query, filepath.Join(dir, "pin"), bad, 1), `wrong PIN for token "t" (CKR_PIN_INCORRECT)`, nil},
		{"removed mid-run", "pkcs11:token=t;object=pkg" + query, `token "t" stopped signing after`, nil},
	}
	var once sync.Once
	cases[2].hook = func(k *pkcs11key.Key, n int64) {
		if n >= 100 {
			once.Do(func() { k.SimulateRemoval() })
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pkcs11key.TestHookBeforeSign = c.hook
			defer func() { pkcs11key.TestHookBeforeSign = nil }()
			code, stdout, stderr := runMain("sign-repodata", in, "--key", c.ref, "-o", out)
			t.Logf("exit %d: %s", code, stderr)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want an error containing %q", code, stderr, c.want)
			}
			if strings.Contains(stderr+stdout, "123456") || strings.Contains(stderr+stdout, "999999") {
				t.Errorf("the output shows a PIN: %s", stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), "tmp") {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
		})
	}
	// The same key signs when nothing goes wrong.
	if code, _, stderr := runMain("sign-repodata", in, "--key", "pkcs11:token=t;object=pkg"+query, "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
