// Package signer produces content-trust signatures.
//
// A [Signer] holds one Ed25519 private key, wherever it lives: a key file
// (see [ReadKeyFile]), a GnuPG key used through the gpg agent ([GPGKey],
// OpenPGP-style signatures only), or, in other packages, a hardware token
// or a remote service. [Open] resolves the key references signing verbs
// take (PATH, file:PATH, gpg:FINGERPRINT). [SignEnvelope] adds a signature of the right form for a role to
// a document, one signer at a time, so that offline key holders can sign in
// turn on separate machines:
//
//   - root metadata gets an OpenPGP-style signature (spec §6.4): the
//     Ed25519 signature of an OpenPGP v4 digest, which conda and
//     conda-content-trust require on roots, made from the raw seed without
//     gpg;
//   - key_mgr, pkg_mgr and package records get raw Ed25519 signatures over
//     the canonical bytes.
//
// # Key files
//
// [GenerateKeyFiles] writes NAME.pri (64 lowercase hex characters of the
// seed and a newline, mode 0600, never overwriting anything) and NAME.pub
// (64 hex characters and a newline). [ReadKeyFile] also reads the forms
// the reference tools write: a raw 32-byte seed, hex in either case with
// surrounding whitespace, and PKCS#8 PEM.
package signer

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/condatrust/condatrust/trust"
)

// Signer signs messages with one Ed25519 key.
type Signer interface {
	// Public returns the public key, the signer's identifier in metadata.
	Public() trust.PublicKey
	// Sign returns the 64-byte Ed25519 signature of msg.
	Sign(msg []byte) ([]byte, error)
}

// Key is an in-memory Ed25519 private key.
type Key struct {
	priv ed25519.PrivateKey
	pub  trust.PublicKey
}

// NewKey returns the key for a 32-byte RFC 8032 seed.
func NewKey(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("an Ed25519 seed has %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	k := &Key{priv: priv}
	copy(k.pub[:], priv.Public().(ed25519.PublicKey))
	return k, nil
}

// Public returns the public key.
func (k *Key) Public() trust.PublicKey { return k.pub }

// Sign signs msg with pure Ed25519.
func (k *Key) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(k.priv, msg), nil }

// Seed returns the 32-byte seed. Handle with care: it is the secret.
func (k *Key) Seed() []byte { return k.priv.Seed() }

// OpenPGPOptions set the informational fields of an OpenPGP-style
// signature.
type OpenPGPOptions struct {
	// Fingerprint is the issuer fingerprint written into other_headers.
	// Nil means [trust.PseudoFingerprint] of the key; give the real v4
	// fingerprint when the key is also a GnuPG key.
	Fingerprint *[20]byte
	// Created is the signature creation time; zero means now.
	Created time.Time
	// SeeAlso adds the fingerprint as "see_also" to the entry.
	SeeAlso bool
}

// SignRaw returns a raw signature entry over the canonical bytes of env.
func SignRaw(env *trust.Envelope, s Signer) (trust.Signature, error) {
	if err := CheckRaw(s); err != nil {
		return trust.Signature{}, err
	}
	sig, err := s.Sign(env.SignedBytes())
	if err != nil {
		return trust.Signature{}, err
	}
	return trust.Signature{KeyID: s.Public().String(), Form: trust.FormRaw, Sig: sig}, nil
}

// SignOpenPGP returns an OpenPGP-style signature entry over env (spec §6.4).
// A [*GPGKey] has gpg sign: the fingerprint and creation time are then
// gpg's own, and opts.Fingerprint and opts.Created are ignored.
func SignOpenPGP(env *trust.Envelope, s Signer, opts OpenPGPOptions) (trust.Signature, error) {
	if g, ok := s.(*GPGKey); ok {
		gs, err := g.SignGPG(env.SignedBytes())
		if err != nil {
			return trust.Signature{}, err
		}
		entry := trust.Signature{KeyID: s.Public().String(), Form: trust.FormOpenPGP, Sig: gs.Sig, OtherHeaders: gs.OtherHeaders}
		if opts.SeeAlso && gs.HasIssuer {
			entry.SeeAlso = fmt.Sprintf("%x", gs.Issuer)
		}
		return entry, nil
	}
	fp := trust.PseudoFingerprint(s.Public())
	if opts.Fingerprint != nil {
		fp = *opts.Fingerprint
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	oh := trust.OpenPGPHeaders(fp, created)
	d := trust.OpenPGPDigest(env.SignedBytes(), oh)
	sig, err := s.Sign(d[:])
	if err != nil {
		return trust.Signature{}, err
	}
	entry := trust.Signature{KeyID: s.Public().String(), Form: trust.FormOpenPGP, Sig: sig, OtherHeaders: oh}
	if opts.SeeAlso {
		entry.SeeAlso = fmt.Sprintf("%x", fp)
	}
	return entry, nil
}

// SignEnvelope adds s's signature to env in the given form, replacing an
// earlier signature by the same key, and checks that it verifies.
func SignEnvelope(env *trust.Envelope, s Signer, form trust.Form, opts OpenPGPOptions) error {
	var entry trust.Signature
	var err error
	switch form {
	case trust.FormRaw:
		entry, err = SignRaw(env, s)
	case trust.FormOpenPGP:
		entry, err = SignOpenPGP(env, s, opts)
	default:
		return fmt.Errorf("cannot sign in form %s", form)
	}
	if err != nil {
		return fmt.Errorf("signing with key %s: %w", s.Public().Short(), err)
	}
	if err := env.SetSignature(s.Public(), entry); err != nil {
		return err
	}
	check := trust.CheckThreshold(env, trust.Delegation{Keys: []trust.PublicKey{s.Public()}, Threshold: 1}, modeOf(form))
	if !check.Met() {
		return fmt.Errorf("signer for key %s produced a signature that does not verify", s.Public().Short())
	}
	return nil
}

func modeOf(f trust.Form) trust.Mode {
	if f == trust.FormOpenPGP {
		return trust.ModeOpenPGP
	}
	return trust.ModeRaw
}

// FormFor returns the signature form conda requires for a role: OpenPGP
// style for root, raw for everything else.
func FormFor(role string) trust.Form {
	if role == trust.RoleRoot {
		return trust.FormOpenPGP
	}
	return trust.FormRaw
}
