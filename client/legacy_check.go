package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/condatrust/condatrust/legacysign"
)

// The legacy `conda sign` steps of [Client.FetchPackage], for callers that
// download a package their own way (the verifying proxy): where the .sig
// is, how it is fetched, and the two checks, each refusal a
// [*LegacySignatureError]. They apply only to a channel configured as
// legacy: a channel pinned for content trust is never verified by them.

// LegacySignatureURL returns where the `.sig` of package fn of a channel's
// subdir is: next to the package in the subdir (joined onto the
// normalized channel URL), never where a record's "sig" value points.
func LegacySignatureURL(channelURL, subdir, fn string) string {
	return joinURL(channelURL, subdir, fn+".sig")
}

// FetchLegacySignature fetches the `.sig` of package fn from url, at most
// [legacysign.MaxSigFileSize] bytes. A `.sig` the server does not have is
// refused with [legacysign.ErrSignatureMissing], one too large with
// [legacysign.ErrMalformedSig]; other errors are the fetcher's.
func FetchLegacySignature(ctx context.Context, f Fetcher, fn, url string) ([]byte, error) {
	sig, err := readAllLimited(ctx, f, url, legacysign.MaxSigFileSize)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, &LegacySignatureError{File: fn, Err: &legacysign.VerifyError{
			Err: fmt.Errorf("%w: %s", legacysign.ErrSignatureMissing, url)}}
	case errors.Is(err, ErrTooLarge):
		return nil, &LegacySignatureError{File: fn, Err: &legacysign.VerifyError{
			Err: fmt.Errorf("%w: %s is larger than %d bytes", legacysign.ErrMalformedSig, url, legacysign.MaxSigFileSize)}}
	}
	return sig, err
}

// Verifier returns the [legacysign.Verifier] of the policy: its keys,
// trusting only TrustedKeys. A nil policy trusts no key.
func (p *LegacyPolicy) Verifier() *legacysign.Verifier {
	v := &legacysign.Verifier{Keys: legacysign.KeyMap{}}
	if p != nil {
		if p.Keys != nil {
			v.Keys = p.Keys
		}
		v.TrustedKeys = p.TrustedKeys
		v.WeakKey = p.WeakKey
	}
	return v
}

// CheckSignatureKey checks the `.sig` content of package fn before the
// package is downloaded: it parses, names a key trusted for the channel,
// and that key is installed. It returns the key name. Only the signature
// itself is left to [LegacyPolicy.VerifyDigest].
func (p *LegacyPolicy) CheckSignatureKey(fn string, sig []byte) (string, error) {
	// A zero digest fails only at the signature check itself.
	err := p.Verifier().VerifyDigest(make([]byte, sha256.Size), sig)
	if err != nil && !errors.Is(err, legacysign.ErrInvalidSignature) {
		return "", legacyErr(fn, err)
	}
	s, err := legacysign.ParseSignature(sig)
	if err != nil { // not reached: VerifyDigest parsed it
		return "", legacyErr(fn, &legacysign.VerifyError{Err: err})
	}
	return s.KeyName, nil
}

// VerifyDigest checks the `.sig` content of package fn against digest,
// the SHA-256 of the package's bytes: computed from the very bytes that
// are served, or the record's sha256 when those bytes are then checked
// against it ([repodata.ByteCheck]). It returns the key name that
// verified.
func (p *LegacyPolicy) VerifyDigest(fn string, digest, sig []byte) (string, error) {
	if err := p.Verifier().VerifyDigest(digest, sig); err != nil {
		return "", legacyErr(fn, err)
	}
	s, _ := legacysign.ParseSignature(sig)
	return s.KeyName, nil
}
