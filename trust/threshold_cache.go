package trust

import (
	"fmt"

	"github.com/condatrust/condatrust/canonjson"
)

// SignatureMemo remembers raw Ed25519 signatures that verified, so that a
// threshold check over the same bytes need not verify them again (a proxy
// re-verifying a channel's repodata every few minutes, where almost every
// record is unchanged). Implementations must be safe for concurrent use.
//
// A memo is trusted with one thing only: that ed25519.Verify(k, data, sig)
// returned true before. [CheckSignatures] asks it only about an entry that
// every other rule already admitted (a key of the delegation, a well-formed
// entry of a form the mode counts, verified as a raw signature over data),
// so a memo that lies can at worst make a signature that does not verify
// count for a key the delegation authorizes; it can never make an
// unauthorized key, a second entry by the same key or a malformed entry
// count. That is still a forgery: a memo kept where others can write it (a
// file on disk) must be authenticated by its owner, for example with an
// HMAC under a key that never leaves the process's configuration.
type SignatureMemo interface {
	// Verified reports whether sig by k over data verified before.
	Verified(data []byte, k PublicKey, sig []byte) bool
	// AddVerified records that sig by k over data verified.
	AddVerified(data []byte, k PublicKey, sig []byte)
}

// SignatureEntries returns the entries of a "signatures" object, sorted by
// key identifier, as [Envelope.Signatures] returns those of an envelope:
// entries of an unknown shape are [FormMalformed] and never count. A value
// that is not an object is a *FormatError.
func SignatureEntries(sigs canonjson.Value) ([]Signature, error) {
	if sigs.Kind() != canonjson.Object {
		return nil, &FormatError{Field: "signatures", Reason: fmt.Sprintf("must be an object, found %s", sigs.Kind())}
	}
	ms := sigs.Members()
	out := make([]Signature, len(ms))
	for i, m := range ms {
		out[i] = parseEntry(string(m.Key), m.Value)
	}
	return out, nil
}

// CheckSignatures is [CheckThreshold] for signed bytes and signature
// entries held apart rather than in an [Envelope]: it counts the distinct
// keys of d whose entry in sigs validly signs data (data is what
// [Envelope.SignedBytes] would return, the canonical bytes of the signed
// value). The rules, their order and the result are those of
// CheckThreshold, which is CheckSignatures with no memo.
//
// With a memo, an entry that passed every other rule and would be verified
// as a raw Ed25519 signature over data is first looked up in it; if the
// memo says it verified, ed25519.Verify is skipped, and an entry that
// verifies is added to it. OpenPGP-style entries (verified over a digest
// of data and their own headers) never use the memo. See [SignatureMemo]
// for what a memo is trusted with.
func CheckSignatures(data []byte, sigs []Signature, d Delegation, mode Mode, memo SignatureMemo) ThresholdResult {
	r := ThresholdResult{Mode: mode, Threshold: d.Threshold, Authorized: d.Keys}
	for _, s := range sigs {
		k, err := ParsePublicKey(s.KeyID)
		switch {
		case err != nil:
			r.Ignored = append(r.Ignored, Ignored{s.KeyID, "key is not 64 lowercase hex characters"})
		case !d.Has(k):
			r.Ignored = append(r.Ignored, Ignored{s.KeyID, "key is not authorized for this role"})
		case s.Form == FormMalformed:
			r.Ignored = append(r.Ignored, Ignored{s.KeyID, "malformed entry: " + s.Problem})
		case mode == ModeOpenPGP && s.Form != FormOpenPGP:
			r.Ignored = append(r.Ignored, Ignored{s.KeyID, "a raw signature does not count for this role (OpenPGP-style required)"})
		case !verifyEntryMemo(k, data, s, mode, memo):
			r.Ignored = append(r.Ignored, Ignored{s.KeyID, fmt.Sprintf("%s signature does not verify", s.Form)})
		default:
			r.Valid = append(r.Valid, k)
		}
	}
	return r
}

// verifyEntryMemo is verifyEntry, consulting memo for a raw verification.
func verifyEntryMemo(k PublicKey, data []byte, s Signature, mode Mode, memo SignatureMemo) bool {
	raw := !(s.Form == FormOpenPGP && mode != ModeRaw) // what verifyEntry does
	if memo == nil || !raw {
		return verifyEntry(k, data, s, mode)
	}
	if memo.Verified(data, k, s.Sig) {
		return true
	}
	if !verifyEntry(k, data, s, mode) {
		return false
	}
	memo.AddVerified(data, k, s.Sig)
	return true
}
