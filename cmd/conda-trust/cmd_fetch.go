package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/attest"
	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/trust"
)

type fetchOpts struct {
	clientOpts
	out           string
	allowUnsigned bool
	offline       bool
	legacyKeys    []string
	legacyDir     string
	legacyConfig  string
	json          bool
	attest        attestOpts
}

func init() {
	register(func() *cobra.Command {
		o := &fetchOpts{}
		cmd := &cobra.Command{
			Use:   "fetch CHANNEL_URL SUBDIR/FILENAME [-o DIR] [--json]",
			Short: "Download a package only if its signed record and its bytes verify",
			Long: `Download SUBDIR/FILENAME from a pinned channel into DIR (default: the current
folder), writing nothing there unless every check passed:

  1. the channel's roots and key_mgr are updated and verified (as by conda-trust update)
  2. SUBDIR/repodata.json.zst (or repodata.json) is fetched and FILENAME's
     record must be signed by a threshold of key_mgr's pkg_mgr keys, and
     describe FILENAME (name-version-build, subdir)
  3. the package is streamed to a temporary file in DIR while hashed, cut
     off past the signed size; its size, sha256 and md5 must equal the
     signed record's; only then is it renamed to DIR/FILENAME

A record without signatures is refused unless --allow-unsigned. A legacy
channel (records with "sig" and no content-trust signature, or any record
when --legacy-key is given) is verified with FILENAME.sig, a conda sign RSA
signature by a key trusted for the channel (--legacy-key NAME, or
--legacy-channel-keys FILE), looked up in --legacy-keys-dir.

With --require-attestation, the package must also carry a Sigstore
attestation (CEP 27): FILENAME.v0.sigs, fetched from next to the package,
must attest FILENAME and the downloaded bytes' sha256, signed by the
identity --attest-identity (or --attest-identity-regexp) with the OIDC
issuer --attest-issuer (and for --attest-channel, if given), verified
offline against --sigstore-root (as verify-attestation does). Without it,
or with an attestation that does not match, the package is refused (rule
attestation) and nothing is written.

` + exitCodeHelp,
			Example: `  conda-trust fetch https://conda.example.com/main linux-64/numpy-1.26.4-py311h64a7726_0.conda -o pkgs
  conda-trust fetch ./channel noarch/demo-data-1.0-0.tar.bz2 --json
  conda-trust fetch https://old.example.com/ch noarch/foo-1.0-0.tar.bz2 --legacy-key MyKey
  conda-trust fetch https://conda.example.com/main linux-64/tool-1.0-h0_0.conda --require-attestation \
      --sigstore-root trusted_root.json --attest-issuer https://token.actions.githubusercontent.com \
      --attest-identity https://github.com/example/tool/.github/workflows/build.yml@refs/heads/main`,
			Args: exactArgs(2, "CHANNEL_URL and SUBDIR/FILENAME"),
			RunE: func(cmd *cobra.Command, args []string) error { return runFetch(cmd, o, args[0], args[1]) },
		}
		fs := cmd.Flags()
		fs.StringVarP(&o.out, "output", "o", ".", "folder to write the package into")
		fs.BoolVar(&o.allowUnsigned, "allow-unsigned", false, "accept a record without any signature (reported loudly), checked only against its own record")
		fs.BoolVar(&o.offline, "offline", false, "use the stored root and key_mgr (re-verified) instead of updating them")
		fs.StringArrayVar(&o.legacyKeys, "legacy-key", nil, "conda sign key name trusted for this channel (repeatable)")
		// The proxy names the same folder --legacy-keys: accept both here.
		fs.SetNormalizeFunc(flagAlias("legacy-keys", "legacy-keys-dir"))
		fs.StringVar(&o.legacyDir, "legacy-keys-dir", "", "folder of conda sign public keys NAME.pub (default $"+legacysign.KeysDirEnv+" or ~/.conda/keys)")
		fs.StringVar(&o.legacyConfig, "legacy-channel-keys", "", "pinning file binding channel URL prefixes and package-name globs to trusted conda sign key names (format: conda-sign --help)")
		fs.BoolVar(&o.json, "json", false, "print the result as JSON")
		o.attest.addFlags(fs, true)
		o.addStore(fs)
		o.addPolicy(fs)
		o.addNetwork(fs)
		o.addCache(fs)
		return cmd
	})
}

type fetchJSON struct {
	Trusted  bool     `json:"trusted"`
	File     string   `json:"file"`
	Path     string   `json:"path,omitempty"`
	URL      string   `json:"url,omitempty"`
	Status   string   `json:"status,omitempty"`
	Via      string   `json:"via,omitempty"`
	Signers  []string `json:"signers"`
	SHA256   string   `json:"sha256,omitempty"`
	Size     int64    `json:"size,omitempty"`
	Warnings []string `json:"warnings"`
	// Attestation is set when --require-attestation accepted one.
	Attestation *attestationJSON `json:"attestation,omitempty"`
	Rule        string           `json:"rule,omitempty"`
	Check       string           `json:"check,omitempty"`
	Error       string           `json:"error,omitempty"`
}

func (o *fetchOpts) legacy(channel, fn string) (*client.LegacyPolicy, error) {
	kd := legacysign.KeyDir{Path: o.legacyDir}
	if o.legacyDir == "" {
		d, err := legacysign.DefaultKeyDir()
		if err != nil {
			return nil, err
		}
		kd = d
	}
	names := append([]string(nil), o.legacyKeys...)
	for _, n := range names {
		if err := legacysign.CheckKeyName(n); err != nil {
			return nil, usageError("--legacy-key: %v", err)
		}
	}
	if o.legacyConfig != "" {
		f, err := os.Open(o.legacyConfig)
		if err != nil {
			return nil, withHint(err, "check the path given to --legacy-channel-keys")
		}
		defer f.Close()
		ck, err := legacysign.ParseChannelKeys(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.legacyConfig, err)
		}
		names = append(names, ck.KeysForPackage(channel, legacysign.PackageName(fn))...)
	}
	return &client.LegacyPolicy{Keys: kd, TrustedKeys: names}, nil
}

func runFetch(cmd *cobra.Command, o *fetchOpts, channelArgS, path string) error {
	subdir, fn, ok := strings.Cut(path, "/")
	if !ok || subdir == "" || fn == "" {
		return usageError("%q: give SUBDIR/FILENAME, such as noarch/foo-1.0-0.tar.bz2", path)
	}
	if err := client.CheckSubdir(subdir); err != nil {
		return usageError("%v", err)
	}
	if err := client.CheckFilename(fn); err != nil {
		return usageError("%v", err)
	}
	ch, err := channelArg(channelArgS)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	lp, err := o.legacy(ch, fn)
	if err != nil {
		return err
	}
	warned := map[string]bool{}
	lp.WeakKey = func(name string, bits int) {
		if !warned[name] {
			warned[name] = true
			warn(cmd.ErrOrStderr(), []string{fmt.Sprintf("WARNING: conda sign key %q is only %d bits: signatures by keys under %d bits can be forged", name, bits, legacysign.MinKeyBits)})
		}
	}
	av, err := o.attest.verifier(false)
	if err != nil {
		return err
	}
	fopts := client.FetchOptions{Offline: o.offline, AllowUnsigned: o.allowUnsigned, Legacy: lp}
	var attested *attest.Result
	if av != nil {
		fopts.Attestation = func(a client.Attestation) error {
			r, err := checkAttestation(av, a)
			attested = r
			return err
		}
	}
	ctx, cancel := interruptible(cmd)
	defer cancel()
	o.cacheOpts.warn(cmd.ErrOrStderr(), o.json)
	res, err := c.FetchPackage(ctx, ch, subdir, fn, o.out, fopts)
	o.cacheOpts.save(cmd.ErrOrStderr(), o.json)
	if o.json {
		j := fetchJSON{Trusted: err == nil, File: path, Signers: []string{}, Warnings: []string{}}
		if res != nil {
			j.Warnings = append(j.Warnings, res.Warnings...)
			if err == nil {
				j.Path, j.URL, j.Status, j.Via, j.SHA256, j.Size = res.Path, res.URL, string(res.Status), res.Via, res.SHA256, res.Size
				for _, k := range res.Signers {
					j.Signers = append(j.Signers, k.String())
				}
			}
		}
		if err != nil {
			j.Rule, j.Error, j.Check = string(client.RuleOf(err)), err.Error(), attestCheckOf(err)
		} else if attested != nil {
			j.Attestation = attestationJSONOf(attested)
		}
		if jerr := printJSON(cmd.OutOrStdout(), j); jerr != nil {
			return jerr
		}
		if err != nil {
			return &silent{err}
		}
		return nil
	}
	if res != nil {
		warn(cmd.ErrOrStderr(), res.Warnings)
	}
	if err != nil {
		// REFUSED is kept for trust refusals; a network or disk problem
		// says only that nothing was fetched.
		if errors.As(err, new(*attest.RefusalError)) {
			return attestHint(fmt.Errorf("%s REFUSED, nothing written: %w", path, err))
		}
		if client.RuleOf(err) != "" || errors.Is(err, trust.ErrVerification) {
			return clientHint(fmt.Errorf("%s REFUSED, nothing written: %w", path, err))
		}
		return clientHint(fmt.Errorf("%s not fetched, nothing written: %w", path, err))
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%s: %s, verified by %s\n", res.Path, strings.ToUpper(string(res.Status)), res.Via)
	for _, k := range res.Signers {
		fmt.Fprintf(w, "  record signed by pkg_mgr key %s\n", k)
	}
	fmt.Fprintf(w, "  %d bytes, sha256 %s (as in the record)\n", res.Size, res.SHA256)
	if attested != nil {
		fmt.Fprintf(w, "  attested (%s, bundle %d)\n", fn+attest.SidecarSuffix, attested.Bundle)
		printAttestationFacts(w, "    ", attested)
	}
	if res.State != nil && res.State.Root != nil {
		fmt.Fprintf(w, "  channel trust: root v%d, key_mgr v%d\n", res.State.Root.Version, res.State.KeyMgr.Version)
	}
	return nil
}
