package signer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/trust"
)

// ErrKeyExists is returned when a key file would overwrite an existing file.
var ErrKeyExists = atomicfile.ErrExists

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// GenerateKeyFiles creates a new random key and writes dir/name.pri (mode
// 0600) and dir/name.pub. It refuses to overwrite either file.
func GenerateKeyFiles(dir, name string) (trust.PublicKey, error) {
	if !keyNameRE.MatchString(name) || strings.Contains(name, "..") {
		return trust.PublicKey{}, fmt.Errorf("key name %q: use letters, digits, '_', '-' and '.', not starting with '.' or '-'", name)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return trust.PublicKey{}, err
	}
	k, err := NewKey(seed)
	if err != nil {
		return trust.PublicKey{}, err
	}
	return k.Public(), WriteKeyFiles(dir, name, k)
}

// GenerateTokenKey creates an Ed25519 key pair inside the PKCS#11 token
// ref names (see [GeneratePKCS11]) and writes only its public key, as
// dir/name.pub: the private key never leaves the token. It checks that
// dir/name.pub can be created before it touches the token, and returns the
// public key and the reference that names the new key (with its id).
func GenerateTokenKey(dir, name, ref string) (trust.PublicKey, string, error) {
	if !keyNameRE.MatchString(name) || strings.Contains(name, "..") {
		return trust.PublicKey{}, "", fmt.Errorf("key name %q: use letters, digits, '_', '-' and '.', not starting with '.' or '-'", name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return trust.PublicKey{}, "", err
	}
	pub := filepath.Join(dir, name+".pub")
	if _, err := os.Lstat(pub); err == nil {
		return trust.PublicKey{}, "", fmt.Errorf("%s: %w: refusing to overwrite a key; choose another name or move the old key away", pub, ErrKeyExists)
	}
	s, newRef, err := GeneratePKCS11(ref)
	if err != nil {
		return trust.PublicKey{}, "", err
	}
	defer Close(s)
	if err := atomicfile.WriteNew(pub, []byte(s.Public().String()+"\n"), 0o644); err != nil {
		return trust.PublicKey{}, newRef, fmt.Errorf("the key was created in the token as %s, but %w", newRef, err)
	}
	return s.Public(), newRef, nil
}

// WriteKeyFiles writes k as dir/name.pri and dir/name.pub, refusing to
// overwrite either. The private key file has mode 0600.
func WriteKeyFiles(dir, name string, k *Key) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	pri := filepath.Join(dir, name+".pri")
	pub := filepath.Join(dir, name+".pub")
	for _, p := range []string{pri, pub} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: %w: refusing to overwrite a key; choose another name or move the old key away", p, ErrKeyExists)
		}
	}
	seedHex := []byte(hex.EncodeToString(k.Seed()) + "\n")
	defer clear(seedHex)
	if err := atomicfile.WriteNew(pri, seedHex, 0o600); err != nil {
		return err
	}
	return atomicfile.WriteNew(pub, []byte(k.Public().String()+"\n"), 0o644)
}

// ReadKeyFile reads a private key file in any of the forms the reference
// tools use: exactly 32 raw bytes; 64 hex characters (either case,
// surrounding whitespace allowed); or a PKCS#8 PEM "PRIVATE KEY" holding an
// Ed25519 key.
//
// A file named *.pub is refused: a 64-hex public key file has the same
// shape as a hex seed, and signing with it would silently use a key nobody
// authorized.
func ReadKeyFile(path string) (*Key, error) {
	if strings.HasSuffix(path, ".pub") {
		return nil, fmt.Errorf("%s is a public key file; signing needs the private key (NAME.pri)", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParsePrivateKey parses private key bytes in the forms [ReadKeyFile]
// accepts.
func ParsePrivateKey(data []byte) (*Key, error) {
	if len(data) == ed25519.SeedSize && !isHexText(data) {
		return NewKey(data)
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "PRIVATE KEY" {
			return nil, errors.New(`not a PEM "PRIVATE KEY" block (an Ed25519 PKCS#8 key was expected)`)
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS#8: %v", err)
		}
		ek, ok := key.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PKCS#8 key is %T, not Ed25519", key)
		}
		return NewKey(ek.Seed())
	}
	text := strings.TrimSpace(string(data))
	if len(text) != 64 {
		return nil, fmt.Errorf("not a private key: expected 64 hex characters (the Ed25519 seed), 32 raw bytes or a PKCS#8 PEM key, found %d bytes", len(data))
	}
	seed, err := hex.DecodeString(text)
	if err != nil {
		return nil, errors.New("not a private key: 64 characters but not hex")
	}
	return NewKey(seed)
}

func isHexText(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// ReadPublicKeyFile reads a public key file: 32 raw bytes, or 64 hex
// characters in either case with surrounding whitespace. A key that
// [trust.CheckPublicKey] refuses (small order, non-canonical encoding) is
// refused with the file named.
func ReadPublicKeyFile(path string) (trust.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return trust.PublicKey{}, err
	}
	return parsePublicKeyFile(path, data)
}

func parsePublicKeyFile(path string, data []byte) (trust.PublicKey, error) {
	var k trust.PublicKey
	var err error
	if len(data) == len(k) && !isHexText(data) {
		copy(k[:], data)
	} else if k, err = trust.ParsePublicKeyLenient(string(data)); err != nil {
		return trust.PublicKey{}, fmt.Errorf("%s: not a public key: expected 64 hex characters or 32 raw bytes", path)
	}
	return checkPublicKey(path, k)
}

// checkPublicKey refuses a key that [trust.CheckPublicKey] refuses, naming
// where it was read from (a file, or "" for a command-line argument).
func checkPublicKey(where string, k trust.PublicKey) (trust.PublicKey, error) {
	if err := trust.CheckPublicKey(k); err != nil {
		if where != "" {
			err = fmt.Errorf("%s: %w", where, err)
		}
		return trust.PublicKey{}, err
	}
	return k, nil
}

// isOpenPGPFile decides by the file's name and shape whether it holds a
// GnuPG export: an ASCII-armored public key block, or a file named *.asc,
// *.gpg or *.pgp, is one; exactly 32 bytes is a raw key and 64 hex
// characters a hex key, whatever their first byte; any other binary file
// whose first byte is an OpenPGP packet tag (high bit set) is taken for
// one. The first byte alone does not decide: it has the high bit set for
// half of all raw keys.
func isOpenPGPFile(name string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".asc", ".gpg", ".pgp":
		return true
	}
	if bytes.Contains(data, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		return true
	}
	if len(data) == len(trust.PublicKey{}) {
		return false
	}
	if _, err := trust.ParsePublicKeyLenient(string(data)); err == nil {
		return false
	}
	return len(data) > 0 && data[0]&0x80 != 0
}

// ParsePublicKeyArg reads a public key given on a command line: 64 hex
// characters, the path of a public key file (32 raw bytes or 64 hex), or
// the path of an Ed25519 key exported by GnuPG (gpg --export, armored or
// not). A file is read as a GnuPG export when it holds an ASCII-armored
// public key block, is named *.asc, *.gpg or *.pgp, or is binary, of
// another length than 32 bytes, and starts with an OpenPGP packet tag; a
// raw key is never mistaken for one, whatever its first byte. A private
// key file is refused with a hint, so a secret is not published by
// mistake, and so is a key that [trust.CheckPublicKey] refuses (with the
// file named).
func ParsePublicKeyArg(arg string) (trust.PublicKey, error) {
	if k, err := trust.ParsePublicKeyLenient(arg); err == nil {
		return checkPublicKey("", k)
	}
	if strings.HasSuffix(arg, ".pri") {
		return trust.PublicKey{}, fmt.Errorf("%s looks like a private key file; give the .pub file or the 64-hex public key", arg)
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return trust.PublicKey{}, fmt.Errorf("%q is neither 64 hex characters nor a readable .pub file: %v", arg, err)
	}
	if !isOpenPGPFile(arg, data) {
		return parsePublicKeyFile(arg, data)
	}
	g, err := ParseGPGPublicKey(data)
	if err != nil {
		return trust.PublicKey{}, fmt.Errorf("%s: %w", arg, err)
	}
	return checkPublicKey(arg, g.Key)
}
