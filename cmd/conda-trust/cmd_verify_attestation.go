package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/condatrust/condatrust/attest"
	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/trust"
)

// attestOpts are the attestation policy flags shared by
// verify-attestation, fetch and verify-package. The decision is
// attest.Verifier's; this only reads flags and files.
type attestOpts struct {
	require        bool // fetch, verify-package: --require-attestation
	root           string
	identity       string
	identityRegexp string
	issuer         string
	channel        string
}

const attestDoc = "docs/attestations.md"

// addFlags adds the policy flags; withRequire adds --require-attestation.
func (a *attestOpts) addFlags(fs *pflag.FlagSet, withRequire bool) {
	if withRequire {
		fs.BoolVar(&a.require, "require-attestation", false, "also require a Sigstore attestation (CEP 27, FILENAME"+attest.SidecarSuffix+") by the identity the --attest-* flags name ("+attestDoc+")")
	}
	fs.StringVar(&a.root, "sigstore-root", "", "Sigstore trusted_root.json to verify attestations against (required; "+attestDoc+" says where to get the public-good one)")
	fs.StringVar(&a.identity, "attest-identity", "", "the signer's exact certificate identity (SAN), e.g. https://github.com/ORG/REPO/.github/workflows/FILE.yml@refs/heads/main")
	fs.StringVar(&a.identityRegexp, "attest-identity-regexp", "", "instead of --attest-identity: a Go regular expression the whole identity must match")
	fs.StringVar(&a.issuer, "attest-issuer", "", "the signer's exact OIDC issuer, e.g. https://token.actions.githubusercontent.com (required)")
	fs.StringVar(&a.channel, "attest-channel", "", "if set, the channel the attestation's targetChannel must name")
}

// given reports whether any policy flag was set.
func (a *attestOpts) given() bool {
	return a.root != "" || a.identity != "" || a.identityRegexp != "" || a.issuer != "" || a.channel != ""
}

// verifier builds the attestation verifier from the flags; nil when
// --require-attestation is off (policy flags without it are a usage
// error: a policy that is silently not applied is worse than none).
func (a *attestOpts) verifier(always bool) (*attest.Verifier, error) {
	if !always && !a.require {
		if a.given() {
			return nil, usageError("the --sigstore-root and --attest-* flags take effect only with --require-attestation: add it, or drop them")
		}
		return nil, nil
	}
	what := "--require-attestation"
	if always {
		what = "verify-attestation"
	}
	switch {
	case a.root == "":
		return nil, usageError("%s needs --sigstore-root FILE, a Sigstore trusted_root.json (%s says where to get the public-good one)", what, attestDoc)
	case a.issuer == "":
		return nil, usageError("%s needs --attest-issuer URL, the signer's OIDC issuer (GitHub Actions: https://token.actions.githubusercontent.com)", what)
	case a.identity == "" && a.identityRegexp == "":
		return nil, usageError("%s needs --attest-identity SAN (or --attest-identity-regexp RE): whose attestations are accepted", what)
	case a.identity != "" && a.identityRegexp != "":
		return nil, usageError("give --attest-identity or --attest-identity-regexp, not both")
	}
	if a.identityRegexp != "" {
		if _, err := regexp.Compile(a.identityRegexp); err != nil {
			return nil, usageError("--attest-identity-regexp %q: %v", a.identityRegexp, err)
		}
	}
	data, err := os.ReadFile(a.root)
	if err != nil {
		return nil, withHint(err, "--sigstore-root must name a Sigstore trusted_root.json (%s)", attestDoc)
	}
	v, err := attest.NewVerifier(data, attest.Policy{Identity: a.identity, IdentityRegexp: a.identityRegexp, Issuer: a.issuer, Channel: a.channel})
	if err != nil {
		if errors.Is(err, attest.ErrPolicy) {
			return nil, usageError("%v", err)
		}
		return nil, fmt.Errorf("%s: %w", a.root, err)
	}
	return v, nil
}

// attestHint adds what to do to an attestation refusal.
func attestHint(err error) error {
	var re *attest.RefusalError
	if !errors.As(err, &re) {
		return err
	}
	switch re.Check {
	case attest.CheckMissing:
		return withHint(err, "the publisher made no attestation for this file (or the sidecar is not next to it); do not use it under this policy")
	case attest.CheckSigstore:
		return withHint(err, "the bundle does not verify against --sigstore-root: forged or damaged, or the trusted root is outdated (%s says how to refresh it)", attestDoc)
	case attest.CheckIdentity, attest.CheckIssuer, attest.CheckChannel:
		return withHint(err, "the attestation is genuine but by someone (or for a channel) the policy does not name: check --attest-identity/--attest-identity-regexp, --attest-issuer and --attest-channel against the publisher's workflow")
	}
	return withHint(err, "the attestation is for another file or other bytes: do not use the package")
}

type verifyAttestationOpts struct {
	attestOpts
	name string
	json bool
}

func init() {
	register(func() *cobra.Command {
		o := &verifyAttestationOpts{}
		cmd := &cobra.Command{
			Use:   "verify-attestation PACKAGE|SHA256 SIGS --sigstore-root FILE --attest-issuer URL (--attest-identity SAN | --attest-identity-regexp RE) [--attest-channel URL] [--name FILENAME] [--json]",
			Short: "Check a package's Sigstore attestation (CEP 27) offline",
			Long: `Check that SIGS, a Sigstore attestation sidecar (prefix.dev serves it as
PACKAGE.v0.sigs next to the package; a JSON array of bundles) or one bare
bundle, attests PACKAGE, offline, against the Sigstore trusted root FILE:

  1. by sigstore-go: the bundle's transparency-log entry is by a log of the
     trusted root, signed (entry timestamp or inclusion proof) and for this
     very signature, certificate and payload; the log's time (or a
     timestamp authority's) is the signing time; the certificate chains to
     the root's Fulcio CA, was valid at that time and carries a CT log
     timestamp; the DSSE signature verifies with the certificate's key;
  2. by conda-trust: the in-toto statement is a CEP 27 publish attestation
     (predicate type https://schemas.conda.org/attestations-publish-1.schema.json);
     one subject is named exactly the package's file name, with its sha256;
     the certificate's OIDC issuer is --attest-issuer and its identity (SAN)
     is --attest-identity, or matches --attest-identity-regexp in full;
     with --attest-channel, the predicate's targetChannel is that channel.

PACKAGE is a .conda or .tar.bz2 file, hashed here; its name is its base
name. Or give its SHA256 (64 hex digits): the name is then --name, or, when
--name is not given, that of the statement's subject with this sha256
(printed, and checked to be a conda package file name).

One bundle passing every check is enough. Anything else is refused (exit
1) with rule "attestation" and the check that failed (` + attestDoc + `).

` + exitCodeHelp,
			Example: `  conda-trust verify-attestation actionlint-1.7.12-h60d57d3_0.conda actionlint-1.7.12-h60d57d3_0.conda.v0.sigs \
      --sigstore-root trusted_root.json --attest-issuer https://token.actions.githubusercontent.com \
      --attest-identity https://github.com/hunger/octoconda/.github/workflows/octoconda.yaml@refs/heads/main
  conda-trust verify-attestation e3e0f35dec5b09b18baac8729d14115903b5adfd25065f8bbb90a2b3be5401e4 pkg.v0.sigs \
      --sigstore-root trusted_root.json --attest-issuer https://token.actions.githubusercontent.com \
      --attest-identity-regexp 'https://github\.com/hunger/octoconda/.*' --attest-channel https://prefix.dev/github-releases --json`,
			Args: exactArgs(2, "PACKAGE (or its SHA256) and SIGS"),
			RunE: func(cmd *cobra.Command, args []string) error { return runVerifyAttestation(cmd, o, args[0], args[1]) },
		}
		fs := cmd.Flags()
		o.attestOpts.addFlags(fs, false)
		fs.StringVar(&o.name, "name", "", "with a SHA256 argument: the package file name the attestation must name")
		fs.BoolVar(&o.json, "json", false, "print the result as one JSON object, attested or not")
		return cmd
	})
}

// verifyAttestationJSON is verify-attestation's --json result
// (docs/json.md).
type verifyAttestationJSON struct {
	Attested      bool   `json:"attested"`
	Package       string `json:"package"`
	Sigs          string `json:"sigs"`
	Name          string `json:"name,omitempty"`
	SHA256        string `json:"sha256,omitempty"`
	Identity      string `json:"identity,omitempty"`
	Issuer        string `json:"issuer,omitempty"`
	Channel       string `json:"channel,omitempty"`
	PredicateType string `json:"predicate_type,omitempty"`
	SignedAt      string `json:"signed_at,omitempty"`
	TimeSource    string `json:"time_source,omitempty"`
	LogIndex      *int64 `json:"log_index,omitempty"`
	Bundle        *int   `json:"bundle,omitempty"`
	Rule          string `json:"rule,omitempty"`
	Check         string `json:"check,omitempty"`
	Error         string `json:"error,omitempty"`
}

var sha256Arg = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func runVerifyAttestation(cmd *cobra.Command, o *verifyAttestationOpts, pkg, sigs string) error {
	if !o.json {
		res, err := verifyAttestation(o, pkg, sigs)
		if err != nil {
			return err
		}
		printAttestation(cmd.OutOrStdout(), pkg, sigs, res)
		return nil
	}
	out := verifyAttestationJSON{Package: pkg, Sigs: sigs}
	res, err := verifyAttestation(o, pkg, sigs)
	var u *usageErr
	if errors.As(err, &u) {
		return err
	}
	if err != nil {
		out.Error = err.Error()
		var ve *trust.VerificationError
		if errors.As(err, &ve) {
			out.Rule = string(ve.Rule)
		}
		out.Check = attestCheckOf(err)
	} else {
		out.Attested = true
		out.Name, out.SHA256, out.Identity, out.Issuer, out.Channel = res.Name, res.SHA256, res.Identity, res.Issuer, res.Channel
		out.PredicateType, out.SignedAt, out.TimeSource = res.PredicateType, res.SignedAt.Format(time.RFC3339), res.TimeSource
		out.Bundle = &res.Bundle
		if res.LogIndex >= 0 {
			out.LogIndex = &res.LogIndex
		}
	}
	if jerr := printJSON(cmd.OutOrStdout(), out); jerr != nil {
		return jerr
	}
	if err != nil {
		return &silent{err}
	}
	return nil
}

func verifyAttestation(o *verifyAttestationOpts, pkg, sigs string) (*attest.Result, error) {
	v, err := o.verifier(true)
	if err != nil {
		return nil, err
	}
	sub := attest.Subject{Name: o.name}
	if _, statErr := os.Stat(pkg); statErr != nil && sha256Arg.MatchString(pkg) {
		sub.SHA256 = pkg
	} else {
		if o.name != "" {
			return nil, usageError("--name is only for a SHA256 argument: a PACKAGE file's name is its base name")
		}
		sum, err := hashFile(pkg)
		if err != nil {
			return nil, withHint(err, "PACKAGE is a .conda or .tar.bz2 file, or its SHA256 (64 hex digits)")
		}
		sub.Name, sub.SHA256 = filepath.Base(pkg), sum
	}
	data, err := readSidecar(sigs)
	if err != nil {
		return nil, err
	}
	res, err := v.Verify(data, sub)
	if err != nil {
		var re *attest.RefusalError
		if errors.As(err, &re) {
			return nil, attestHint(fmt.Errorf("%s is NOT attested by %s: %w", pkg, sigs, err))
		}
		return nil, fmt.Errorf("%s: %w", sigs, err)
	}
	return res, nil
}

// readSidecar reads a sidecar file (or s3:// object), at most
// attest.MaxSidecarSize bytes.
func readSidecar(path string) ([]byte, error) {
	f, err := openInput(context.Background(), path)
	if err != nil {
		return nil, withHint(err, "SIGS is the attestation sidecar (PACKAGE%s) or a Sigstore bundle", attest.SidecarSuffix)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, attest.MaxSidecarSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// printAttestation words a verified attestation.
func printAttestation(w io.Writer, pkg, sigs string, res *attest.Result) {
	fmt.Fprintf(w, "%s: ATTESTED by %s (bundle %d)\n", res.Name, sigs, res.Bundle)
	printAttestationFacts(w, "  ", res)
}

// printAttestationFacts prints what a verified attestation says, each
// line after prefix.
func printAttestationFacts(w io.Writer, prefix string, res *attest.Result) {
	fmt.Fprintf(w, "%spublished by %s\n", prefix, res.Identity)
	fmt.Fprintf(w, "%sOIDC issuer %s\n", prefix, res.Issuer)
	where := "timestamp authority"
	if res.TimeSource == "tlog" {
		where = fmt.Sprintf("transparency log entry %d", res.LogIndex)
	}
	fmt.Fprintf(w, "%ssigned at %s (%s)\n", prefix, res.SignedAt.Format(time.RFC3339), where)
	if res.Channel != "" {
		fmt.Fprintf(w, "%starget channel %s\n", prefix, res.Channel)
	}
	fmt.Fprintf(w, "%ssha256 %s\n", prefix, res.SHA256)
}

// checkAttestation decides on a sidecar the client fetched (fetch,
// verify-package): none at all is refused as missing.
func checkAttestation(v *attest.Verifier, a client.Attestation) (*attest.Result, error) {
	if a.Sidecar == nil {
		return nil, attest.Missing(a.File, a.URL)
	}
	res, err := v.Verify(a.Sidecar, attest.Subject{Name: a.File, SHA256: a.SHA256})
	if err != nil && !errors.As(err, new(*attest.RefusalError)) {
		return nil, fmt.Errorf("%s: %w", a.URL, err)
	}
	return res, err
}

// attestCheckOf returns the failed attestation check of err, or "".
func attestCheckOf(err error) string {
	var re *attest.RefusalError
	if errors.As(err, &re) {
		return string(re.Check)
	}
	return ""
}

// attestationJSON is the "attestation" object of fetch's and
// verify-package's --json results (docs/json.md).
type attestationJSON struct {
	Identity   string `json:"identity"`
	Issuer     string `json:"issuer"`
	Channel    string `json:"channel,omitempty"`
	SignedAt   string `json:"signed_at"`
	TimeSource string `json:"time_source"`
	LogIndex   *int64 `json:"log_index,omitempty"`
	Bundle     int    `json:"bundle"`
}

func attestationJSONOf(r *attest.Result) *attestationJSON {
	j := &attestationJSON{Identity: r.Identity, Issuer: r.Issuer, Channel: r.Channel,
		SignedAt: r.SignedAt.Format(time.RFC3339), TimeSource: r.TimeSource, Bundle: r.Bundle}
	if r.LogIndex >= 0 {
		j.LogIndex = &r.LogIndex
	}
	return j
}

// proxyAttestation builds a proxy channel's attestation decision from its
// require_attestation, sigstore_root and attest_* keys.
func proxyAttestation(c proxyChannel) (func(client.Attestation) error, error) {
	a := c.attestOpts()
	v, err := a.verifier(false)
	if err != nil {
		var u *usageErr
		if errors.As(err, &u) {
			return nil, usageError("channel %s: %v (in the file: require_attestation, sigstore_root, attest_issuer, attest_identity or attest_identity_regexp, attest_channel)", c.Name, err)
		}
		return nil, fmt.Errorf("channel %s: %w", c.Name, err)
	}
	return func(att client.Attestation) error {
		_, err := checkAttestation(v, att)
		return err
	}, nil
}
