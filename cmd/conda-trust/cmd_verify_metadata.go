package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/trust"
)

type verifyMetadataOpts struct {
	at           string
	allowExpired bool
	anyForm      bool
	json         bool
}

func init() {
	register(func() *cobra.Command {
		o := &verifyMetadataOpts{}
		cmd := &cobra.Command{
			Use:   "verify-metadata TRUSTED UNTRUSTED [--at TIME] [--allow-expired] [--json]",
			Short: "Verify a root update (root -> next root) or a delegation (root -> key_mgr, key_mgr -> pkg_mgr)",
			Long: `Verify UNTRUSTED against TRUSTED:

  root    -> root     a chain step: version exactly TRUSTED+1, signed by a
                      threshold of TRUSTED's root keys AND of its own root keys
                      (OpenPGP-style), and not expired
  root    -> key_mgr  signed by a threshold of the root's key_mgr keys (raw);
                      neither document expired
  key_mgr -> pkg_mgr  the pkg_mgr.json libmamba uses, against key_mgr

TRUSTED, when a root, must itself be signed by a threshold of its own root
keys. Expiry is checked against --at (default now); --allow-expired waives it
and says so on stderr.

` + exitCodeHelp,
			Example: `  conda-trust verify-metadata 1.root.json 2.root.json
  conda-trust verify-metadata 2.root.json key_mgr.json --json
  conda-trust verify-metadata anaconda_1.root.json anaconda_1.root.json --at 2022-01-01T00:00:00Z`,
			Args: exactArgs(2, "TRUSTED and UNTRUSTED"),
			RunE: func(cmd *cobra.Command, args []string) error { return runVerifyMetadata(cmd, o, args[0], args[1]) },
		}
		addPolicyFlags(cmd.Flags(), &o.at, &o.allowExpired)
		cmd.Flags().BoolVar(&o.anyForm, "any-signature-form", false, "count raw and OpenPGP-style signatures for every role, as libmamba does (not accepted by conda)")
		cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
		return cmd
	})
}

type checkJSON struct {
	Against   string   `json:"against"`
	Mode      string   `json:"mode"`
	Threshold int      `json:"threshold"`
	Valid     []string `json:"valid_keys"`
	Ignored   []string `json:"ignored,omitempty"`
	Met       bool     `json:"met"`
}

type verifyJSON struct {
	Trusted  bool        `json:"trusted"`
	Subject  string      `json:"subject,omitempty"`
	Expires  string      `json:"expires,omitempty"`
	Checks   []checkJSON `json:"checks"`
	Warnings []string    `json:"warnings"`
	Rule     string      `json:"rule,omitempty"`
	Error    string      `json:"error,omitempty"`
}

// metadataPairs are the (trusted, untrusted) document types verify-metadata
// takes: a root update, root -> key_mgr, key_mgr -> pkg_mgr.
var metadataPairs = map[[2]string]struct{}{
	{trust.RoleRoot, trust.RoleRoot}:     {},
	{trust.RoleRoot, trust.RoleKeyMgr}:   {},
	{trust.RoleKeyMgr, trust.RolePkgMgr}: {},
}

func runVerifyMetadata(cmd *cobra.Command, o *verifyMetadataOpts, trustedPath, untrustedPath string) error {
	at, err := parseAt(o.at)
	if err != nil {
		return err
	}
	opts := trust.Options{At: at, AllowExpired: o.allowExpired, AnyForm: o.anyForm}
	trusted, err := loadMetadata(trustedPath, "")
	if err != nil {
		return err
	}
	cand, err := loadMetadata(untrustedPath, "")
	if err != nil {
		var ve *trust.VerificationError
		if !errors.As(err, &ve) {
			return err
		}
	}
	if err == nil {
		// Which file may vouch for which is a question about the
		// arguments: a pair in another order is a wrong input (exit 3),
		// not a refusal.
		if _, ok := metadataPairs[[2]string{trusted.Type, cand.Type}]; !ok {
			return withHint(fmt.Errorf("%s (%s) cannot vouch for %s (%s)", trustedPath, trusted.Name(), untrustedPath, cand.Name()),
				"give TRUSTED then UNTRUSTED: a root then the next root, a root then its key_mgr.json, or key_mgr.json then pkg_mgr metadata")
		}
	}
	var rep *trust.Report
	if err == nil {
		rep, err = verifyPair(trusted, cand, trustedPath, opts)
	}
	if o.json {
		out := verifyJSON{Trusted: err == nil, Warnings: []string{}, Checks: []checkJSON{}}
		if rep != nil {
			out.Subject, out.Warnings = rep.Subject, append(out.Warnings, rep.Warnings...)
			if !rep.Expires.IsZero() {
				out.Expires = trust.FormatTime(rep.Expires)
			}
			for _, c := range rep.Checks {
				out.Checks = append(out.Checks, toCheckJSON(c))
			}
		}
		var ve *trust.VerificationError
		if errors.As(err, &ve) {
			out.Rule = string(ve.Rule)
		}
		if err != nil {
			out.Error = err.Error()
		}
		if jerr := printJSON(cmd.OutOrStdout(), out); jerr != nil {
			return jerr
		}
		if err != nil {
			return &silent{err}
		}
		return nil
	}
	if rep != nil {
		warn(cmd.ErrOrStderr(), rep.Warnings)
	}
	if err != nil {
		return fmt.Errorf("%s is NOT trusted: %w", untrustedPath, err)
	}
	printReport(cmd.OutOrStdout(), untrustedPath, rep, at)
	return nil
}

// verifyPair verifies cand against trusted through a trust.Chain, the one
// place the rules live, and returns one report of the checks made on cand.
func verifyPair(trusted, cand *trust.Metadata, trustedPath string, opts trust.Options) (*trust.Report, error) {
	var chain *trust.Chain
	var err error
	if trusted.Type == trust.RoleKeyMgr {
		chain, err = trust.NewChainFromKeyMgr(trusted, opts)
	} else {
		chain, err = trust.NewChain(trusted, opts)
		if err != nil {
			return nil, withHint(fmt.Errorf("the trusted root %s is NOT trusted: %w", trustedPath, err),
				"a trusted root must be signed by a threshold of its own root keys; check that you have the right file")
		}
	}
	pinned := len(chain.Reports())
	if err == nil {
		switch {
		case trusted.Type == trust.RoleRoot && cand.Type == trust.RoleRoot &&
			trusted.Version == cand.Version && string(trusted.Envelope.SignedBytes()) == string(cand.Envelope.SignedBytes()):
			// The same root twice: a self-verification, checked by the pin.
			pinned = 0
			_, err = chain.EndRoots()
		case trusted.Type == trust.RoleRoot && cand.Type == trust.RoleRoot:
			if _, err = chain.UpdateRoot(cand); err == nil {
				_, err = chain.EndRoots()
			}
		case cand.Type == trust.RoleRoot:
			err = &trust.VerificationError{Role: cand.Name(), Rule: trust.RuleDelegation,
				Detail: fmt.Sprintf("a root can only be verified against a trusted root, not against %s", trusted.Name())}
		case trusted.Type == trust.RoleRoot:
			_, err = chain.SetKeyMgr(cand, nil)
		default:
			_, err = chain.VerifyPkgMgr(cand)
		}
	}
	rep := &trust.Report{Subject: cand.Name(), Expires: cand.Expiration, Warnings: chain.Warnings()}
	for _, r := range chain.Reports()[pinned:] {
		rep.Checks = append(rep.Checks, r.Checks...)
		rep.Expired = rep.Expired || (r.Expired && r.Subject == cand.Name())
	}
	return rep, err
}

func toCheckJSON(c trust.Check) checkJSON {
	j := checkJSON{Against: c.Against, Mode: c.Result.Mode.String(), Threshold: c.Result.Threshold, Met: c.Result.Met(), Valid: []string{}}
	for _, k := range c.Result.Valid {
		j.Valid = append(j.Valid, k.String())
	}
	for _, ig := range c.Result.Ignored {
		j.Ignored = append(j.Ignored, ig.KeyID+": "+ig.Reason)
	}
	return j
}

func printReport(w io.Writer, path string, rep *trust.Report, at time.Time) {
	fmt.Fprintf(w, "%s: %s is trusted\n", path, rep.Subject)
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "  %d of %d required %s signatures from %s\n", len(c.Result.Valid), c.Result.Threshold, c.Result.Mode, c.Against)
	}
	if !rep.Expires.IsZero() {
		if at.IsZero() {
			at = time.Now()
		}
		fmt.Fprintf(w, "  expires %s (%s)\n", trust.FormatTime(rep.Expires), untilText(rep.Expires, at))
	}
}

func untilText(exp, at time.Time) string {
	d := exp.Sub(at)
	days := int(d.Hours() / 24)
	if d <= 0 {
		return fmt.Sprintf("expired %d days ago", -days)
	}
	return fmt.Sprintf("in %d days", days)
}
