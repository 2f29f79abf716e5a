package legacysign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// signedFixture is a key directory with the pair MyKey and a file signed by
// it, next to its .sig.
type signedFixture struct {
	keys KeyDir
	sk   *SigningKey
	file string
}

func newSignedFixture(t *testing.T) signedFixture {
	t.Helper()
	key := sharedTestKey(t)
	kd := newKeyDir(t, "MyKey", key)
	file := filepath.Join(t.TempDir(), "foo-1.0-0.tar.bz2")
	if err := os.WriteFile(file, []byte("pretend this is a conda package\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sk, err := kd.SigningKey("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sk.SignFile(file); err != nil {
		t.Fatal(err)
	}
	return signedFixture{keys: kd, sk: sk, file: file}
}

func (f signedFixture) verifier() *Verifier {
	return &Verifier{Keys: f.keys, TrustedKeys: []string{"MyKey"}}
}

// writeSig replaces the fixture's .sig.
func (f signedFixture) writeSig(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(f.file+".sig", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	f := newSignedFixture(t)
	sig, err := os.ReadFile(f.file + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	// "MyKey" SP base64(256 bytes) LF: 5 + 1 + 344 + 1.
	if len(sig) != 351 || !strings.HasPrefix(string(sig), "MyKey ") || !strings.HasSuffix(string(sig), "==\n") {
		t.Fatalf(".sig has the wrong shape (%d bytes): %q", len(sig), sig)
	}
	if err := f.verifier().VerifyFile(f.file); err != nil {
		t.Fatalf("VerifyFile: %v", err)
	}
	// Random salts: signing again gives another, equally valid, signature.
	if _, err := f.sk.SignFile(f.file); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(f.file + ".sig")
	if string(again) == string(sig) {
		t.Error("two signatures are identical: salt not random")
	}
	if err := f.verifier().VerifyFile(f.file); err != nil {
		t.Fatalf("VerifyFile after re-signing: %v", err)
	}
}

func TestRefusalInvalidSignature(t *testing.T) {
	f := newSignedFixture(t)
	if err := os.WriteFile(f.file, []byte("pretend this is a conda package!\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := f.verifier().VerifyFile(f.file)
	checkVerdict(t, err, ErrInvalidSignature)
	want := f.file + `: signature is invalid: it does not match this file and key "MyKey"`
	if err.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", err, want)
	}
	var ve *VerifyError
	if errors.As(err, &ve); ve.File != f.file || ve.Key != "MyKey" {
		t.Errorf("VerifyError fields: File %q, Key %q", ve.File, ve.Key)
	}
}

func TestRefusalSignatureMissing(t *testing.T) {
	f := newSignedFixture(t)
	os.Remove(f.file + ".sig")
	err := f.verifier().VerifyFile(f.file)
	checkVerdict(t, err, ErrSignatureMissing)
	if want := f.file + ": signature does not exist: " + f.file + ".sig"; err.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", err, want)
	}
}

func TestRefusalKeyNotInstalled(t *testing.T) {
	f := newSignedFixture(t)
	nobody := &SigningKey{Name: "Nobody", Key: f.sk.Key}
	if _, err := nobody.SignFile(f.file); err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: f.keys, TrustedKeys: []string{"MyKey", "Nobody"}}
	err := v.VerifyFile(f.file)
	checkVerdict(t, err, ErrKeyNotInstalled)
	if want := f.file + ": public key does not exist: " + f.keys.PublicKeyPath("Nobody"); err.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", err, want)
	}
	// Same for a key directory that does not exist at all.
	v.Keys = KeyDir{Path: filepath.Join(t.TempDir(), "absent")}
	checkVerdict(t, v.VerifyFile(f.file), ErrKeyNotInstalled)
}

func TestRefusalKeyNotPinned(t *testing.T) {
	f := newSignedFixture(t)
	v := &Verifier{Keys: f.keys, TrustedKeys: []string{"ChannelKey"}}
	err := v.VerifyFile(f.file)
	checkVerdict(t, err, ErrKeyNotPinned)
	if want := f.file + `: key is not trusted: "MyKey" (trusted: ChannelKey)`; err.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", err, want)
	}
	// The zero Verifier trusts nothing.
	v = &Verifier{Keys: f.keys}
	checkVerdict(t, v.VerifyFile(f.file), ErrKeyNotPinned)
	v.AnyInstalledKey = true
	if err := v.VerifyFile(f.file); err != nil {
		t.Errorf("AnyInstalledKey: %v", err)
	}
}

func TestRefusalMalformedSig(t *testing.T) {
	f := newSignedFixture(t)
	f.writeSig(t, "MyKey\n")
	checkVerdict(t, f.verifier().VerifyFile(f.file), ErrMalformedSig)
	f.writeSig(t, "../MyKey AAAA\n")
	checkVerdict(t, f.verifier().VerifyFile(f.file), ErrBadKeyName)
	f.writeSig(t, strings.Repeat("x", 1<<20))
	checkVerdict(t, f.verifier().VerifyFile(f.file), ErrMalformedSig)
}

// textbookSig makes a conda 3.14.0 signature: digest^d mod n, minimal
// big-endian bytes. Test-only: the package never produces these.
func textbookSig(key *rsa.PrivateKey, data []byte) []byte {
	d := sha256.Sum256(data)
	return new(big.Int).Exp(new(big.Int).SetBytes(d[:]), key.D, key.N).Bytes()
}

func TestRefusalTextbookRSA(t *testing.T) {
	f := newSignedFixture(t)
	data, _ := os.ReadFile(f.file)
	s := textbookSig(f.sk.Key, data)
	f.writeSig(t, "MyKey "+base64.StdEncoding.EncodeToString(s)+"\n")
	err := f.verifier().VerifyFile(f.file)
	checkVerdict(t, err, ErrTextbookRSA)
	want := f.file + ": signature is invalid: textbook RSA signature (conda 3.14.0: no padding, forgeable); re-sign the file"
	if err.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", err, want)
	}
	// Padded to k bytes, it passes the length check and is still refused.
	padded := make([]byte, f.sk.Key.Size())
	copy(padded[len(padded)-len(s):], s)
	f.writeSig(t, "MyKey "+base64.StdEncoding.EncodeToString(padded)+"\n")
	checkVerdict(t, f.verifier().VerifyFile(f.file), ErrTextbookRSA)
	// A textbook signature of other data is merely invalid.
	f.writeSig(t, "MyKey "+base64.StdEncoding.EncodeToString(textbookSig(f.sk.Key, []byte("other")))+"\n")
	checkVerdict(t, f.verifier().VerifyFile(f.file), ErrInvalidSignature)
}

// TestPSSParameters: only salt length 32 and exactly k bytes are valid.
func TestPSSParameters(t *testing.T) {
	f := newSignedFixture(t)
	data, _ := os.ReadFile(f.file)
	digest := sha256.Sum256(data)
	sign := func(salt int) []byte {
		s, err := rsa.SignPSS(rand.Reader, f.sk.Key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	try := func(s []byte) error {
		return f.verifier().Verify(strings.NewReader(string(data)), []byte("MyKey "+base64.StdEncoding.EncodeToString(s)))
	}
	if err := try(sign(32)); err != nil {
		t.Fatalf("salt 32: %v", err)
	}
	for _, salt := range []int{20, 31, 33, rsa.PSSSaltLengthAuto} {
		checkVerdict(t, try(sign(salt)), ErrInvalidSignature)
	}
	good := sign(32)
	longer := append([]byte{0}, good...)
	err := try(longer)
	checkVerdict(t, err, ErrInvalidSignature)
	if want := `signature is invalid: 257 bytes long, but key "MyKey" (2048 bits) makes 256-byte signatures`; err.Error() != want {
		t.Errorf("message:\n got %q\nwant %q", err, want)
	}
	checkVerdict(t, try(good[1:]), ErrInvalidSignature)
}

// TestOperationalErrors: what is not a verdict is not a *VerifyError.
func TestOperationalErrors(t *testing.T) {
	f := newSignedFixture(t)
	t.Run("package missing", func(t *testing.T) {
		os.Rename(f.file, f.file+".moved")
		defer os.Rename(f.file+".moved", f.file)
		err := f.verifier().VerifyFile(f.file)
		var ve *VerifyError
		if errors.As(err, &ve) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v (%T), want a plain not-exist error", err, err)
		}
	})
	t.Run("malformed public key", func(t *testing.T) {
		os.Chmod(f.keys.PublicKeyPath("MyKey"), 0o644)
		if err := os.WriteFile(f.keys.PublicKeyPath("MyKey"), []byte("not a key\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := f.verifier().VerifyFile(f.file)
		var ve *VerifyError
		if errors.As(err, &ve) || !errors.Is(err, ErrMalformedKey) {
			t.Fatalf("err = %v (%T), want ErrMalformedKey outside a VerifyError", err, err)
		}
	})
	t.Run("no key store", func(t *testing.T) {
		v := &Verifier{AnyInstalledKey: true}
		err := v.VerifyFile(f.file)
		var ve *VerifyError
		if err == nil || errors.As(err, &ve) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestVerifyDigestAndKeyMap(t *testing.T) {
	f := newSignedFixture(t)
	data, _ := os.ReadFile(f.file)
	sig, _ := os.ReadFile(f.file + ".sig")
	digest := sha256.Sum256(data)
	v := &Verifier{Keys: KeyMap{"MyKey": &f.sk.Key.PublicKey}, TrustedKeys: []string{"MyKey"}}
	if err := v.VerifyDigest(digest[:], sig); err != nil {
		t.Fatalf("VerifyDigest: %v", err)
	}
	digest[0] ^= 1
	checkVerdict(t, v.VerifyDigest(digest[:], sig), ErrInvalidSignature)
	if err := v.VerifyDigest(digest[:20], sig); err == nil {
		t.Fatal("short digest accepted")
	}
	v.Keys = KeyMap{}
	checkVerdict(t, v.VerifyDigest(digest[:], sig), ErrKeyNotInstalled)
}

func TestWeakKeyReported(t *testing.T) {
	weak, err := GenerateKey(KeyOptions{Bits: 1024, AllowInsecureSize: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key  *rsa.PrivateKey
		want int
	}{{weak, 1024}, {sharedTestKey(t), 0}} {
		sk := &SigningKey{Name: "K", Key: tt.key}
		sig, err := sk.Sign(strings.NewReader("data"))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		v := &Verifier{
			Keys:        KeyMap{"K": &tt.key.PublicKey},
			TrustedKeys: []string{"K"},
			WeakKey:     func(name string, bits int) { got = bits },
		}
		if err := v.Verify(strings.NewReader("data"), sig.Marshal()); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%d-bit key: WeakKey reported %d, want %d", tt.key.N.BitLen(), got, tt.want)
		}
	}
}
