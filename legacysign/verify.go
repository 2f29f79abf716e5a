package legacysign

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"slices"
	"strings"
)

// The reasons a [Verifier] refuses a file. Each is the Err (or wrapped in
// the Err) of a [*VerifyError]; test them with [errors.Is].
var (
	// ErrInvalidSignature means the signature does not verify: the file
	// changed after signing, another key made it, or it is not a valid
	// RSASSA-PSS signature with a 32-byte salt and the key's length.
	ErrInvalidSignature = errors.New("signature is invalid")
	// ErrTextbookRSA means the signature is of conda 3.14.0's textbook-RSA
	// variant (no padding, forgeable). It is never accepted; an error
	// matching it also matches ErrInvalidSignature.
	ErrTextbookRSA = errors.New("textbook RSA signature (conda 3.14.0: no padding, forgeable); re-sign the file")
	// ErrSignatureMissing means there is no `.sig` file for the file.
	ErrSignatureMissing = errors.New("signature does not exist")
	// ErrKeyNotInstalled means the public key named by the `.sig` file is
	// not in the key store. A [KeyStore] reports a missing key with an
	// error matching it.
	ErrKeyNotInstalled = errors.New("public key does not exist")
	// ErrKeyNotPinned means the `.sig` file names a key that is not trusted
	// for this file (see [Verifier.TrustedKeys]).
	ErrKeyNotPinned = errors.New("key is not trusted")
	// ErrMalformedSig means the `.sig` file is not "NAME BASE64": wrong
	// number of fields, a key name that [CheckKeyName] refuses (the error
	// then also matches [ErrBadKeyName]), or invalid base64.
	ErrMalformedSig = errors.New("malformed signature file")
)

// VerifyError is a verification verdict other than valid: the signature
// was looked at and refused. Errors of any other type are operational
// (a file could not be read, a key file is malformed).
type VerifyError struct {
	// File is the verified file's path, when known.
	File string
	// Key is the key name from the `.sig` file, when it could be parsed.
	Key string
	// Err is the reason; it matches one of the Err* refusal errors.
	Err error
}

// Error returns "FILE: reason", or the reason alone when File is empty.
func (e *VerifyError) Error() string {
	if e.File == "" {
		return e.Err.Error()
	}
	return e.File + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *VerifyError) Unwrap() error { return e.Err }

// KeyStore gives a [Verifier] its public keys by name.
type KeyStore interface {
	// PublicKey returns the key NAME, or an error matching
	// [ErrKeyNotInstalled] when there is none. Other errors are
	// operational and are passed through.
	PublicKey(name string) (*rsa.PublicKey, error)
}

var (
	_ KeyStore = KeyDir{}
	_ KeyStore = KeyMap(nil)
)

// KeyMap is an in-memory [KeyStore].
type KeyMap map[string]*rsa.PublicKey

// PublicKey returns m[name], or an error matching [ErrKeyNotInstalled].
func (m KeyMap) PublicKey(name string) (*rsa.PublicKey, error) {
	if k := m[name]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrKeyNotInstalled, name)
}

// Verifier checks `.sig` files. The checks run in this order, the first
// failure deciding the verdict:
//
//  1. the `.sig` content parses ([ParseSignature]), else [ErrMalformedSig];
//  2. its key name is trusted (in TrustedKeys, or AnyInstalledKey is set),
//     else [ErrKeyNotPinned], without looking the key up;
//  3. Keys has that public key, else [ErrKeyNotInstalled];
//  4. the signature is exactly k bytes long (k = modulus size in bytes) and
//     is a valid RSASSA-PSS signature (SHA-256, MGF1-SHA-256, salt length
//     exactly 32) of the file's SHA-256 digest, else [ErrInvalidSignature],
//     or [ErrTextbookRSA] when it is a textbook-RSA signature of the digest.
//
// The zero Verifier trusts no key. A Verifier is safe for concurrent use if
// its KeyStore is.
type Verifier struct {
	// Keys provides the public keys.
	Keys KeyStore
	// TrustedKeys lists the key names whose signatures are accepted, for
	// example those configured for the package's channel (see
	// [ChannelKeys]).
	TrustedKeys []string
	// AnyInstalledKey accepts a signature by any key in Keys, as the
	// historical client did. Set it only when every key in Keys is trusted
	// for every file verified, as when signers check their own files.
	AnyInstalledKey bool
	// WeakKey, if set, is called after a signature verifies with a key of
	// fewer than MinKeyBits bits.
	WeakKey func(name string, bits int)
}

// Verify checks the data read from r against the `.sig` file content sig.
// It returns nil when the signature is valid, a [*VerifyError] when it is
// refused, and any other error when the data or the key cannot be read.
// r is read to the end only once the key is known.
func (v *Verifier) Verify(r io.Reader, sig []byte) error {
	_, err := v.verify(sig, func() ([]byte, error) { return digestOf(r) })
	return err
}

// VerifyDigest is [Verifier.Verify] for a SHA-256 digest computed by the
// caller, for example while downloading. The digest must be computed from
// the very bytes that will be used, never taken from metadata.
func (v *Verifier) VerifyDigest(digest []byte, sig []byte) error {
	if len(digest) != crypto.SHA256.Size() {
		return fmt.Errorf("verifying: digest is %d bytes, want a %d-byte SHA-256 digest", len(digest), crypto.SHA256.Size())
	}
	_, err := v.verify(sig, func() ([]byte, error) { return digest, nil })
	return err
}

// VerifyFile checks the file at path against path+".sig". A missing `.sig`
// is refused with [ErrSignatureMissing]; refusals carry File = path.
func (v *Verifier) VerifyFile(path string) error {
	_, err := v.VerifyFileKey(path)
	return err
}

// VerifyFileKey is [Verifier.VerifyFile] that also returns the name of the
// key whose signature verified, read from the very `.sig` bytes that were
// checked. It returns "" with any error.
func (v *Verifier) VerifyFileKey(path string) (string, error) {
	sigPath := path + ".sig"
	sig, err := readSigFile(sigPath)
	if errors.Is(err, fs.ErrNotExist) {
		return "", &VerifyError{File: path, Err: fmt.Errorf("%w: %s", ErrSignatureMissing, sigPath)}
	}
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	key, err := v.verify(sig, func() ([]byte, error) { return digestOf(f) })
	if ve, ok := err.(*VerifyError); ok {
		ve.File = path
	}
	return key, err
}

// readSigFile reads at most one byte more than a `.sig` may hold, so that
// ParseSignature reports an oversized file without it being read whole.
func readSigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSigFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

// verify returns the name of the key that verified, or an error.
func (v *Verifier) verify(sigFile []byte, digestFn func() ([]byte, error)) (string, error) {
	sig, err := ParseSignature(sigFile)
	if err != nil {
		return "", &VerifyError{Err: err}
	}
	name := sig.KeyName
	if !v.AnyInstalledKey && !slices.Contains(v.TrustedKeys, name) {
		trusted := "none"
		if len(v.TrustedKeys) > 0 {
			trusted = strings.Join(v.TrustedKeys, ", ")
		}
		return "", &VerifyError{Key: name, Err: fmt.Errorf("%w: %q (trusted: %s)", ErrKeyNotPinned, name, trusted)}
	}
	if v.Keys == nil {
		return "", errors.New("verifying: the Verifier has no KeyStore")
	}
	pub, err := v.Keys.PublicKey(name)
	if errors.Is(err, ErrKeyNotInstalled) {
		return "", &VerifyError{Key: name, Err: err}
	}
	if err != nil {
		return "", fmt.Errorf("loading public key %q: %w", name, err)
	}
	digest, err := digestFn()
	if err != nil {
		return "", err
	}
	if err := checkPSS(pub, name, digest, sig.Value); err != nil {
		if isTextbookRSA(pub, digest, sig.Value) {
			err = fmt.Errorf("%w: %w", ErrInvalidSignature, ErrTextbookRSA)
		}
		return "", &VerifyError{Key: name, Err: err}
	}
	if bits := pub.N.BitLen(); bits < MinKeyBits && v.WeakKey != nil {
		v.WeakKey(name, bits)
	}
	return name, nil
}

// checkPSS verifies the PSS variant; errors match ErrInvalidSignature.
func checkPSS(pub *rsa.PublicKey, name string, digest, s []byte) error {
	if k := pub.Size(); len(s) != k {
		return fmt.Errorf("%w: %d bytes long, but key %q (%d bits) makes %d-byte signatures", ErrInvalidSignature, len(s), name, pub.N.BitLen(), k)
	}
	if err := rsa.VerifyPSS(pub, crypto.SHA256, digest, s, pssOptions); err != nil {
		return fmt.Errorf("%w: it does not match this file and key %q", ErrInvalidSignature, name)
	}
	return nil
}

// isTextbookRSA reports whether s, read as a big-endian integer below the
// modulus, is a textbook-RSA signature of digest: s^e mod n equals the
// digest as an integer. It only names the reason for a refusal; nothing is
// ever accepted on its account. Only public values are involved.
func isTextbookRSA(pub *rsa.PublicKey, digest, s []byte) bool {
	x := new(big.Int).SetBytes(s)
	if x.Sign() == 0 || x.Cmp(pub.N) >= 0 {
		return false
	}
	m := x.Exp(x, big.NewInt(int64(pub.E)), pub.N)
	return m.Cmp(new(big.Int).SetBytes(digest)) == 0
}
