package attest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// PredicateType is the in-toto predicate type of a CEP 27 publish
// attestation.
const PredicateType = "https://schemas.conda.org/attestations-publish-1.schema.json"

// StatementType is the in-toto statement type CEP 27 attestations use.
const StatementType = "https://in-toto.io/Statement/v1"

// Policy says whose attestations are accepted. Issuer and exactly one of
// Identity and IdentityRegexp are required: an attestation by "anyone with
// a Sigstore certificate" proves nothing.
type Policy struct {
	// Identity is the signer's exact certificate subject alternative name,
	// for GitHub Actions the workflow's URL with its ref:
	// https://github.com/OWNER/REPO/.github/workflows/FILE.yml@refs/heads/main
	Identity string
	// IdentityRegexp is a Go regular expression (RE2) the whole subject
	// alternative name must match: it is anchored at both ends, so
	// "https://github.com/org/.*" does not match a name that merely
	// contains it.
	IdentityRegexp string
	// Issuer is the exact OIDC issuer in the certificate, for GitHub
	// Actions https://token.actions.githubusercontent.com.
	Issuer string
	// Channel, if set, is the channel the predicate's targetChannel must
	// name (compared without a trailing slash).
	Channel string
}

// compiledPolicy is a checked Policy.
type compiledPolicy struct {
	Policy
	re *regexp.Regexp
}

// ErrPolicy is matched by the errors of [Policy.Check]: a policy that
// cannot be used (no issuer, no identity, both identity forms, a bad
// regular expression).
var ErrPolicy = errors.New("invalid attestation policy")

// Check reports whether p can be used.
func (p Policy) Check() error {
	_, err := p.compile()
	return err
}

func (p Policy) compile() (*compiledPolicy, error) {
	switch {
	case p.Issuer == "":
		return nil, fmt.Errorf("%w: no OIDC issuer: name the issuer the signer's certificate must carry", ErrPolicy)
	case p.Identity == "" && p.IdentityRegexp == "":
		return nil, fmt.Errorf("%w: no signer identity: give the exact identity or a regular expression for it", ErrPolicy)
	case p.Identity != "" && p.IdentityRegexp != "":
		return nil, fmt.Errorf("%w: both an exact identity and an identity regular expression: give one", ErrPolicy)
	}
	c := &compiledPolicy{Policy: p}
	if p.IdentityRegexp != "" {
		re, err := regexp.Compile(`^(?:` + p.IdentityRegexp + `)$`)
		if err != nil {
			return nil, fmt.Errorf("%w: identity regular expression %q: %v", ErrPolicy, p.IdentityRegexp, err)
		}
		c.re = re
	}
	return c, nil
}

// identityOK reports whether san is an identity the policy accepts.
func (c *compiledPolicy) identityOK(san string) bool {
	if c.re != nil {
		return c.re.MatchString(san)
	}
	return san == c.Identity
}

// wantIdentity words the identity the policy wants.
func (c *compiledPolicy) wantIdentity() string {
	if c.re != nil {
		return fmt.Sprintf("one matching the regular expression %q in full", c.IdentityRegexp)
	}
	return fmt.Sprintf("%q", c.Identity)
}

func sameChannel(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}
