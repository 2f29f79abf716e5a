package trust

import (
	"fmt"
	"slices"
	"strings"
)

// RoleKeys names the keys that hold one role, for [CheckDistinctRoles].
type RoleKeys struct {
	Role string // e.g. "root", "key_mgr", "pkg_mgr"
	Keys []PublicKey
}

// CheckDistinctRoles refuses a set of delegations in which one key holds
// two roles. Content trust separates roles so that a key that signs often
// and stays online (pkg_mgr, on a build machine) cannot sign for a role
// that is kept offline: if a pkg_mgr key were also a key_mgr key, a record
// signed for one uploaded package would be as good as a signed key_mgr.
// The error is a *VerificationError with rule [RuleSharedKey] naming the
// key and both roles.
func CheckDistinctRoles(roles ...RoleKeys) error {
	sorted := slices.Clone(roles)
	slices.SortStableFunc(sorted, func(a, b RoleKeys) int { return strings.Compare(a.Role, b.Role) })
	for i, a := range sorted {
		for _, b := range sorted[i+1:] {
			if a.Role == b.Role {
				continue
			}
			for _, k := range a.Keys {
				if slices.Contains(b.Keys, k) {
					return &VerificationError{Role: a.Role + "/" + b.Role, Rule: RuleSharedKey, Key: k.String(),
						Detail: fmt.Sprintf("key %s holds two roles, %s and %s: a signature made for one would count for the other; give each role its own keys", k.Short(), a.Role, b.Role)}
				}
			}
		}
	}
	return nil
}

// CheckPkgMgrKey decides whether k may sign the package records of a
// channel whose newest root and key_mgr are given (nil when the channel
// has none): it must hold neither the root nor the key_mgr role of root
// (rule [RuleSharedKey]), and key_mgr must delegate pkg_mgr to it (rule
// [RuleDelegation]), since clients count no other key's signatures.
func CheckPkgMgrKey(root, keyMgr *Metadata, k PublicKey) error {
	if root != nil {
		for _, role := range []string{RoleRoot, RoleKeyMgr} {
			if err := CheckDistinctRoles(RoleKeys{Role: role, Keys: root.Delegations[role].Keys},
				RoleKeys{Role: RolePkgMgr, Keys: []PublicKey{k}}); err != nil {
				return err
			}
		}
	}
	if keyMgr != nil && !keyMgr.Delegations[RolePkgMgr].Has(k) {
		return &VerificationError{Role: RolePkgMgr, Rule: RuleDelegation, Key: k.String(),
			Detail: "key_mgr.json does not delegate pkg_mgr to this key: clients would not trust its signatures"}
	}
	return nil
}
