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
