// Package attest verifies Sigstore attestations of conda packages (CEP 27)
// offline: the `<package>.v0.sigs` sidecar prefix.dev publishes next to a
// package, or a bare Sigstore bundle, for a package's file name and sha256,
// against a Sigstore trusted root and an identity [Policy].
//
// Content trust (packages trust and repodata) says "the channel's keys
// signed this record"; an attestation says "this CI identity built and
// published this file". A policy can require both. This package is a leaf:
// the verification path (canonjson, trust, repodata) and the client core do
// not import it; the CLI and the proxy wire it in through plain functions.
//
// # What is checked
//
// Cryptography, by github.com/sigstore/sigstore-go ([Verifier.Verify]):
//
//   - the bundle is well formed (media type, version, content);
//   - a transparency-log (Rekor) entry by a log of the trusted root, with a
//     valid signed entry timestamp or inclusion proof, whose signature,
//     certificate and payload hash are those of the bundle;
//   - a signed time: the log's integrated time (or an RFC 3161 timestamp
//     from a timestamp authority of the trusted root);
//   - the Fulcio certificate chains to a certificate authority of the
//     trusted root and was valid at that signed time, with an embedded
//     certificate-transparency timestamp (SCT) by a CT log of the root;
//   - the DSSE envelope's signature by the certificate's key.
//
// Policy, by this package, on what sigstore-go verified:
//
//   - the in-toto statement's predicate type is [PredicateType];
//   - a subject is named exactly the package's file name and its sha256 is
//     the package's;
//   - the certificate's OIDC issuer equals [Policy.Issuer];
//   - its subject alternative name equals [Policy.Identity], or matches
//     [Policy.IdentityRegexp] in full;
//   - when [Policy.Channel] is set, the predicate's targetChannel equals it.
//
// Every "not attested" outcome is a [*RefusalError] naming the [Check] that
// failed; it matches [trust.ErrVerification] and unwraps to a
// [*trust.VerificationError] with rule [trust.RuleAttestation]. A sidecar or
// trusted root that is not well formed is a [*trust.FormatError].
package attest
