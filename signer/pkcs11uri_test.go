package signer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/signer"
)

func TestParsePKCS11URI(t *testing.T) {
	t.Setenv(signer.PKCS11ModuleEnv, "")
	u, err := signer.ParsePKCS11URI("pkcs11:token=My%20Token;object=pkg_mgr;id=%01%ff;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/hsm.pin")
	if err != nil {
		t.Fatal(err)
	}
	if u.Token != "My Token" || u.Object != "pkg_mgr" || string(u.ID) != "\x01\xff" || !u.HasID ||
		u.ModulePath != "/usr/lib/softhsm/libsofthsm2.so" || u.PINSource != "/etc/hsm.pin" || u.Type != "private" {
		t.Errorf("parsed %+v", u)
	}
	const want = "pkcs11:token=My%20Token;object=pkg_mgr;id=%01%FF;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/hsm.pin"
	if got := u.String(); got != want {
		t.Errorf("String() = %s\nwant        %s", got, want)
	}
	// The canonical form parses back to itself.
	u2, err := signer.ParsePKCS11URI(u.String())
	if err != nil || u2.String() != want {
		t.Errorf("round trip: %v %v", u2, err)
	}

	// The module may come from the environment.
	t.Setenv(signer.PKCS11ModuleEnv, "/opt/hsm.so")
	if u, err := signer.ParsePKCS11URI("pkcs11:slot-id=3;id=%AA"); err != nil || u.ModulePath != "/opt/hsm.so" || *u.SlotID != 3 {
		t.Errorf("env module: %+v %v", u, err)
	}
	t.Setenv(signer.PKCS11ModuleEnv, "")

	bad := []struct{ ref, want string }{
		{"pkcs11:token=t?module-path=/m.so", "name the key with object=LABEL"},
		{"pkcs11:object=k", "no PKCS#11 module"},
		{"pkcs11:object=k;object=j?module-path=/m.so", `"object" appears twice`},
		{"pkcs11:object=k;bogus=1?module-path=/m.so", `unknown path attribute "bogus"`},
		{"pkcs11:object=k?module-path=/m.so&pin-value=123456", "pin-value puts the PIN"},
		{"pkcs11:object=k?module-path=/m.so&pin-source=https://x/pin", "only files are supported"},
		{"pkcs11:object=k;type=public?module-path=/m.so", "type=private"},
		{"pkcs11:object=%zz?module-path=/m.so", "bad percent-encoding"},
		{"pkcs11:object=k;slot-id=x?module-path=/m.so", "slot-id"},
		{"pkcs11:object?module-path=/m.so", "has no value"},
		{"pkcs11:object=k?module-name=softhsm2", "module-name is not supported"},
	}
	for _, c := range bad {
		_, err := signer.ParsePKCS11URI(c.ref)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePKCS11URI(%q) = %v, want %q", c.ref, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "123456") {
			t.Errorf("error shows the PIN: %v", err)
		}
	}
}

func TestPKCS11ReadPIN(t *testing.T) {
	dir := t.TempDir()
	pin := filepath.Join(dir, "pin")
	if err := os.WriteFile(pin, []byte("4321\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := signer.ParsePKCS11URI("pkcs11:object=k?module-path=/m.so&pin-source=file:" + pin)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok, err := u.ReadPIN(); got != "4321" || !ok || err != nil {
		t.Errorf("ReadPIN = %q %v %v", got, ok, err)
	}
	os.Chmod(pin, 0o644)
	if _, _, err := u.ReadPIN(); err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "4321") {
		t.Errorf("world-readable pin file: %v", err)
	}
	u.PINSource = ""
	t.Setenv(signer.PKCS11PINEnv, "9999")
	if got, ok, _ := u.ReadPIN(); got != "9999" || !ok {
		t.Errorf("PIN from the environment: %q %v", got, ok)
	}
	t.Setenv(signer.PKCS11PINEnv, "")
	if _, ok, err := u.ReadPIN(); ok || err != nil {
		t.Errorf("no PIN given: ok=%v err=%v", ok, err)
	}
}

func FuzzParsePKCS11URI(f *testing.F) {
	f.Add("pkcs11:token=My%20Token;object=pkg_mgr;id=%01%ff?module-path=/m.so&pin-source=file:/p")
	f.Add("pkcs11:slot-id=1;id=%00?module-path=%2Fm.so")
	f.Add("pkcs11:object=a;object=b")
	f.Fuzz(func(t *testing.T, ref string) {
		u, err := signer.ParsePKCS11URI(ref)
		if err != nil {
			return
		}
		// What parses has a canonical form that parses to the same form.
		s := u.String()
		u2, err := signer.ParsePKCS11URI(s)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", s, ref, err)
		}
		if u2.String() != s {
			t.Fatalf("canonical form is not stable: %q -> %q", s, u2.String())
		}
	})
}
