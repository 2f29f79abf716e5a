package legacysign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	testKeyOnce sync.Once
	testKey     *rsa.PrivateKey
)

// sharedTestKey is one 2048-bit key made by GenerateKey, shared by the tests
// that need a key but do not test generation.
func sharedTestKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	testKeyOnce.Do(func() {
		k, err := GenerateKey(KeyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		testKey = k
	})
	if testKey == nil {
		t.Fatal("test key generation failed earlier")
	}
	return testKey
}

// newKeyDir makes a key directory holding the pair NAME for key.
func newKeyDir(t testing.TB, name string, key *rsa.PrivateKey) KeyDir {
	t.Helper()
	kd := KeyDir{Path: filepath.Join(t.TempDir(), "keys")}
	if _, _, err := kd.WriteKeyPair(name, key); err != nil {
		t.Fatal(err)
	}
	return kd
}

func TestGenerateKeyDefaults(t *testing.T) {
	key := sharedTestKey(t)
	if key.N.BitLen() != 2048 || key.E != 65537 {
		t.Fatalf("key is %d bits, e=%d; want 2048 bits, e=65537", key.N.BitLen(), key.E)
	}
}

func TestGenerateKeySizes(t *testing.T) {
	tests := []struct {
		bits     int
		insecure bool
		ok       bool
	}{
		{1024, false, false},
		{2047, false, false},
		{1024, true, true},
		{512, true, false},
		{MaxKeyBits + 1, false, false},
		{MaxKeyBits + 1, true, false},
	}
	for _, tt := range tests {
		key, err := GenerateKey(KeyOptions{Bits: tt.bits, AllowInsecureSize: tt.insecure})
		if tt.ok {
			if err != nil {
				t.Errorf("%d bits, insecure=%v: %v", tt.bits, tt.insecure, err)
			} else if key.N.BitLen() != tt.bits {
				t.Errorf("%d bits requested, got %d", tt.bits, key.N.BitLen())
			}
			continue
		}
		if !errors.Is(err, ErrKeySize) {
			t.Errorf("%d bits, insecure=%v: err = %v, want ErrKeySize", tt.bits, tt.insecure, err)
		}
	}
	_, err := GenerateKey(KeyOptions{Bits: 1024})
	if want := "unsupported key size: 1024 bits is not safe; use at least 2048 bits"; err == nil || err.Error() != want {
		t.Errorf("message = %v, want %q", err, want)
	}
}

func TestWriteKeyPairLayout(t *testing.T) {
	key := sharedTestKey(t)
	kd := KeyDir{Path: filepath.Join(t.TempDir(), "new", "keys")} // created on demand
	priv, pub, err := kd.WriteKeyPair("MyKey", key)
	if err != nil {
		t.Fatal(err)
	}
	if priv != filepath.Join(kd.Path, "MyKey") || pub != filepath.Join(kd.Path, "MyKey.pub") {
		t.Fatalf("paths %s, %s", priv, pub)
	}
	st, err := os.Stat(priv)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(kd.Path); st.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %v, want 0700", st.Mode().Perm())
	}
	privData, _ := os.ReadFile(priv)
	pubData, _ := os.ReadFile(pub)
	checkPEMLayout(t, privData, "RSA PRIVATE KEY")
	checkPEMLayout(t, pubData, "PUBLIC KEY")
	if k, err := x509.ParsePKCS1PrivateKey(pemBytes(t, privData)); err != nil || !k.Equal(key) {
		t.Errorf("private key file does not hold the key: %v", err)
	}
	got, err := kd.PublicKey("MyKey")
	if err != nil || !got.Equal(&key.PublicKey) {
		t.Errorf("PublicKey(MyKey) = %v, %v", got, err)
	}
}

// checkPEMLayout: label lines, 64-column base64 lines, "\n" line ends, one
// final newline.
func checkPEMLayout(t *testing.T, data []byte, label string) {
	t.Helper()
	s := string(data)
	if !strings.HasPrefix(s, "-----BEGIN "+label+"-----\n") || !strings.HasSuffix(s, "\n-----END "+label+"-----\n") {
		t.Fatalf("%s: wrong armor:\n%s", label, s)
	}
	if strings.Contains(s, "\r") || strings.HasSuffix(s, "\n\n") {
		t.Errorf("%s: wrong line ends", label)
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	body := lines[1 : len(lines)-1]
	for i, l := range body {
		if i < len(body)-1 && len(l) != 64 || len(l) > 64 || len(l) == 0 {
			t.Errorf("%s: line %d is %d characters", label, i+2, len(l))
		}
	}
}

func pemBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}

func TestWriteKeyPairNeverOverwrites(t *testing.T) {
	key := sharedTestKey(t)
	t.Run("private exists", func(t *testing.T) {
		kd := KeyDir{Path: t.TempDir()}
		os.WriteFile(kd.PrivateKeyPath("MyKey"), []byte("old private"), 0o600)
		_, _, err := kd.WriteKeyPair("MyKey", key)
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("err = %v, want fs.ErrExist", err)
		}
		if got, _ := os.ReadFile(kd.PrivateKeyPath("MyKey")); string(got) != "old private" {
			t.Errorf("private key overwritten: %q", got)
		}
		if _, err := os.Stat(kd.PublicKeyPath("MyKey")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("public key written although the private key existed")
		}
	})
	t.Run("public exists", func(t *testing.T) {
		kd := KeyDir{Path: t.TempDir()}
		os.WriteFile(kd.PublicKeyPath("MyKey"), []byte("old public"), 0o644)
		_, _, err := kd.WriteKeyPair("MyKey", key)
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("err = %v, want fs.ErrExist", err)
		}
		if got, _ := os.ReadFile(kd.PublicKeyPath("MyKey")); string(got) != "old public" {
			t.Errorf("public key overwritten: %q", got)
		}
		if _, err := os.Stat(kd.PrivateKeyPath("MyKey")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("private key left behind next to a foreign public key")
		}
	})
	t.Run("twice", func(t *testing.T) {
		kd := newKeyDir(t, "MyKey", key)
		before, _ := os.ReadFile(kd.PrivateKeyPath("MyKey"))
		other, err := GenerateKey(KeyOptions{Bits: 1024, AllowInsecureSize: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := kd.WriteKeyPair("MyKey", other); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("err = %v, want fs.ErrExist", err)
		}
		if after, _ := os.ReadFile(kd.PrivateKeyPath("MyKey")); !bytes.Equal(before, after) {
			t.Error("private key replaced")
		}
	})
}

func TestCheckKeyName(t *testing.T) {
	good := []string{"MyKey", "a", "_x", "0", "key.v2", "a+b-c", "A_b.c+d-e", strings.Repeat("k", 128)}
	bad := []string{
		"", ".", "..", ".hidden", "-x", "+x", "a..b", "..a", "a/b", "/etc/passwd", `a\b`,
		"../../tmp/evil", "a b", "a\x00", "ключ", "a:b", strings.Repeat("k", 129),
	}
	for _, n := range good {
		if err := CheckKeyName(n); err != nil {
			t.Errorf("CheckKeyName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := CheckKeyName(n); !errors.Is(err, ErrBadKeyName) {
			t.Errorf("CheckKeyName(%q) = %v, want ErrBadKeyName", n, err)
		}
	}
}

// TestKeyNamesRefusedEverywhere: a bad name fails generation, signing-key
// lookup and public-key lookup with ErrBadKeyName, before any file-system
// access (the directory does not exist, so a lookup would say "not
// installed").
func TestKeyNamesRefusedEverywhere(t *testing.T) {
	kd := KeyDir{Path: filepath.Join(t.TempDir(), "absent")}
	key := sharedTestKey(t)
	for _, n := range []string{"a/b", "../x", ".hidden", "a..b", "x.pub"} {
		if _, _, err := kd.WriteKeyPair(n, key); !errors.Is(err, ErrBadKeyName) {
			t.Errorf("WriteKeyPair(%q) = %v, want ErrBadKeyName", n, err)
		}
		if n == "x.pub" {
			continue // valid for lookups, only refused for new keys
		}
		if _, err := kd.PublicKey(n); !errors.Is(err, ErrBadKeyName) || errors.Is(err, ErrKeyNotInstalled) {
			t.Errorf("PublicKey(%q) = %v, want ErrBadKeyName only", n, err)
		}
		if _, err := kd.SigningKey(n); !errors.Is(err, ErrBadKeyName) {
			t.Errorf("SigningKey(%q) = %v, want ErrBadKeyName", n, err)
		}
	}
	if _, err := os.Stat(kd.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("key directory created for a bad name")
	}
}

// TestKeyDirConfined: a symlink out of the key directory is not followed.
func TestKeyDirConfined(t *testing.T) {
	key := sharedTestKey(t)
	outside := newKeyDir(t, "Evil", key)
	kd := KeyDir{Path: t.TempDir()}
	if err := os.Symlink(outside.PublicKeyPath("Evil"), kd.PublicKeyPath("Evil")); err != nil {
		t.Skip("symlinks not supported:", err)
	}
	if pub, err := kd.PublicKey("Evil"); err == nil {
		t.Fatalf("loaded %v through a symlink leaving the key directory", pub.N.BitLen())
	}
}

func TestSigningKeyChoice(t *testing.T) {
	key := sharedTestKey(t)
	kd := KeyDir{Path: t.TempDir()}
	_, err := kd.SigningKey("")
	if !errors.Is(err, ErrNoPrivateKey) {
		t.Fatalf("empty dir: err = %v, want ErrNoPrivateKey", err)
	}
	if want := "no private key found in " + kd.Path; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if _, _, err := kd.WriteKeyPair("Only", key); err != nil {
		t.Fatal(err)
	}
	// Neither public keys nor dot files nor directories count.
	os.WriteFile(filepath.Join(kd.Path, ".Only.tmp-123"), []byte("x"), 0o600)
	os.Mkdir(filepath.Join(kd.Path, "subdir"), 0o700)
	sk, err := kd.SigningKey("")
	if err != nil || sk.Name != "Only" || !sk.Key.Equal(key) {
		t.Fatalf("one key: %v, %v", sk, err)
	}
	other, err := GenerateKey(KeyOptions{Bits: 1024, AllowInsecureSize: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kd.WriteKeyPair("Another", other); err != nil {
		t.Fatal(err)
	}
	_, err = kd.SigningKey("")
	if !errors.Is(err, ErrSeveralPrivateKeys) {
		t.Fatalf("two keys: err = %v, want ErrSeveralPrivateKeys", err)
	}
	if want := "more than one private key found in " + kd.Path + ": Another, Only; name the one to use"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if sk, err := kd.SigningKey("Another"); err != nil || sk.Name != "Another" || !sk.Key.Equal(other) {
		t.Fatalf("named key: %v, %v", sk, err)
	}
	if _, err := kd.SigningKey("Missing"); !errors.Is(err, ErrNoPrivateKey) {
		t.Fatalf("missing named key: err = %v, want ErrNoPrivateKey", err)
	}
}

func TestParsePrivateKeyForms(t *testing.T) {
	key := sharedTestKey(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if got, err := ParsePrivateKey(pkcs8); err != nil || !got.Equal(key) {
		t.Errorf("PKCS#8: %v", err)
	}
	if got, err := ParsePrivateKey(MarshalPrivateKey(key)); err != nil || !got.Equal(key) {
		t.Errorf("PKCS#1: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	pubPEM, _ := MarshalPublicKey(&key.PublicKey)
	bad := map[string][]byte{
		"empty":     nil,
		"encrypted": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}}),
		"pkcs8 ec":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"public":    pubPEM,
		"garbage":   pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("nonsense")}),
	}
	for name, data := range bad {
		if _, err := ParsePrivateKey(data); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("%s: err = %v, want ErrMalformedKey", name, err)
		}
	}
}

func TestParsePublicKeyStrict(t *testing.T) {
	key := sharedTestKey(t)
	good, _ := MarshalPublicKey(&key.PublicKey)
	if got, err := ParsePublicKey(good); err != nil || !got.Equal(&key.PublicKey) {
		t.Fatalf("valid key: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	der := pemBytes(t, good)
	bad := map[string][]byte{
		"empty":         nil,
		"trailing data": append(append([]byte{}, good...), "junk\n"...),
		"leading data":  append([]byte("junk\n"), good...),
		"two blocks":    append(append([]byte{}, good...), good...),
		"private key":   MarshalPrivateKey(key),
		"pkcs1 public":  pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)}),
		"headers":       pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"X": "y"}, Bytes: der}),
		"ec key":        pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}),
		"truncated der": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der[:len(der)-1]}),
	}
	for name, data := range bad {
		if _, err := ParsePublicKey(data); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("%s: err = %v, want ErrMalformedKey", name, err)
		}
	}
	// Leading and trailing whitespace is fine.
	if _, err := ParsePublicKey(append(append([]byte("\n"), good...), "\n\n"...)); err != nil {
		t.Errorf("surrounding whitespace: %v", err)
	}
}

func TestDefaultKeyDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(KeysDirEnv, "")
	kd, err := DefaultKeyDir()
	if err != nil || kd.Path != filepath.Join(home, ".conda", "keys") {
		t.Errorf("default: %v, %v", kd, err)
	}
	t.Setenv(KeysDirEnv, "rel/keys")
	kd, err = DefaultKeyDir()
	wd, _ := os.Getwd()
	if err != nil || kd.Path != filepath.Join(wd, "rel", "keys") {
		t.Errorf("relative $%s: %v, %v", KeysDirEnv, kd, err)
	}
}
