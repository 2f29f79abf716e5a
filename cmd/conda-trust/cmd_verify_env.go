package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/envaudit"
)

type verifyEnvOpts struct {
	clientOpts
	channels      []string
	repodata      []string
	offline       bool
	allowUnsigned bool
	allowUnknown  bool
	json          bool

	files           bool
	pkgsDirs        []string
	allowUnexpected bool
	allowUnchecked  bool
}

func init() {
	register(func() *cobra.Command {
		o := &verifyEnvOpts{}
		cmd := &cobra.Command{
			Use:   "verify-env PREFIX [--channel URL ...] [--repodata FILE ...] [--files [--pkgs-dir DIR ...]] [--json]",
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
are used, re-verified, so --offline needs --repodata.

--files also checks every installed file of each TRUSTED package against its
package archive, whose bytes must match the signed record: the copy in the
pkgs cache (--pkgs-dir, repeatable; default PREFIX/pkgs and PREFIX/../../pkgs)
if it matches, else a verified download (none with --offline). Each path the
archive's info/paths.json lists must have its size and sha256 (after the
prefix replacement conda applies to files with a prefix placeholder); the
symbolic links their targets. Reported per package: MODIFIED, MISSING, and
UNEXPECTED (listed in its conda-meta record, not in its archive); and for
the whole prefix, UNEXPECTED files that no conda-meta record lists. Any
modified or missing file fails (exit 1); so do unexpected files, unless
--allow-unexpected, and packages whose files could not be checked, unless
--allow-unchecked. See docs/verify-env.md.

` + exitCodeHelp,
			Example: `  conda-trust verify-env "$CONDA_PREFIX"
  conda-trust verify-env ~/miniforge3/envs/work --channel https://conda.example.com/main --json
  conda-trust verify-env ./env --channel ./channel --repodata channel/noarch/repodata.json --offline
  conda-trust verify-env "$CONDA_PREFIX" --files
  conda-trust verify-env ./env --files --pkgs-dir ~/miniforge3/pkgs --json`,
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
		fs.BoolVar(&o.files, "files", false, "also check every installed file against the package archive")
		fs.StringArrayVar(&o.pkgsDirs, "pkgs-dir", nil, "with --files: package cache to take archives from when they match the signed record (repeatable)")
		fs.BoolVar(&o.allowUnexpected, "allow-unexpected", false, "with --files: do not fail because of UNEXPECTED files")
		fs.BoolVar(&o.allowUnchecked, "allow-unchecked", false, "with --files: do not fail because a trusted package's files could not be checked")
		o.addStore(fs)
		o.addPolicy(fs)
		o.addNetwork(fs)
		o.addCache(fs)
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
	// With --files only.
	Files           *verifyEnvFilesJSON `json:"files,omitempty"`
	UnexpectedFiles []envaudit.Finding  `json:"unexpected_files,omitempty"`
}

// verifyEnvFilesJSON sums up the file audit of the whole environment.
type verifyEnvFilesJSON struct {
	CheckedPackages   int `json:"checked_packages"`
	UncheckedPackages int `json:"unchecked_packages"`
	Modified          int `json:"modified"`
	Missing           int `json:"missing"`
	Unexpected        int `json:"unexpected"`
	Unchecked         int `json:"unchecked"`
}

func runVerifyEnv(cmd *cobra.Command, o *verifyEnvOpts, prefix string) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	o.cacheOpts.warn(cmd.ErrOrStderr(), o.json)
	defer o.cacheOpts.save(cmd.ErrOrStderr(), o.json)
	if o.offline && len(o.repodata) == 0 {
		return withHint(usageError("--offline needs --repodata: nothing is fetched offline, so the signed records must come from local repodata.json files"),
			"give each subdir's repodata.json with --repodata FILE and the channel that signed it with --channel URL (pinned with 'conda-trust add URL --root FILE'), or drop --offline")
	}
	if !o.files && (len(o.pkgsDirs) > 0 || o.allowUnexpected || o.allowUnchecked) {
		return usageError("--pkgs-dir, --allow-unexpected and --allow-unchecked only apply with --files")
	}
	opts := client.EnvOptions{Offline: o.offline, Files: o.files, PkgsDirs: o.pkgsDirs}
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
	rep, err := c.AuditEnv(ctx, prefix, opts)
	if err != nil {
		return withHint(err, "give the folder of a conda environment (it has a conda-meta folder)")
	}
	pkgs, warnings := rep.Packages, rep.Warnings
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
	var fsum verifyEnvFilesJSON
	if o.files {
		for _, p := range pkgs {
			f := p.Files
			switch {
			case f == nil || !f.Checked:
				fsum.UncheckedPackages++
			default:
				fsum.CheckedPackages++
				fsum.Modified += f.Modified
				fsum.Missing += f.Missing
				fsum.Unexpected += f.Unexpected
				fsum.Unchecked += f.Unchecked
			}
		}
		fsum.Unexpected += len(rep.Unexpected)
		out.Files = &fsum
		out.UnexpectedFiles = append([]envaudit.Finding{}, rep.Unexpected...)
	}
	// Only trusted packages have their files checked; the others fail on
	// their own verdict below.
	uncheckedTrusted := 0
	for _, p := range pkgs {
		if o.files && p.Status == client.StatusTrusted && (!p.Files.Checked || p.Files.Unchecked > 0) {
			uncheckedTrusted++
		}
	}
	var verdict error
	switch {
	case out.Untrusted > 0:
		verdict = fmt.Errorf("%s: %d package(s) UNTRUSTED: %w", prefix, out.Untrusted, errUntrusted)
	case fsum.Modified+fsum.Missing > 0:
		verdict = withHint(fmt.Errorf("%s: %d file(s) MODIFIED, %d MISSING: %w", prefix, fsum.Modified, fsum.Missing, errUntrusted),
			"the environment is not what its signed packages install: reinstall the packages named above (conda install --force-reinstall NAME), or recreate the environment")
	case fsum.Unexpected > 0 && !o.allowUnexpected:
		verdict = withHint(fmt.Errorf("%s: %d UNEXPECTED file(s): %w", prefix, fsum.Unexpected, errUntrusted),
			"no installed package accounts for them: remove them if you did not put them there; --allow-unexpected accepts them")
	case out.Unsigned > 0 && !o.allowUnsigned:
		verdict = withHint(fmt.Errorf("%s: %d package(s) UNSIGNED: %w", prefix, out.Unsigned, errUntrusted),
			"their records carry no signature; --allow-unsigned accepts that")
	case out.Unknown > 0 && !o.allowUnknown:
		verdict = withHint(fmt.Errorf("%s: %d package(s) UNKNOWN: %w", prefix, out.Unknown, errUntrusted),
			"no pinned channel has their record: pin their channel with 'conda-trust add URL --root FILE', or name a pinned one with --channel URL; --allow-unknown accepts that")
	case uncheckedTrusted > 0 && !o.allowUnchecked:
		hint := "their archives could not be read or downloaded; --allow-unchecked accepts that"
		if o.offline {
			hint = "offline, their archives must be in a package cache: name it with --pkgs-dir DIR, or drop --offline to download them; --allow-unchecked accepts that"
		}
		verdict = withHint(fmt.Errorf("%s: the files of %d trusted package(s) could not be checked: %w", prefix, uncheckedTrusted, errUntrusted), "%s", hint)
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
		if o.files && p.Files != nil {
			printEnvFiles(w, p.Files)
		}
	}
	for _, f := range rep.Unexpected {
		fmt.Fprintf(w, "UNEXPECTED %s: %s\n", f.Path, f.Reason)
	}
	fmt.Fprintf(w, "%d trusted, %d untrusted, %d unsigned, %d unknown\n", out.Trusted, out.Untrusted, out.Unsigned, out.Unknown)
	if o.files {
		fmt.Fprintf(w, "files: %d package(s) checked, %d not checked; %d modified, %d missing, %d unexpected\n",
			fsum.CheckedPackages, fsum.UncheckedPackages, fsum.Modified, fsum.Missing, fsum.Unexpected)
	}
	return verdict
}

// printEnvFiles prints the file audit of one package, indented under it.
func printEnvFiles(w io.Writer, f *client.EnvFiles) {
	if !f.Checked {
		fmt.Fprintf(w, "  files NOT CHECKED: %s\n", f.Reason)
		return
	}
	if len(f.Findings) == 0 {
		fmt.Fprintf(w, "  files OK: %d path(s) as the archive installs them (%s)\n", f.Paths, f.Archive)
		return
	}
	fmt.Fprintf(w, "  files: %d path(s) checked against %s: %d modified, %d missing, %d unexpected\n",
		f.Paths, f.Archive, f.Modified, f.Missing, f.Unexpected)
	for _, x := range f.Findings {
		fmt.Fprintf(w, "  %-10s %s: %s\n", strings.ToUpper(string(x.Status)), x.Path, x.Reason)
	}
}
