package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/client"
)

type verifyEnvOpts struct {
	clientOpts
	channels      []string
	repodata      []string
	offline       bool
	allowUnsigned bool
	allowUnknown  bool
	json          bool
}

func init() {
	register(func() *cobra.Command {
		o := &verifyEnvOpts{}
		cmd := &cobra.Command{
			Use:   "verify-env PREFIX [--channel URL ...] [--repodata FILE ...] [--json]",
			Short: "Check every package installed in a conda environment against its signed record",
			Long: `For each conda-meta/*.json of the environment at PREFIX, find the package's
signed record and verify it:

  - in its own channel (from the record's "url") when that channel is pinned,
    else by file name in the --channel channels, in order;
  - the record must be signed by a threshold of the channel's pkg_mgr keys
    (roots and key_mgr are updated and verified first, once per channel);
  - the installed name, version and build, and the recorded sha256, md5 and
    size, must equal the signed record's.

Each package is reported TRUSTED, UNTRUSTED (with the reason), UNSIGNED (its
record has no signature) or UNKNOWN (no pinned channel has its record). The
exit status is 1 if any package is not trusted; --allow-unsigned and
--allow-unknown accept those two states.

--repodata FILE uses a local repodata.json (its info.subdir, or its folder
name, gives the subdir) for the single --channel given, instead of fetching
it; with --offline nothing at all is fetched and the stored root and key_mgr
are used, re-verified.

` + exitCodeHelp,
			Example: `  conda-trust verify-env "$CONDA_PREFIX"
  conda-trust verify-env ~/miniforge3/envs/work --channel https://conda.example.com/main --json
  conda-trust verify-env ./env --channel ./channel --repodata channel/noarch/repodata.json --offline`,
			Args: exactArgs(1, "PREFIX"),
			RunE: func(cmd *cobra.Command, args []string) error { return runVerifyEnv(cmd, o, args[0]) },
		}
		fs := cmd.Flags()
		fs.StringArrayVar(&o.channels, "channel", nil, "pinned channel to look packages up in by file name (repeatable)")
		fs.StringArrayVar(&o.repodata, "repodata", nil, "local repodata.json for the --channel given (repeatable, one per subdir)")
		fs.BoolVar(&o.offline, "offline", false, "fetch nothing: use the stored root and key_mgr (re-verified)")
		fs.BoolVar(&o.allowUnsigned, "allow-unsigned", false, "do not fail because of UNSIGNED packages")
		fs.BoolVar(&o.allowUnknown, "allow-unknown", false, "do not fail because of UNKNOWN packages")
		fs.BoolVar(&o.json, "json", false, "print the result as JSON")
		o.addStore(fs)
		o.addPolicy(fs)
		o.addNetwork(fs)
		return cmd
	})
}

type verifyEnvJSON struct {
	Prefix    string              `json:"prefix"`
	Trusted   int                 `json:"trusted"`
	Untrusted int                 `json:"untrusted"`
	Unsigned  int                 `json:"unsigned"`
	Unknown   int                 `json:"unknown"`
	Packages  []client.EnvPackage `json:"packages"`
	Warnings  []string            `json:"warnings"`
}

func runVerifyEnv(cmd *cobra.Command, o *verifyEnvOpts, prefix string) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	opts := client.EnvOptions{Offline: o.offline}
	for _, ch := range o.channels {
		n, err := channelArg(ch)
		if err != nil {
			return err
		}
		opts.Channels = append(opts.Channels, n)
	}
	if len(o.repodata) > 0 {
		if len(opts.Channels) != 1 {
			return usageError("--repodata needs exactly one --channel: the channel whose keys signed it")
		}
		bySubdir := map[string]*client.Repodata{}
		for _, f := range o.repodata {
			data, err := readInput(f)
			if err != nil {
				return err
			}
			rd, err := client.ParseRepodata(data, f)
			if err != nil {
				return err
			}
			sub := rd.Subdir
			if sub == "" {
				sub = filepath.Base(filepath.Dir(f))
			}
			if client.CheckSubdir(sub) != nil {
				return usageError("%s: no info.subdir and its folder %q is not a subdir name", f, sub)
			}
			bySubdir[sub] = rd
		}
		opts.Repodata = map[string]map[string]*client.Repodata{opts.Channels[0]: bySubdir}
	}
	if _, err := os.Stat(prefix); err != nil {
		return withHint(err, "give the folder of a conda environment (it has a conda-meta folder)")
	}
	ctx, cancel := interruptible(cmd)
	defer cancel()
	pkgs, warnings, err := c.VerifyEnv(ctx, prefix, opts)
	if err != nil {
		return withHint(err, "give the folder of a conda environment (it has a conda-meta folder)")
	}
	out := verifyEnvJSON{Prefix: prefix, Packages: pkgs, Warnings: append([]string{}, warnings...)}
	if out.Packages == nil {
		out.Packages = []client.EnvPackage{}
	}
	for _, p := range pkgs {
		switch p.Status {
		case client.StatusTrusted:
			out.Trusted++
		case client.StatusUntrusted:
			out.Untrusted++
		case client.StatusUnsigned:
			out.Unsigned++
		default:
			out.Unknown++
		}
	}
	var verdict error
	switch {
	case out.Untrusted > 0:
		verdict = fmt.Errorf("%s: %d package(s) UNTRUSTED: %w", prefix, out.Untrusted, errUntrusted)
	case out.Unsigned > 0 && !o.allowUnsigned:
		verdict = withHint(fmt.Errorf("%s: %d package(s) UNSIGNED: %w", prefix, out.Unsigned, errUntrusted),
			"their records carry no signature; --allow-unsigned accepts that")
	case out.Unknown > 0 && !o.allowUnknown:
		verdict = withHint(fmt.Errorf("%s: %d package(s) UNKNOWN: %w", prefix, out.Unknown, errUntrusted),
			"no pinned channel has their record: pin their channel (trust add), or name one with --channel; --allow-unknown accepts that")
	}
	if o.json {
		if err := printJSON(cmd.OutOrStdout(), out); err != nil {
			return err
		}
		if verdict != nil {
			return &silent{verdict}
		}
		return nil
	}
	warn(cmd.ErrOrStderr(), warnings)
	w := cmd.OutOrStdout()
	for _, p := range pkgs {
		name := p.Filename
		if name == "" {
			name = filepath.Base(p.MetaFile)
		}
		fmt.Fprintf(w, "%-9s %s", strings.ToUpper(string(p.Status)), name)
		if p.Status == client.StatusTrusted {
			fmt.Fprintf(w, "  (%s)", p.Channel)
		} else if p.Reason != "" {
			fmt.Fprintf(w, ": %s", p.Reason)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d trusted, %d untrusted, %d unsigned, %d unknown\n", out.Trusted, out.Untrusted, out.Unsigned, out.Unknown)
	return verdict
}
