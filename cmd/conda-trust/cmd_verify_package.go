package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/attest"
	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/trust"
)

type verifyPackageOpts struct {
	keyMgrOpts
	repodata string
	quiet    bool
	json     bool
	attest   attestOpts
	sigs     string
}

func init() {
	register(func() *cobra.Command {
		o := &verifyPackageOpts{}
		cmd := &cobra.Command{
			Use:   "verify-package FILE --repodata REPODATA --key-mgr KEY_MGR [--root ROOT] [--at TIME] [--allow-expired] [--quiet | --json]",
			Short: "Check a package file against its signed record in repodata.json",
			Long: `Check a downloaded package FILE (.conda or .tar.bz2) before installing it:

  1. find its record in REPODATA by file name ("packages.conda" for .conda,
     "packages" for .tar.bz2);
  2. the record must be trusted: signed by a threshold of KEY_MGR's pkg_mgr
     keys (KEY_MGR itself verified against --root when given);
  3. the file's size, SHA-256 and, when the record has one, MD5 must equal
     the signed record's.

Anything else is refused (exit 1) with the reason: not listed, unsigned,
untrusted, or size / sha256 / md5 mismatch. The file is read once, streamed.

FILE, REPODATA, KEY_MGR and ROOT may be files or objects in a bucket,
s3://BUCKET/KEY (credentials and endpoint from the AWS environment
variables and ~/.aws; docs/s3.md).

With --require-attestation, FILE must also carry a Sigstore attestation
(CEP 27) in --attestation SIGS (default FILE.v0.sigs): for FILE's name and
sha256, by the identity --attest-identity (or --attest-identity-regexp) with
the OIDC issuer --attest-issuer (and for --attest-channel, if given),
verified offline against --sigstore-root (as verify-attestation does).
Missing or not matching, the package is refused with rule attestation.

` + exitCodeHelp,
			Example: `  conda-trust verify-package numpy-2.1.0-py312h1234_0.conda --repodata linux-64/repodata.json --key-mgr key_mgr.json --root 1.root.json
  conda-trust verify-package s3://conda/main/noarch/tzdata-2024a-0.conda --repodata s3://conda/main/noarch/repodata.json --key-mgr s3://conda/main/key_mgr.json --root 1.root.json
  conda-trust verify-package tool-1.0-h0_0.conda --repodata linux-64/repodata.json --key-mgr key_mgr.json \
      --require-attestation --sigstore-root trusted_root.json --attest-issuer https://token.actions.githubusercontent.com \
      --attest-identity-regexp 'https://github\.com/example/tool/\.github/workflows/.*'`,
			Args: exactArgs(1, "the package FILE"),
			RunE: func(cmd *cobra.Command, args []string) error { return runVerifyPackage(cmd, o, args[0]) },
		}
		o.keyMgrOpts.addFlags(cmd)
		fs := cmd.Flags()
		fs.StringVar(&o.repodata, "repodata", "", "the signed repodata.json of the package's subdir (required)")
		fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
		fs.BoolVar(&o.json, "json", false, "print the result as one JSON object, trusted or not")
		o.attest.addFlags(fs, true)
		fs.StringVar(&o.sigs, "attestation", "", "with --require-attestation: the attestation sidecar (default FILE"+attest.SidecarSuffix+")")
		return cmd
	})
}

// verifyPackageJSON is verify-package's --json result (docs/json.md).
type verifyPackageJSON struct {
	File     string   `json:"file"`
	Trusted  bool     `json:"trusted"`
	Repodata string   `json:"repodata"`
	Section  string   `json:"section,omitempty"`
	Size     int64    `json:"size,omitempty"`
	SHA256   string   `json:"sha256,omitempty"`
	MD5      string   `json:"md5,omitempty"`
	Signers  []string `json:"signers"`
	Reason   string   `json:"reason,omitempty"`
	// Attestation is set when --require-attestation accepted one.
	Attestation *attestationJSON `json:"attestation,omitempty"`
	Rule        string           `json:"rule,omitempty"`
	Check       string           `json:"check,omitempty"`
	Error       string           `json:"error,omitempty"`
}

func runVerifyPackage(cmd *cobra.Command, o *verifyPackageOpts, path string) error {
	if o.repodata == "" {
		return usageError("--repodata is required: give the signed repodata.json of the package's subdir")
	}
	if o.sigs != "" && !o.attest.require {
		return usageError("--attestation takes effect only with --require-attestation")
	}
	if !o.json {
		return verifyPackage(cmd, o, path, nil)
	}
	out := verifyPackageJSON{File: path, Repodata: o.repodata, Signers: []string{}}
	err := verifyPackage(cmd, o, path, &out)
	var u *usageErr
	if errors.As(err, &u) {
		return err
	}
	out.Trusted = err == nil
	if err != nil {
		out.Error = err.Error()
		var ve *trust.VerificationError
		if errors.As(err, &ve) {
			out.Rule = string(ve.Rule)
		}
		out.Check = attestCheckOf(err)
	}
	if jerr := printJSON(cmd.OutOrStdout(), out); jerr != nil {
		return jerr
	}
	if err != nil {
		return &silent{err}
	}
	return nil
}

// verifyPackage runs verify-package; with out set it fills out instead of
// printing the result.
func verifyPackage(cmd *cobra.Command, o *verifyPackageOpts, path string, out *verifyPackageJSON) error {
	quiet := o.quiet || out != nil
	av, err := o.attest.verifier(false)
	if err != nil {
		return err
	}
	v, err := o.trustedVerifier(cmd, quiet)
	if err != nil {
		return err
	}
	fh, err := openInput(context.Background(), path)
	if err != nil {
		return withHint(err, "FILE is the downloaded package (.conda or .tar.bz2), a file or an s3:// URL")
	}
	defer fh.Close()
	f, err := openRepodata(o.repodata)
	if err != nil {
		return withHint(err, "--repodata must be a repodata.json (strict JSON), a file or an s3:// URL")
	}
	defer f.Close()
	name := inputBase(path)
	res, err := v.VerifyPackage(f, o.subdir, name, fh)
	if err != nil {
		var ve *trust.VerificationError
		if errors.As(err, &ve) {
			err = fmt.Errorf("%s is NOT trusted: %w", path, err)
			switch ve.Rule {
			case trust.RuleArtifactHash:
				return withHint(err, "the file is not the one the channel signed: download it again, and do not install it")
			case trust.RuleNotListed:
				return withHint(err, "check that --repodata is the repodata.json of the package's subdir and that the file name is unchanged")
			}
			return err
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	var attested *attest.Result
	if av != nil {
		a := client.Attestation{File: name, SHA256: res.SHA256, URL: attestedFrom(o.sigs, path)}
		if a.Sidecar, err = readSidecar(a.URL); errors.Is(err, fs.ErrNotExist) {
			a.Sidecar, err = nil, nil
		}
		if err != nil {
			return err
		}
		if attested, err = checkAttestation(av, a); err != nil {
			if errors.As(err, new(*attest.RefusalError)) {
				return attestHint(fmt.Errorf("%s is NOT trusted: %w", path, err))
			}
			return err
		}
	}
	if out != nil {
		if attested != nil {
			out.Attestation = attestationJSONOf(attested)
		}
		out.Section, out.Size, out.SHA256, out.MD5, out.Reason = string(res.Record.Section), res.Size, res.SHA256, res.MD5, res.Record.Reason
		for _, k := range res.Record.Valid {
			out.Signers = append(out.Signers, k.String())
		}
		return nil
	}
	if !o.quiet {
		md5 := ""
		if res.MD5 != "" {
			md5 = ", md5"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: trusted: record in %s %s (%s); size %d, sha256%s match\n",
			path, o.repodata, res.Record.Section, res.Record.Reason, res.Size, md5)
		if attested != nil {
			fmt.Fprintf(cmd.OutOrStdout(), "  attested (bundle %d of %s)\n", attested.Bundle, attestedFrom(o.sigs, path))
			printAttestationFacts(cmd.OutOrStdout(), "    ", attested)
		}
	}
	return nil
}

// attestedFrom names the sidecar verify-package reads: --attestation, or
// FILE.v0.sigs.
func attestedFrom(sigs, path string) string {
	if sigs == "" {
		return path + attest.SidecarSuffix
	}
	return sigs
}
