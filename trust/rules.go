package trust

// The rule vocabulary. Every refusal anywhere in condatrust, by the library
// or by any command, is a [*VerificationError] that names one of these
// rules; the CLI's hints and docs/client.md are tested to cover each one.
// A caller that refuses something for a reason not listed here is
// deciding trust outside the library, which the project does not do.
const (
	// RuleNotListed: the repodata has no record for the package file (or
	// the name is not that of a conda package), so nothing vouches for it.
	RuleNotListed Rule = "not-listed"
	// RuleRecordMismatch: a signed record does not describe the file it is
	// filed under: its name-version-build plus the section's extension is
	// not the file name, a .conda record is in "packages" (or a .tar.bz2
	// one in "packages.conda"), its subdir is not the subdir served, or an
	// installed package's conda-meta record contradicts it. File names and
	// sections are not signed; this rule binds them to what is.
	RuleRecordMismatch Rule = "record-mismatch"
	// RuleMissing: metadata a channel must publish is absent (key_mgr.json)
	// or no verified key_mgr is stored for offline use.
	RuleMissing Rule = "missing"
	// RuleSharedKey: one key holds two roles (a root key that is also a
	// key_mgr key, a key_mgr key that is also a pkg_mgr key, ...). With
	// such a setup one signature made for one role counts for the other.
	RuleSharedKey Rule = "shared-key"
	// RuleWeakKey: a delegation names a public key that is not a canonical
	// encoding of an Ed25519 point of large order (the identity, a point
	// of small order, or a non-canonical encoding), for which signatures
	// can be forged without the private key.
	RuleWeakKey Rule = "weak-key"
	// RuleBaseURL: the repodata's unsigned info.base_url would send
	// downloads to another scheme or host than the channel's.
	RuleBaseURL Rule = "base-url"
	// RuleLegacySignature: a legacy `conda sign` (RSA) signature was
	// refused: invalid, missing, or by a key not installed or not trusted.
	RuleLegacySignature Rule = "legacy-signature"
	// RuleAttestation: a policy requires a Sigstore attestation (CEP 27)
	// for the package, and none verified: the sidecar is absent, a bundle
	// does not verify against the Sigstore trusted root, its statement
	// names another file or digest, or its signer's identity, OIDC issuer
	// or target channel is not the one the policy names. The checks live
	// in package attest, a leaf outside the verification path.
	RuleAttestation Rule = "attestation"
)

// RuleInfo describes one rule of the vocabulary.
type RuleInfo struct {
	Rule Rule
	// Meaning says in one line what a refusal with this rule means.
	Meaning string
}

// Rules returns every rule a refusal can name, in a stable order: the
// rules of metadata, then those of package records and files.
func Rules() []RuleInfo {
	return []RuleInfo{
		{RuleType, "a document has the wrong metadata type for its role"},
		{RuleSpecVersion, "a document's metadata_spec_version is not one this project implements (0.6.x), or a key_mgr's differs from its root's"},
		{RuleWeakKey, "a delegation names a weak public key (identity, small order or non-canonical encoding)"},
		{RuleSharedKey, "one key is delegated two roles"},
		{RuleThreshold, "not signed by a threshold of distinct authorized keys"},
		{RuleVersion, "a root update is not exactly the next version of the trusted root"},
		{RuleDelegation, "the trusting document lacks the delegation"},
		{RuleExpired, "metadata expired at the reference time"},
		{RuleRollback, "a lower version than one already trusted"},
		{RuleMissing, "metadata the channel must publish is absent, or none is stored for offline use"},
		{RuleNotListed, "the repodata has no record for the package file"},
		{RuleUnsigned, "the record has no signature at all"},
		{RuleRecordMismatch, "a signed record does not describe the file name, section or subdir it is served under"},
		{RuleArtifactHash, "the package's bytes (size, sha256, md5) differ from its signed record"},
		{RuleBaseURL, "the unsigned info.base_url points to another scheme or host than the channel"},
		{RuleLegacySignature, "a legacy conda sign signature is invalid, missing or by a key not trusted"},
		{RuleAttestation, "a required Sigstore attestation is missing, does not verify, or does not match the package or the identity policy"},
	}
}
