package signer_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// highBitKey returns the first deterministic key (seed sha256("keyarg-N"))
// whose public key starts with a byte >= 0x80, the first byte of an
// OpenPGP packet.
func highBitKey(t *testing.T) trust.PublicKey {
	t.Helper()
	for i := 0; i < 1000; i++ {
		seed := sha256.Sum256([]byte(fmt.Sprintf("keyarg-%d", i)))
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		if pub[0] >= 0x80 {
			var k trust.PublicKey
			copy(k[:], pub)
			return k
		}
	}
	t.Fatal("no key with a high first byte in 1000 seeds")
	return trust.PublicKey{}
}

// TestParsePublicKeyArgRawHighByte: a raw 32-byte key file is a raw key
// whatever its first byte, named NAME.pub or with no extension.
func TestParsePublicKeyArgRawHighByte(t *testing.T) {
	k := highBitKey(t)
	dir := t.TempDir()
	for _, name := range []string{"root1.pub", "root1"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, k[:], 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := signer.ParsePublicKeyArg(p)
		if err != nil || got != k {
			t.Errorf("ParsePublicKeyArg(%s) = %s, %v; want %s", name, got, err, k)
		}
		got, err = signer.ReadPublicKeyFile(p)
		if err != nil || got != k {
			t.Errorf("ReadPublicKeyFile(%s) = %s, %v; want %s", name, got, err, k)
		}
	}
	// The same key as 64 hex characters, with whitespace around.
	p := filepath.Join(dir, "hex.pub")
	os.WriteFile(p, []byte("  "+strings.ToUpper(k.String())+"\r\n"), 0o644)
	if got, err := signer.ParsePublicKeyArg(p); err != nil || got != k {
		t.Errorf("hex file: %s, %v", got, err)
	}
}

// dearmorForTest decodes the base64 body of an ASCII-armored block.
func dearmorForTest(t *testing.T, armored []byte) []byte {
	t.Helper()
	var b64 strings.Builder
	body := false
	for _, line := range strings.Split(strings.ReplaceAll(string(armored), "\r", ""), "\n") {
		switch {
		case strings.HasPrefix(line, "-----BEGIN"):
		case strings.HasPrefix(line, "-----END"), strings.HasPrefix(line, "="):
			body = false
		case !body && line == "":
			body = true
		case body:
			b64.WriteString(line)
		}
	}
	data, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil || len(data) == 0 {
		t.Fatalf("dearmor: %v", err)
	}
	return data
}

// TestParsePublicKeyArgOpenPGP: GnuPG exports are still read, armored under
// any name, binary under a .gpg/.pgp/.asc name or as a file of another
// length that starts with an OpenPGP packet tag.
func TestParsePublicKeyArgOpenPGP(t *testing.T) {
	armored := testvectors.Read(t, "cct/testdata/test_key_1_268B62D0.pub.asc")
	const want = "c8bd83b3bfc991face417d97b9c0db011b5d256476b602b92fec92849fc2b36c"
	binary := dearmorForTest(t, armored)
	if binary[0]&0x80 == 0 || len(binary) == 32 {
		t.Fatalf("binary export starts with %#x, %d bytes", binary[0], len(binary))
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"root1.asc": armored, "root1.pub": armored, "root1": armored,
		"root1.gpg": binary, "root1.pgp": binary, "root1.key": binary,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		got, err := signer.ParsePublicKeyArg(p)
		if err != nil || got.String() != want {
			t.Errorf("%s: %s, %v; want %s", name, got, err, want)
		}
	}
	// A 32-byte file named as an OpenPGP export is parsed as one, and
	// refused naming the file, not taken as a raw key.
	k := highBitKey(t)
	p := filepath.Join(dir, "raw.gpg")
	os.WriteFile(p, k[:], 0o644)
	if got, err := signer.ParsePublicKeyArg(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("32 bytes named .gpg: %s, %v; want an OpenPGP error naming the file", got, err)
	}
}
