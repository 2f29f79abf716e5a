package attest_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/condatrust/condatrust/attest"
	"github.com/condatrust/condatrust/trust"
)

// Verify a package's sidecar against the public-good trusted root and a
// GitHub Actions workflow identity.
func ExampleVerifier_Verify() {
	trustedRoot, err := os.ReadFile("trusted_root.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := attest.NewVerifier(trustedRoot, attest.Policy{
		Identity: "https://github.com/hunger/octoconda/.github/workflows/octoconda.yaml@refs/heads/main",
		Issuer:   "https://token.actions.githubusercontent.com",
		Channel:  "https://prefix.dev/github-releases",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	sidecar, err := os.ReadFile("actionlint-1.7.12-h60d57d3_0.conda" + attest.SidecarSuffix)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := v.Verify(sidecar, attest.Subject{
		Name:   "actionlint-1.7.12-h60d57d3_0.conda",
		SHA256: "e3e0f35dec5b09b18baac8729d14115903b5adfd25065f8bbb90a2b3be5401e4",
	})
	var refusal *attest.RefusalError
	switch {
	case errors.As(err, &refusal):
		fmt.Println("refused by check", refusal.Check, "-", refusal.Reason)
	case err != nil:
		fmt.Println(err) // a malformed sidecar (trust.ErrMalformed)
	default:
		fmt.Println("published by", res.Identity, "at", res.SignedAt)
	}
}

// A policy must name an issuer and one form of identity.
func ExamplePolicy_Check() {
	err := attest.Policy{Identity: "https://github.com/org/repo/.github/workflows/build.yml@refs/heads/main"}.Check()
	fmt.Println(errors.Is(err, attest.ErrPolicy))
	fmt.Println(err)

	_, err = attest.ParseSidecar([]byte("not json"))
	fmt.Println(errors.Is(err, trust.ErrMalformed))
	// Output:
	// true
	// invalid attestation policy: no OIDC issuer: name the issuer the signer's certificate must carry
	// true
}
