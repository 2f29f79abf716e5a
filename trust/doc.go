// Package trust implements the metadata side of conda content trust
// (metadata spec 0.6.0): the format of root, key_mgr and pkg_mgr
// documents, how their signatures are counted, and the rules that decide
// whether a channel's metadata is trusted. It does no I/O: callers read
// files or the network and hand the bytes over.
//
// # Trusting a channel
//
// A [Chain] is the one place where a channel's trust is built. The user
// pins a root obtained out of band ([NewChain]); newer roots are accepted
// one version at a time, each signed by a threshold of the previous and
// of its own root keys ([Chain.UpdateRoot]); the newest must not have
// expired ([Chain.EndRoots]); the key_mgr must be signed by a threshold of
// that root's key_mgr keys and not be older than the one trusted before
// ([Chain.SetKeyMgr]). Only then does the chain give out the pkg_mgr
// delegation that package records are verified against (package
// repodata's NewVerifier takes a Chain, and nothing else). The order is
// enforced: a root update after the walk ended is an error matching
// [ErrChainOrder].
//
// # Refusals
//
// Every "not trusted" outcome is a [*VerificationError] matching
// [ErrVerification] and naming one rule of the vocabulary ([Rules]):
// threshold, version, expired, rollback, weak-key, shared-key and the
// others. Malformed documents are [*FormatError]s matching [ErrMalformed].
// Neither is ever returned for an I/O failure, so a caller can tell an
// attack from a broken disk.
//
// # Keys
//
// A key is its own identifier: 64 lowercase hex characters of a raw
// Ed25519 public key ([ParsePublicKey]). Keys that a delegation names go
// through [CheckPublicKey], which refuses the identity, the other
// small-order points and non-canonical encodings, for which signatures can
// be forged; and one key may not hold two roles ([CheckDistinctRoles]).
//
// # Waivers
//
// [Options] carry the explicit waivers (expiry, shared keys, key_mgr
// rollback, either signature form). Each one used is reported in the
// chain's warnings; none is on by default.
package trust
