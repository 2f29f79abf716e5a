package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// keyMgrOpts are the flags that establish trust in a key_mgr, shared by
// verify-repodata and verify-package.
type keyMgrOpts struct {
	keyMgr, root    string
	subdir          string
	at              string
	allowExpired    bool
	allowSharedKeys bool
}

func (o *keyMgrOpts) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&o.keyMgr, "key-mgr", "", "key_mgr.json whose pkg_mgr delegation (keys and threshold) records must satisfy (required)")
	fs.StringVar(&o.root, "root", "", "trusted root to verify the key_mgr against first (without it the key_mgr is taken as given, with a warning)")
	fs.StringVar(&o.subdir, "subdir", "", "the subdir the repodata is served as (default: its info.subdir); records for another subdir are refused")
	fs.BoolVar(&o.allowSharedKeys, "allow-shared-keys", false, "accept metadata in which one key holds two roles (reported loudly; unsafe)")
	addPolicyFlags(fs, &o.at, &o.allowExpired)
}

// trustedVerifier builds the trust chain the flags describe (--root, then
// --key-mgr against it; or --key-mgr alone, taken as the anchor), prints
// any waiver warnings, and returns the chain's record verifier.
func (o *keyMgrOpts) trustedVerifier(cmd *cobra.Command, quiet bool) (*repodata.Verifier, error) {
	if o.keyMgr == "" {
		return nil, usageError("--key-mgr is required: give the channel's key_mgr.json")
	}
	at, err := parseAt(o.at)
	if err != nil {
		return nil, err
	}
	opts := trust.Options{At: at, AllowExpired: o.allowExpired, AllowSharedKeys: o.allowSharedKeys}
	km, err := loadMetadata(o.keyMgr, trust.RoleKeyMgr)
	if err != nil {
		return nil, err
	}
	var chain *trust.Chain
	if o.root != "" {
		root, err := loadMetadata(o.root, trust.RoleRoot)
		if err != nil {
			return nil, err
		}
		chain, err = trust.NewChain(root, opts)
		if err != nil {
			return nil, withHint(fmt.Errorf("the trusted root %s is NOT trusted: %w", o.root, err),
				"a trusted root must be signed by a threshold of its own root keys; check that you have the right file")
		}
		if _, err := chain.SetKeyMgr(km, nil); err != nil {
			warnChain(cmd, chain, quiet)
			return nil, withHint(fmt.Errorf("%s is NOT trusted: %w", o.keyMgr, err),
				"the key_mgr must be signed by a threshold of the root's key_mgr keys; fetch the channel's current key_mgr.json and root")
		}
	} else {
		chain, err = trust.NewChainFromKeyMgr(km, opts)
		if err != nil {
			return nil, withHint(fmt.Errorf("%s: %w", o.keyMgr, err), "fetch the channel's current key_mgr.json, or give --allow-expired to inspect an old one")
		}
	}
	warnChain(cmd, chain, quiet)
	v, err := repodata.NewVerifier(chain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.keyMgr, err)
	}
	v.Subdir = o.subdir
	return v, nil
}

func warnChain(cmd *cobra.Command, chain *trust.Chain, quiet bool) {
	if !quiet && chain != nil {
		warn(cmd.ErrOrStderr(), chain.Warnings())
	}
}

type verifyRepodataOpts struct {
	keyMgrOpts
	cacheOpts
	trustDir      string
	allowUnsigned bool
	json          bool
	quiet         bool
	verbose       bool
}

func init() {
	register(func() *cobra.Command {
		o := &verifyRepodataOpts{}
		cmd := &cobra.Command{
			Use:   "verify-repodata REPODATA --key-mgr KEY_MGR [--root ROOT] [--at TIME] [--allow-unsigned] [--allow-expired] [--cache DIR] [--json | --quiet | --verbose]",
			Short: "Verify the signature of every package record in a repodata.json",
			Long: `Verify every record of REPODATA against the pkg_mgr delegation of KEY_MGR:
a record is trusted when at least the delegation's threshold of distinct
pkg_mgr keys signed its canonical form. Each record is reported as

  trusted     enough valid signatures by authorized keys
  untrusted   signatures, but not enough valid ones (a modified record, an
              undelegated key, a flipped bit, a malformed entry): the reason
              says which entries did not count and why; or signed, but filed
              under a name, section or subdir it does not describe
              (record-mismatch: a record renamed or moved by a mirror)
  unsigned    no signatures at all

REPODATA, KEY_MGR and ROOT may be files or objects in a bucket,
s3://BUCKET/KEY (credentials and endpoint from the AWS environment
variables and ~/.aws; docs/s3.md).

With --root, KEY_MGR is first verified against the trusted root (a
threshold of its key_mgr keys, and neither expired at --at); without it,
KEY_MGR is taken as given and only its expiry is checked.

The command fails (exit 1) if any record is untrusted, or unsigned without
--allow-unsigned. Text output lists up to 20 records per status that are
not trusted, then a count of the rest and a summary; --verbose lists every record; --json prints every record:

  {"records": [{"file": ..., "status": "trusted|untrusted|unsigned",
                "rule": "threshold|record-mismatch|unsigned" (when not trusted), "reason": ...}],
   "trusted": N, "untrusted": N, "unsigned": N}
(with --cache also "cache": {"file", "hits", "misses"}).

--cache DIR keeps the signatures that verified in DIR/` + sigCacheFile + `, so that
verifying an updated repodata again checks only the signatures of records
that changed: a record's cache entry is a hash of its canonical bytes, the
signature and the key, so any change to either misses. Everything else (which
keys key_mgr authorizes, the threshold, the record's binding) is decided
again on every run. The file is authenticated with HMAC-SHA256 under a
secret key kept in the trust store (--trust-dir, default $` + client.TrustDirEnv + `;
the file ` + sigCacheKeyFile + `, made on first use, mode 0600), never in DIR:
whoever can write DIR cannot make a signature count, and a cache file that
fails the check is discarded whole (with a warning).

` + exitCodeHelp,
			Example: `  conda-trust verify-repodata linux-64/repodata.json --key-mgr key_mgr.json --root 1.root.json
  conda-trust verify-repodata repodata.json --key-mgr key_mgr.json --allow-unsigned --json
  conda-trust verify-repodata linux-64/repodata.json --key-mgr key_mgr.json --cache ~/.cache/conda-trust
  conda-trust verify-repodata s3://conda/main/linux-64/repodata.json --key-mgr s3://conda/main/key_mgr.json --root 1.root.json`,
			Args: exactArgs(1, "the REPODATA file"),
			RunE: func(cmd *cobra.Command, args []string) error { return runVerifyRepodata(cmd, o, args[0]) },
		}
		o.keyMgrOpts.addFlags(cmd)
		fs := cmd.Flags()
		fs.BoolVar(&o.allowUnsigned, "allow-unsigned", false, "do not fail because of unsigned records (untrusted ones still fail)")
		fs.BoolVar(&o.json, "json", false, "print the status of every record as JSON")
		fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors (the exit code tells the verdict)")
		fs.BoolVarP(&o.verbose, "verbose", "v", false, "list every record, trusted ones too (default: at most 20 per status, then a count)")
		o.addCache(fs)
		fs.StringVar(&o.trustDir, "trust-dir", "", "with --cache: the trust store folder that keeps the cache's key (default $"+client.TrustDirEnv+", else condatrust/trust in the user config folder)")
		return cmd
	})
}

type recordJSON struct {
	File   string `json:"file"`
	Status string `json:"status"`
	Rule   string `json:"rule,omitempty"`
	Reason string `json:"reason"`
}

type verifyRepodataJSON struct {
	Records   []recordJSON `json:"records"`
	Trusted   int          `json:"trusted"`
	Untrusted int          `json:"untrusted"`
	Unsigned  int          `json:"unsigned"`
	Cache     *cacheJSON   `json:"cache,omitempty"`
}

func runVerifyRepodata(cmd *cobra.Command, o *verifyRepodataOpts, path string) error {
	v, err := o.trustedVerifier(cmd, o.quiet)
	if err != nil {
		return err
	}
	if o.trustDir != "" && o.cacheDir == "" {
		return usageError("--trust-dir is only used with --cache")
	}
	fc, err := o.cacheOpts.open(o.trustDir)
	if err != nil {
		return err
	}
	if fc != nil {
		v.Cache = fc
		o.cacheOpts.warn(cmd.ErrOrStderr(), o.quiet)
	}
	limitHeap(path)
	f, err := openRepodata(path)
	if err != nil {
		return withHint(err, "REPODATA must be a repodata.json (strict JSON), a file or an s3:// URL")
	}
	defer f.Close()
	bar := newRecordBar(cmd.ErrOrStderr(), o.quiet || o.json, "verifying")
	if bar != nil {
		v.Progress = bar.update
	}
	rep, err := v.Verify(f)
	bar.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	o.cacheOpts.save(cmd.ErrOrStderr(), o.quiet)
	verdict := rep.Err(o.allowUnsigned)
	if verdict != nil {
		verdict = fmt.Errorf("%s: %w", path, verdict)
	}
	if o.json {
		out := verifyRepodataJSON{Records: make([]recordJSON, len(rep.Results)),
			Trusted: rep.Trusted, Untrusted: rep.Untrusted, Unsigned: rep.Unsigned, Cache: o.cacheOpts.json()}
		for i, r := range rep.Results {
			out.Records[i] = recordJSON{File: r.Filename, Status: r.Status.String(), Rule: string(r.Rule), Reason: r.Reason}
		}
		if err := printJSON(cmd.OutOrStdout(), out); err != nil {
			return err
		}
		if verdict != nil {
			return &silent{verdict}
		}
		return nil
	}
	if !o.quiet {
		printRepodataReport(cmd.OutOrStdout(), path, rep, f.HasSignatures(), o.verbose)
	}
	if verdict != nil {
		if rep.Unsigned > 0 && rep.Untrusted == 0 {
			return withHint(verdict, "sign the repodata with 'conda-trust sign-repodata', or give --allow-unsigned to accept unsigned records")
		}
		return verdict
	}
	return nil
}

// reportLines is how many records that are not trusted the text report
// lists per status before it summarizes the rest; --verbose lists all.
const reportLines = 20

func printRepodataReport(w io.Writer, path string, rep *repodata.Report, signed, verbose bool) {
	shown := map[repodata.Status]int{}
	for _, r := range rep.Results {
		switch {
		case verbose:
		case r.Status == repodata.Trusted:
			continue
		case shown[r.Status] >= reportLines:
			shown[r.Status]++
			continue
		}
		shown[r.Status]++
		fmt.Fprintf(w, "%-9s %s: %s\n", r.Status, r.Filename, r.Reason)
	}
	for _, st := range []repodata.Status{repodata.Untrusted, repodata.Unsigned} {
		if n := shown[st] - reportLines; !verbose && n > 0 {
			fmt.Fprintf(w, "... and %d more %s record(s) (--verbose lists every record, --json prints them all)\n", n, st)
		}
	}
	note := ""
	if !signed {
		note = " (the file has no signatures)"
	}
	fmt.Fprintf(w, "%s: %d record(s): %d trusted, %d untrusted, %d unsigned%s\n",
		path, len(rep.Results), rep.Trusted, rep.Untrusted, rep.Unsigned, note)
}
