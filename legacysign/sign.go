package legacysign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/condatrust/condatrust/internal/atomicfile"
)

// SaltLength is the PSS salt length in bytes, the size of a SHA-256 digest.
// Signatures with any other salt length are invalid.
const SaltLength = 32

// pssOptions are the PSS parameters of the scheme for signing and
// verifying: the salt length is fixed, never "auto".
var pssOptions = &rsa.PSSOptions{SaltLength: SaltLength, Hash: crypto.SHA256}

// SigningKey is a private key and the name written into its signatures.
type SigningKey struct {
	// Name is the key name, as accepted by [CheckKeyName].
	Name string
	// Key is the RSA private key.
	Key *rsa.PrivateKey
}

// Sign reads r to the end and returns its signature: RSASSA-PSS with
// SHA-256, MGF1-SHA-256 and a random 32-byte salt over SHA-256 of the
// bytes. The data is streamed, never held in memory.
func (k *SigningKey) Sign(r io.Reader) (*Signature, error) {
	if err := CheckKeyName(k.Name); err != nil {
		return nil, err
	}
	digest, err := digestOf(r)
	if err != nil {
		return nil, err
	}
	return k.signDigest(rand.Reader, digest)
}

// signDigest signs a SHA-256 digest, taking the salt from random. Only
// tests pass anything but crypto/rand.Reader, to reproduce fixed-salt
// known-answer vectors.
func (k *SigningKey) signDigest(random io.Reader, digest []byte) (*Signature, error) {
	s, err := rsa.SignPSS(random, k.Key, crypto.SHA256, digest, pssOptions)
	if err != nil {
		return nil, fmt.Errorf("signing with key %q: %w", k.Name, err)
	}
	return &Signature{KeyName: k.Name, Value: s}, nil
}

// SignFile signs the file at path and writes the signature to path+".sig"
// atomically (a reader sees the old `.sig` or the new one, never a mix),
// replacing any previous signature. It returns the `.sig` path.
func (k *SigningKey) SignFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sig, err := k.Sign(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	sigPath := path + ".sig"
	if err := atomicfile.WriteFile(sigPath, sig.Marshal(), 0o644); err != nil {
		return "", fmt.Errorf("writing signature: %w", err)
	}
	return sigPath, nil
}

// digestOf returns SHA-256 of everything r yields.
func digestOf(r io.Reader) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("reading the data to hash: %w", err)
	}
	return h.Sum(nil), nil
}
