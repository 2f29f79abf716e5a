package trust

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
)

func testPub(label string) PublicKey {
	seed := sha256.Sum256([]byte(label))
	var k PublicKey
	copy(k[:], ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))
	return k
}

func TestCheckPkgMgrKey(t *testing.T) {
	rootK, kmK, pkgK, other := testPub("root"), testPub("km"), testPub("pkg"), testPub("other")
	root := &Metadata{Type: RoleRoot, Delegations: map[string]Delegation{
		RoleRoot: {Keys: []PublicKey{rootK}, Threshold: 1}, RoleKeyMgr: {Keys: []PublicKey{kmK}, Threshold: 1}}}
	km := &Metadata{Type: RoleKeyMgr, Delegations: map[string]Delegation{RolePkgMgr: {Keys: []PublicKey{pkgK}, Threshold: 1}}}
	for _, tc := range []struct {
		name     string
		root, km *Metadata
		k        PublicKey
		rule     Rule
	}{
		{"delegated pkg_mgr key", root, km, pkgK, ""},
		{"a root key", root, km, rootK, RuleSharedKey},
		{"a key_mgr key", root, km, kmK, RuleSharedKey},
		{"not delegated", root, km, other, RuleDelegation},
		{"no metadata: nothing to check", nil, nil, other, ""},
	} {
		err := CheckPkgMgrKey(tc.root, tc.km, tc.k)
		var ve *VerificationError
		if tc.rule == "" && err != nil || tc.rule != "" && (!errors.As(err, &ve) || ve.Rule != tc.rule) {
			t.Errorf("%s: %v, want rule %q", tc.name, err, tc.rule)
		}
	}
}
