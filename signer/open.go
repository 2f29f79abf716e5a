package signer

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/condatrust/condatrust/trust"
)

// This file resolves key references, what signing verbs take as --key:
//
//	PATH, file:PATH      a private key file (see [ReadKeyFile])
//	gpg:FINGERPRINT      a GnuPG Ed25519 key, signing through the gpg agent
//	pkcs11:...           a key in a PKCS#11 token (RFC 7512 URI, see [PKCS11URI];
//	                     needs a build with signer/pkcs11key, tag pkcs11)

// GPGProgram is the gpg binary gpg: references run.
var GPGProgram = "gpg"

// Open returns the signer a key reference names. A reference without a
// scheme, or with file:, is a private key file; gpg:FINGERPRINT is the
// GnuPG key with that 40-hex-character v4 fingerprint, used through the
// running gpg agent (the returned signer makes OpenPGP-style signatures
// only, see [CheckRaw]); pkcs11: is a key in a PKCS#11 token, opened by the
// provider registered with [RegisterPKCS11].
func Open(ref string) (Signer, error) {
	scheme, rest, ok := strings.Cut(ref, ":")
	if !ok || !isScheme(scheme) {
		return ReadKeyFile(ref)
	}
	switch strings.ToLower(scheme) {
	case "file":
		if rest == "" {
			return nil, fmt.Errorf("key reference %q: file: needs a path", ref)
		}
		return ReadKeyFile(rest)
	case "gpg":
		return OpenGPG(rest)
	case "pkcs11":
		return openPKCS11(ref)
	}
	if _, err := os.Stat(ref); err == nil {
		return ReadKeyFile(ref) // a file whose name happens to contain a colon
	}
	return nil, fmt.Errorf("key reference %q: unknown scheme %q: give a key file (PATH or file:PATH), gpg:FINGERPRINT or a pkcs11: URI", ref, scheme)
}

// OpenRaw is [Open] for signers that must make raw signatures (key_mgr,
// pkg_mgr, package records): a gpg: reference is refused with an
// [*OpenPGPOnlyError] before gpg is run.
func OpenRaw(ref string) (Signer, error) {
	if scheme, _, ok := strings.Cut(ref, ":"); ok && strings.EqualFold(scheme, "gpg") {
		return nil, &OpenPGPOnlyError{Ref: ref}
	}
	s, err := Open(ref)
	if err != nil {
		return nil, err
	}
	if err := CheckRaw(s); err != nil {
		return nil, err
	}
	return s, nil
}

// isScheme reports whether s looks like a URI scheme of two characters or
// more (so a Windows drive letter "C:" is a path).
func isScheme(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// redactPKCS11 drops the query of a PKCS#11 URI, where a PIN may be
// (pin-value), from what is printed.
func redactPKCS11(ref string) string {
	if i := strings.IndexByte(ref, '?'); i >= 0 {
		return ref[:i] + "?..."
	}
	return ref
}

// OpenPGPOnlyError is returned when a signer that makes only OpenPGP-style
// signatures (a GnuPG key) is asked for a raw signature.
type OpenPGPOnlyError struct {
	Ref string // the key reference, such as gpg:FINGERPRINT
}

func (e *OpenPGPOnlyError) Error() string {
	return fmt.Sprintf("%s is a GnuPG key: a GnuPG signature is OpenPGP-style, and conda counts only raw Ed25519 signatures for key_mgr, pkg_mgr and package records (OpenPGP-style ones only for root metadata); sign those with a key file", e.Ref)
}

// CheckRaw returns an [*OpenPGPOnlyError] when s cannot make raw
// signatures, which key_mgr, pkg_mgr and package records need.
func CheckRaw(s Signer) error {
	if g, ok := s.(*GPGKey); ok {
		return &OpenPGPOnlyError{Ref: g.Ref()}
	}
	return nil
}

// GPGKey is an Ed25519 key held by GnuPG (in its keyring or on a
// smartcard), signing through the gpg agent. Its signatures are GnuPG's
// own OpenPGP v4 signatures, so it signs only in [trust.FormOpenPGP]:
// [GPGKey.Sign] always fails.
type GPGKey struct {
	pub *GPGPublicKey
	fpr string // 40 upper-case hex characters
}

// OpenGPG returns the GnuPG key with the given v4 fingerprint (40 hex
// characters, spaces allowed), reading its public key with gpg --export.
func OpenGPG(fingerprint string) (*GPGKey, error) {
	fpr := strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(fingerprint, "0x"), "0X"), " ", ""))
	if b, err := hex.DecodeString(fpr); err != nil || len(b) != 20 {
		return nil, fmt.Errorf("key reference gpg:%s: give the key's 40-hex-character fingerprint (gpg --list-keys --with-colons shows it on the fpr line)", fingerprint)
	}
	out, err := runGPG(nil, "--batch", "--export", fpr)
	if err != nil {
		return nil, fmt.Errorf("gpg:%s: reading the public key: %w", fpr, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("gpg:%s: gpg has no key with this fingerprint (GNUPGHOME=%q)", fpr, os.Getenv("GNUPGHOME"))
	}
	pub, err := ParseGPGPublicKey(out)
	if err != nil {
		return nil, fmt.Errorf("gpg:%s: %w", fpr, err)
	}
	if got := strings.ToUpper(hex.EncodeToString(pub.Fingerprint[:])); got != fpr {
		return nil, fmt.Errorf("gpg:%s: the exported primary key has fingerprint %s: name a primary Ed25519 key by its own fingerprint (subkeys are not supported)", fpr, got)
	}
	return &GPGKey{pub: pub, fpr: fpr}, nil
}

// Ref returns the key reference, gpg:FINGERPRINT.
func (k *GPGKey) Ref() string { return "gpg:" + k.fpr }

// Public returns the Ed25519 public key.
func (k *GPGKey) Public() trust.PublicKey { return k.pub.Key }

// Fingerprint returns the key's OpenPGP v4 fingerprint.
func (k *GPGKey) Fingerprint() [20]byte { return k.pub.Fingerprint }

// Sign fails: GnuPG makes only OpenPGP signatures. See [GPGKey.SignGPG].
func (k *GPGKey) Sign([]byte) ([]byte, error) {
	return nil, &OpenPGPOnlyError{Ref: k.Ref()}
}

// SignGPG has gpg make a detached SHA-256 signature over msg, exactly.
func (k *GPGKey) SignGPG(msg []byte) (*GPGSignature, error) {
	out, err := runGPG(msg, "--batch", "--no-armor", "--detach-sign", "--digest-algo", "SHA256", "-u", k.fpr+"!", "-o", "-")
	if err != nil {
		return nil, fmt.Errorf("%s: gpg --detach-sign: %w", k.Ref(), err)
	}
	g, err := ParseGPGSignature(out)
	if err != nil {
		return nil, fmt.Errorf("%s: the signature gpg made: %w", k.Ref(), err)
	}
	if g.HasIssuer && g.Issuer != k.pub.Fingerprint {
		return nil, fmt.Errorf("%s: gpg signed with key %X, not this one", k.Ref(), g.Issuer)
	}
	return g, nil
}

func runGPG(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(GPGProgram, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("%s is not installed or not on PATH: %w", GPGProgram, err)
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}
