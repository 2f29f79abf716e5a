//go:build pkcs11 && cgo

package pkcs11key_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/condatrust/condatrust/internal/softhsmtest"
	"github.com/condatrust/condatrust/internal/synth"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/signer/pkcs11key"
)

const (
	testPIN = "123456"
	testSO  = "12345678"
)

// token sets up a SoftHSM2 token labelled label in a temporary folder and
// returns a pin file for it; SOFTHSM2_CONF is set for the test.
func token(t testing.TB, labels ...string) (pinFile string) {
	t.Helper()
	if why := softhsmtest.Missing(); why != "" {
		t.Skip(why)
	}
	dir := t.TempDir()
	conf, err := softhsmtest.Setup(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	for _, l := range labels {
		if err := softhsmtest.InitToken(conf, l, testPIN, testSO); err != nil {
			t.Fatal(err)
		}
	}
	pinFile = filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(testPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return pinFile
}

func uri(token, object, pinFile string) string {
	return fmt.Sprintf("pkcs11:token=%s;object=%s?module-path=%s&pin-source=file:%s", token, object, softhsmtest.Module, pinFile)
}

func TestGenerateOpenSign(t *testing.T) {
	pin := token(t, "ceremony")
	k, ref, err := signer.GeneratePKCS11(uri("ceremony", "pkg_mgr", pin))
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public()
	if !strings.Contains(ref, ";id=%") || strings.Contains(ref, testPIN) {
		t.Errorf("reference of the new key %q: want an id and no PIN", ref)
	}
	signer.Close(k)

	// Keys are never overwritten: the same label again is refused.
	if _, _, err := signer.GeneratePKCS11(uri("ceremony", "pkg_mgr", pin)); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("second keygen with the same label: %v", err)
	}

	// The key opens by label, by the returned reference, and signs from many
	// goroutines at once through the session pool.
	for _, r := range []string{uri("ceremony", "pkg_mgr", pin), ref} {
		s, err := signer.Open(r)
		if err != nil {
			t.Fatalf("Open(%s): %v", r, err)
		}
		if s.Public() != pub {
			t.Fatalf("Open(%s) public key %s, generated %s", r, s.Public(), pub)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					msg := fmt.Appendf(nil, "record %d/%d", g, i)
					sig, err := s.Sign(msg)
					if err != nil {
						errs <- err
						return
					}
					if !ed25519.Verify(pub[:], msg, sig) {
						errs <- fmt.Errorf("signature %d/%d does not verify", g, i)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		signer.Close(s)
	}
}

func TestOpenErrors(t *testing.T) {
	pin := token(t, "ops", "other")
	k, _, err := signer.GeneratePKCS11(uri("ops", "good", pin))
	if err != nil {
		t.Fatal(err)
	}
	signer.Close(k)
	wrongPIN := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrongPIN, []byte("000000\n"), 0o600)
	makeECKey(t, "ops", "p256")

	cases := []struct{ ref, want string }{
		{uri("ops", "good", wrongPIN), `wrong PIN for token "ops" (CKR_PIN_INCORRECT): nothing was signed`},
		{uri("ops", "missing", pin), `token "ops" has no private key with this label and id`},
		{uri("ops", "p256", pin), "the key is a ECDSA (CKK_EC) key, not Ed25519"},
		{uri("nosuch", "good", pin), `no token matches the URI's token attributes: tokens present: `},
		{strings.Replace(uri("ops", "good", pin), softhsmtest.Module, "/nonexistent/module.so", 1), "PKCS#11 module /nonexistent/module.so"},
	}
	for _, c := range cases {
		_, err := signer.Open(c.ref)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%s):\n got %v\nwant %q", c.ref, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), testPIN) {
			t.Errorf("error shows the PIN: %v", err)
		}
	}
	// Without a PIN source, a non-interactive run is refused with a hint.
	t.Setenv(signer.PKCS11PINEnv, "")
	noPIN := strings.Split(uri("ops", "good", pin), "&pin-source")[0]
	if _, err := signer.Open(noPIN); err == nil || !strings.Contains(err.Error(), `no PIN for token "ops": add pin-source=file:PATH`) {
		t.Errorf("Open without a PIN: %v", err)
	}
	// The PIN from the environment works.
	t.Setenv(signer.PKCS11PINEnv, testPIN)
	s, err := signer.Open(noPIN)
	if err != nil {
		t.Fatalf("Open with %s: %v", signer.PKCS11PINEnv, err)
	}
	signer.Close(s)
}

// makeECKey creates a P-256 key pair labelled label in the token, through a
// PKCS#11 context of the test's own.
func makeECKey(t *testing.T, token, label string) {
	t.Helper()
	ctx := pkcs11.New(softhsmtest.Module)
	if err := ctx.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer ctx.Destroy()
	defer ctx.Finalize()
	slots, _ := ctx.GetSlotList(true)
	for _, s := range slots {
		ti, _ := ctx.GetTokenInfo(s)
		if strings.TrimRight(ti.Label, " ") != token {
			continue
		}
		sh, err := ctx.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		if err := ctx.Login(sh, pkcs11.CKU_USER, testPIN); err != nil {
			t.Fatal(err)
		}
		p256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
		_, _, err = ctx.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{9})},
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{9})})
		if err != nil {
			t.Fatal(err)
		}
		ctx.Logout(sh)
		ctx.CloseSession(sh)
		return
	}
	t.Fatalf("no token %q", token)
}

// TestRemovedMidRun closes every session on the token after 100
// signatures, as unplugging it does: the signing run fails with
// ErrRemoved, no worker hangs, and nothing is written.
func TestRemovedMidRun(t *testing.T) {
	pin := token(t, "removable")
	k, _, err := signer.GeneratePKCS11(uri("removable", "pkg", pin))
	if err != nil {
		t.Fatal(err)
	}
	defer signer.Close(k)
	var once sync.Once
	pkcs11key.TestHookBeforeSign = func(k *pkcs11key.Key, n int64) {
		if n >= 100 {
			once.Do(func() { k.SimulateRemoval() })
		}
	}
	defer func() { pkcs11key.TestHookBeforeSign = nil }()

	f, err := repodata.Parse(synth.Repodata(2000, ""))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_, err = repodata.Sign(&out, f, repodata.SignOptions{Signers: []signer.Signer{k}})
	if !errors.Is(err, pkcs11key.ErrRemoved) {
		t.Fatalf("Sign with the token removed: %v, want ErrRemoved", err)
	}
	if !strings.Contains(err.Error(), `token "removable" stopped signing after`) || !strings.Contains(err.Error(), "reconnect it and run again") {
		t.Errorf("error does not explain: %v", err)
	}
	_ = io.Discard
}
