package signer_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/signer"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	pub, err := signer.GenerateKeyFiles(dir, "k")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "k.pri")
	for _, ref := range []string{path, "file:" + path, "FILE:" + path} {
		for name, open := range map[string]func(string) (signer.Signer, error){"Open": signer.Open, "OpenRaw": signer.OpenRaw} {
			s, err := open(ref)
			if err != nil {
				t.Fatalf("%s(%q): %v", name, ref, err)
			}
			if s.Public() != pub {
				t.Errorf("%s(%q): public key %s, want %s", name, ref, s.Public(), pub)
			}
			if err := signer.CheckRaw(s); err != nil {
				t.Errorf("CheckRaw(key file): %v", err)
			}
		}
	}
	// A file whose name looks like a scheme is still a file.
	t.Chdir(dir)
	if _, err := signer.GenerateKeyFiles(dir, "odd:name"); err == nil {
		if _, err := signer.Open("odd:name.pri"); err != nil {
			t.Errorf("Open of an existing file named with a colon: %v", err)
		}
	}

	refused := []struct{ ref, want string }{
		{"kms:alias/root", `unknown scheme "kms"`},
		{"file:", "file: needs a path"},
		{"pkcs11:token=root;object=k1?pin-value=1234", "pin-value puts the PIN on the command line in clear"},
		{"pkcs11:token=root;object=k1?module-path=/x.so", "no PKCS#11 support"},
		{"gpg:", "40-hex-character fingerprint"},
		{"gpg:root@example.org", "40-hex-character fingerprint"},
		{filepath.Join(dir, "missing.pri"), "missing.pri"},
	}
	for _, c := range refused {
		_, err := signer.Open(c.ref)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", c.ref, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "1234") {
			t.Errorf("Open(%q) error prints the PIN: %v", c.ref, err)
		}
	}
}

func TestOpenRawRefusesGPG(t *testing.T) {
	_, err := signer.OpenRaw("gpg:0123456789ABCDEF0123456789ABCDEF01234567")
	var e *signer.OpenPGPOnlyError
	if !errors.As(err, &e) {
		t.Fatalf("OpenRaw(gpg:...) = %v, want an *OpenPGPOnlyError", err)
	}
	for _, want := range []string{"GnuPG signature is OpenPGP-style", "only raw Ed25519 signatures for key_mgr, pkg_mgr and package records"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestOpenGPGUnknownKey(t *testing.T) {
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	home := t.TempDir()
	t.Setenv("GNUPGHOME", home)
	_, err := signer.Open("gpg:0123456789ABCDEF0123456789ABCDEF01234567")
	if err == nil || !strings.Contains(err.Error(), "no key with this fingerprint") {
		t.Errorf("Open(gpg:unknown) = %v, want 'no key with this fingerprint'", err)
	}
	exec.Command("gpgconf", "--kill", "gpg-agent").Run()
}
