package trust

import (
	"errors"
	"fmt"
)

// ErrVerification is matched (with errors.Is) by every error that means
// "this metadata or record is not trusted": a threshold not met, a version
// rule broken, expired metadata. It is never returned for I/O problems or
// malformed input, so callers can tell an attack or misconfiguration from a
// broken disk or network.
var ErrVerification = errors.New("verification failed")

// ErrMalformed is matched by every error about input that is not a
// well-formed content-trust document.
var ErrMalformed = errors.New("malformed metadata")

// Rule names a verification rule. Each [VerificationError] names the rule
// it enforces, so that tests, logs and users can tell failures apart.
type Rule string

// The rules of content-trust verification; [Rules] lists every rule with
// its meaning.
const (
	RuleThreshold    Rule = "threshold"     // not enough valid signatures from authorized keys
	RuleVersion      Rule = "version"       // root version not exactly trusted+1
	RuleType         Rule = "type"          // wrong "type" for the role
	RuleExpired      Rule = "expired"       // expiration at or before the reference time
	RuleRollback     Rule = "rollback"      // a lower version than one already trusted
	RuleSpecVersion  Rule = "spec-version"  // key_mgr spec version differs from root's
	RuleDelegation   Rule = "delegation"    // the trusting document lacks the delegation
	RuleUnsigned     Rule = "unsigned"      // a record has no signatures at all
	RuleArtifactHash Rule = "artifact-hash" // an artifact's bytes do not match its record
)

// VerificationError reports why a document or record is not trusted. It
// matches [ErrVerification] with errors.Is.
type VerificationError struct {
	Role   string // "root", "key_mgr", "pkg_mgr", or a package file name
	Rule   Rule
	Key    string // the key concerned, when one is
	Detail string // what exactly failed, in words
}

func (e *VerificationError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Role, e.Detail)
	if e.Key != "" {
		msg += " (key " + e.Key + ")"
	}
	return msg
}

// Unwrap makes the error match [ErrVerification].
func (e *VerificationError) Unwrap() error { return ErrVerification }

// FormatError reports a document that is not well formed: a missing or
// mistyped field, a bad key encoding, an unsupported spec version. It
// matches [ErrMalformed] with errors.Is.
type FormatError struct {
	Role   string // the role, when known
	Field  string // a JSON path such as "signed.delegations.root.threshold"
	Reason string
}

func (e *FormatError) Error() string {
	role := e.Role
	if role == "" {
		role = "metadata"
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", role, e.Reason)
	}
	return fmt.Sprintf("%s: field %s: %s", role, e.Field, e.Reason)
}

// Unwrap makes the error match [ErrMalformed].
func (e *FormatError) Unwrap() error { return ErrMalformed }
