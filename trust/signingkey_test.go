package trust

import (
	"errors"
	"testing"
)

func TestCheckSigningKey(t *testing.T) {
	r1, r2, r3, kmK, pkgK, stranger := testPub("r1"), testPub("r2"), testPub("r3"), testPub("km"), testPub("pkg"), testPub("stranger")
	root := func(v int64, keys ...PublicKey) *Metadata {
		return &Metadata{Type: RoleRoot, Version: v, Delegations: map[string]Delegation{
			RoleRoot: {Keys: keys, Threshold: 1}, RoleKeyMgr: {Keys: []PublicKey{kmK}, Threshold: 1}}}
	}
	v1, v2, v3 := root(1, r1, r2), root(2, r2, r3), root(3, r3)
	km := &Metadata{Type: RoleKeyMgr, Version: 1, Delegations: map[string]Delegation{RolePkgMgr: {Keys: []PublicKey{pkgK}, Threshold: 1}}}
	pm := &Metadata{Type: RolePkgMgr, Version: 1, Delegations: map[string]Delegation{}}
	for _, tc := range []struct {
		name      string
		m, auth   *Metadata
		k         PublicKey
		rule      Rule // "" for no refusal
		plainErr  bool // an error that is not a refusal
		counts    int
		unchecked bool
	}{
		{"root v1: own root key", v1, nil, r1, "", false, 1, false},
		{"root v1: key_mgr key", v1, nil, kmK, RuleDelegation, false, 0, false},
		{"root v1: a stranger", v1, nil, stranger, RuleDelegation, false, 0, false},
		{"root v1 has no previous root", v1, v1, r1, "", true, 0, false},
		{"root v2: own key only", v2, v1, r3, "", false, 1, false},
		{"root v2: key of both", v2, v1, r2, "", false, 2, false},
		{"root v2: previous root's key", v2, v1, r1, "", false, 1, false},
		{"root v2: previous root's key, previous unknown", v2, nil, r1, RuleDelegation, false, 0, false},
		{"root v2: own key, previous unknown", v2, nil, r3, "", false, 1, false},
		{"root v2: a stranger", v2, v1, stranger, RuleDelegation, false, 0, false},
		{"root v3 with v1 as previous", v3, v1, r1, "", true, 0, false},
		{"root v2 with key_mgr as previous", v2, km, r1, "", true, 0, false},
		{"key_mgr: the root's key_mgr key", km, v1, kmK, "", false, 1, false},
		{"key_mgr: a root key", km, v1, r1, RuleDelegation, false, 0, false},
		{"key_mgr: its own pkg_mgr key", km, v1, pkgK, RuleSharedKey, false, 0, false},
		{"key_mgr: its own pkg_mgr key, no root", km, nil, pkgK, RuleSharedKey, false, 0, false},
		{"key_mgr: no root to check with", km, nil, stranger, "", false, 0, true},
		{"key_mgr: authority not a root", km, km, kmK, "", true, 0, false},
		{"pkg_mgr: delegated key", pm, km, pkgK, "", false, 1, false},
		{"pkg_mgr: key_mgr key", pm, km, kmK, RuleDelegation, false, 0, false},
		{"pkg_mgr: no key_mgr", pm, nil, pkgK, "", false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckSigningKey(tc.m, tc.k, tc.auth)
			var ve *VerificationError
			switch {
			case tc.rule != "":
				if !errors.As(err, &ve) || ve.Rule != tc.rule || ve.Key != tc.k.String() {
					t.Fatalf("got %v, want a refusal by rule %s", err, tc.rule)
				}
			case tc.plainErr:
				if err == nil || errors.Is(err, ErrVerification) {
					t.Fatalf("got %v, want a plain error", err)
				}
			case err != nil:
				t.Fatalf("refused: %v", err)
			case len(got.CountsFor) != tc.counts || got.Unchecked != tc.unchecked:
				t.Fatalf("got %+v, want %d thresholds, unchecked %v", got, tc.counts, tc.unchecked)
			}
		})
	}
}
