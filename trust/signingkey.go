package trust

import (
	"fmt"
	"slices"
)

// SigningKey is what [CheckSigningKey] found about a key that is about to
// sign a metadata document.
type SigningKey struct {
	// CountsFor names, in words, the thresholds a signature by the key
	// counts toward, for example "root v2's own root keys" and "the root
	// keys of the previous root v1". Empty when Unchecked.
	CountsFor []string
	// Unchecked is set when deciding needed the delegating document
	// (the root of a key_mgr, the key_mgr of a pkg_mgr) and none was
	// given: only the rules that the document itself decides were checked.
	Unchecked bool
}

// CheckSigningKey decides whether a signature by k on m can count toward
// a threshold that a verifier checks for m (content-trust.md §5, §9, §10,
// §16). authority is the document that delegates m's signing role, or nil
// when it is not known:
//
//   - root version 1 is verified against its own root keys only: k must be
//     one of them, and authority must be nil;
//   - root version N > 1 must be signed by a threshold of its own root keys
//     and by a threshold of the previous root's (version N-1, the
//     authority): k must be a root key of either. Without the previous root,
//     only m's own root keys can be checked and any other key is refused;
//   - key_mgr is verified against the root's key_mgr keys (authority: the
//     root). k must be one of them. It may never be a pkg_mgr key that m
//     delegates to (rule [RuleSharedKey]), with or without the root;
//   - pkg_mgr metadata is verified against key_mgr's pkg_mgr keys
//     (authority: key_mgr).
//
// A key that cannot count is refused with a *VerificationError of rule
// [RuleDelegation] (or [RuleSharedKey]) naming it. An authority of the
// wrong type or version is a plain error: it is not the document that
// decides. Signing with a key that does not count is not harmful in
// itself, but it leaves the document short of its threshold while its
// signer believes it done.
func CheckSigningKey(m *Metadata, k PublicKey, authority *Metadata) (SigningKey, error) {
	var res SigningKey
	refuse := func(rule Rule, format string, args ...any) (SigningKey, error) {
		return SigningKey{}, &VerificationError{Role: m.Type, Rule: rule, Key: k.String(), Detail: fmt.Sprintf(format, args...)}
	}
	switch m.Type {
	case RoleRoot:
		if authority != nil && (authority.Type != RoleRoot || authority.Version != m.Version-1) {
			return SigningKey{}, fmt.Errorf("%s is not the previous root of %s: a root is signed by its own root keys and by those of the root one version before it", authority.Name(), m.Name())
		}
		if m.Delegations[RoleRoot].Has(k) {
			res.CountsFor = append(res.CountsFor, fmt.Sprintf("%s's own root keys", m.Name()))
		}
		if authority != nil && authority.Delegations[RoleRoot].Has(k) {
			res.CountsFor = append(res.CountsFor, fmt.Sprintf("the root keys of the previous %s", authority.Name()))
		}
		switch {
		case len(res.CountsFor) > 0:
			return res, nil
		case m.Version == 1:
			return refuse(RuleDelegation, "not one of %s's root keys: a first root counts only signatures by its own root keys", m.Name())
		case authority == nil:
			return refuse(RuleDelegation, "not one of %s's root keys; a key of the previous root v%d would count toward that root's threshold, but the previous root was not given", m.Name(), m.Version-1)
		default:
			return refuse(RuleDelegation, "neither one of %s's root keys nor one of the previous %s's: its signature counts toward no threshold", m.Name(), authority.Name())
		}
	case RoleKeyMgr:
		if slices.Contains(m.Delegations[RolePkgMgr].Keys, k) {
			return refuse(RuleSharedKey, "%s delegates pkg_mgr to this key: a pkg_mgr key is online and must not sign the key_mgr that delegates to it; give each role its own keys", m.Name())
		}
		return checkDelegated(m, k, authority, RoleRoot, RoleKeyMgr)
	case RolePkgMgr:
		return checkDelegated(m, k, authority, RoleKeyMgr, RolePkgMgr)
	}
	return SigningKey{}, fmt.Errorf("%s: no signing rule for metadata of type %q", m.Name(), m.Type)
}

// checkDelegated checks that authority (of type parent, or nil) delegates
// role to k.
func checkDelegated(m *Metadata, k PublicKey, authority *Metadata, parent, role string) (SigningKey, error) {
	if authority == nil {
		return SigningKey{Unchecked: true}, nil
	}
	if authority.Type != parent {
		return SigningKey{}, fmt.Errorf("%s is not %s metadata: %s is signed by the %s keys that %s delegates", authority.Name(), parent, m.Name(), role, parent)
	}
	if !authority.Delegations[role].Has(k) {
		return SigningKey{}, &VerificationError{Role: m.Type, Rule: RuleDelegation, Key: k.String(),
			Detail: fmt.Sprintf("%s does not delegate %s to this key: its signature on %s counts toward no threshold", authority.Name(), role, m.Name())}
	}
	return SigningKey{CountsFor: []string{fmt.Sprintf("the %s keys of %s", role, authority.Name())}}, nil
}
