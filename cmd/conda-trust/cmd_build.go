package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// buildOpts are the flags shared by "root init", "root next", "key-mgr
// init" and "key-mgr next".
type buildOpts struct {
	rootKeys, keyMgrKeys, pkgMgrKeys []string
	rootThreshold, keyMgrThreshold   int
	pkgMgrThreshold                  int
	version                          int64
	expires, timestamp, out          string
	force                            bool
}

func (o *buildOpts) addCommon(fs *pflag.FlagSet) {
	fs.Int64Var(&o.version, "version", 0, "version number (default 1 for init, trusted+1 for next)")
	fs.StringVar(&o.expires, "expires", "365d", "expiry: a duration from the timestamp (365d, 8760h) or an RFC 3339 time")
	fs.StringVar(&o.timestamp, "timestamp", "", "issue time, RFC 3339 (default now)")
	fs.StringVarP(&o.out, "output", "o", "", "file to write (required)")
	fs.BoolVar(&o.force, "force", false, "overwrite the output file if it exists")
}

// parseExpiry accepts "365d", a Go duration such as "8760h", or an RFC
// 3339 time.
func parseExpiry(s string, from time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return from.AddDate(0, 0, n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return from.Add(d), nil
	}
	return time.Time{}, usageError("--expires %q: use a duration such as 365d or 8760h, or an RFC 3339 time such as 2027-01-01T00:00:00Z", s)
}

func parseKeys(flag string, args []string) ([]trust.PublicKey, error) {
	var keys []trust.PublicKey
	for _, a := range args {
		for _, part := range strings.Split(a, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			k, err := signer.ParsePublicKeyArg(part)
			if err != nil {
				return nil, usageError("--%s: %v", flag, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func (o *buildOpts) times() (time.Time, time.Time, error) {
	ts := time.Now().UTC()
	if o.timestamp != "" {
		t, err := time.Parse(time.RFC3339, o.timestamp)
		if err != nil {
			return ts, ts, usageError("--timestamp %q: use an RFC 3339 time", o.timestamp)
		}
		ts = t
	}
	ex, err := parseExpiry(o.expires, ts)
	return ts, ex, err
}

func delegation(flag string, args []string, threshold int, fallback *trust.Delegation) (trust.Delegation, error) {
	if len(args) == 0 {
		if fallback != nil {
			d := *fallback
			if threshold > 0 {
				d.Threshold = threshold
			}
			return d, nil
		}
		return trust.Delegation{}, usageError("--%s is required: give at least one public key (64 hex or a .pub file)", flag)
	}
	keys, err := parseKeys(flag, args)
	if err != nil {
		return trust.Delegation{}, err
	}
	if threshold < 1 {
		if fallback == nil {
			return trust.Delegation{}, usageError("the threshold for --%s must be at least 1", flag)
		}
		threshold = fallback.Threshold
	}
	return trust.Delegation{Keys: keys, Threshold: threshold}, nil
}

// writeNewMetadata writes an unsigned document, refusing to replace a file
// unless --force.
func writeNewMetadata(cmd *cobra.Command, o *buildOpts, env *trust.Envelope) error {
	if o.out == "" {
		return usageError("-o FILE is required")
	}
	if fi, err := os.Stat(o.out); err == nil && fi.IsDir() {
		return usageError("-o %s is a directory: give a file name, such as %s", o.out, filepath.Join(o.out, "1.root.json"))
	}
	if !o.force {
		if _, err := os.Lstat(o.out); err == nil {
			return withHint(fmt.Errorf("%s already exists", o.out), "use another -o, or --force to replace it")
		}
	}
	if err := atomicfile.WriteFile(o.out, env.Marshal(), 0o644); err != nil {
		return err
	}
	m, err := trust.MetadataFromEnvelope(env, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (unsigned %s, expires %s: %s after its timestamp)\n",
		o.out, m.Name(), trust.FormatTime(m.Expiration), span(m.Expiration.Sub(m.Timestamp)))
	for _, role := range []string{trust.RoleRoot, trust.RoleKeyMgr, trust.RolePkgMgr} {
		if d, ok := m.Delegations[role]; ok {
			fmt.Fprintf(cmd.OutOrStdout(), "  delegates %s to %d key(s), threshold %d\n", role, len(d.Keys), d.Threshold)
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "next: conda-trust sign-metadata %s --key KEY.pri (by each signer in turn)\n", o.out)
	return nil
}

// write builds the document from the flags and writes it unsigned.
func (o *buildOpts) write(cmd *cobra.Command, typ string, dels map[string]trust.Delegation) error {
	ts, ex, err := o.times()
	if err != nil {
		return err
	}
	env, err := trust.Build(trust.Params{Type: typ, Version: o.version, Timestamp: ts, Expiration: ex, Delegations: dels})
	if err != nil {
		return buildErr(err)
	}
	return writeNewMetadata(cmd, o, env)
}

func buildErr(err error) error {
	var u *usageErr
	if errors.As(err, &u) {
		return err
	}
	return usageError("%v", err)
}

func init() {
	register(func() *cobra.Command {
		parent := &cobra.Command{
			Use:   "root",
			Short: "Create root metadata (init) or its next version (next)",
		}
		parent.AddCommand(newRootInitCmd(), newRootNextCmd())
		return parent
	})
	register(func() *cobra.Command {
		parent := &cobra.Command{
			Use:   "key-mgr",
			Short: "Create key_mgr metadata (init) or its next version (next)",
		}
		parent.AddCommand(newKeyMgrInitCmd(), newKeyMgrNextCmd())
		return parent
	})
}

func newRootInitCmd() *cobra.Command {
	o := &buildOpts{}
	cmd := &cobra.Command{
		Use:   "init --root-key K... [--root-threshold N] --key-mgr-key K... [--key-mgr-threshold N] -o FILE",
		Short: "Write an unsigned root (version 1 unless --version)",
		Long: `Write an unsigned root metadata document. It delegates "root" (who may sign
this and the next root) and "key_mgr" (who may sign key_mgr.json).

K is a public key: 64 hex characters or the path of a .pub file. Repeat the
flag, or separate keys with commas. Then have a threshold of the root keys
sign it with sign-metadata; roots get OpenPGP-style signatures, which conda
requires.`,
		Example: `  conda-trust root init --root-key root1.pub --root-key root2.pub --root-threshold 2 \
      --key-mgr-key key_mgr.pub --expires 365d -o 1.root.json`,
		Args: exactArgs(0, "no positional arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rd, err := delegation("root-key", o.rootKeys, o.rootThreshold, nil)
			if err != nil {
				return err
			}
			kd, err := delegation("key-mgr-key", o.keyMgrKeys, o.keyMgrThreshold, nil)
			if err != nil {
				return err
			}
			if o.version == 0 {
				o.version = 1
			}
			return o.write(cmd, trust.RoleRoot, map[string]trust.Delegation{trust.RoleRoot: rd, trust.RoleKeyMgr: kd})
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.rootKeys, "root-key", nil, "root public key (repeatable)")
	fs.IntVar(&o.rootThreshold, "root-threshold", 1, "root signatures required")
	fs.StringArrayVar(&o.keyMgrKeys, "key-mgr-key", nil, "key_mgr public key (repeatable)")
	fs.IntVar(&o.keyMgrThreshold, "key-mgr-threshold", 1, "key_mgr signatures required")
	o.addCommon(fs)
	return cmd
}

func newRootNextCmd() *cobra.Command {
	o := &buildOpts{}
	cmd := &cobra.Command{
		Use:   "next TRUSTED_ROOT [--root-key K...] [--key-mgr-key K...] -o FILE",
		Short: "Write the next root version (trusted+1), unsigned, to rotate keys",
		Long: `Write root version N+1 after TRUSTED_ROOT (version N). Keys and thresholds not
given are carried over. The new root must be signed by a threshold of the OLD
root keys and by a threshold of its NEW root keys: clients check both.`,
		Example: `  # rotate root key 1 to root3, keeping threshold 2
  conda-trust root next 1.root.json --root-key root2.pub --root-key root3.pub \
      --root-threshold 2 -o 2.root.json
  conda-trust sign-metadata 2.root.json --key root1.pri --key root2.pri --key root3.pri`,
		Args: exactArgs(1, "TRUSTED_ROOT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			prev, err := loadMetadata(args[0], trust.RoleRoot)
			if err != nil {
				return err
			}
			oldRoot, oldKM := prev.Delegations[trust.RoleRoot], prev.Delegations[trust.RoleKeyMgr]
			rd, err := delegation("root-key", o.rootKeys, o.rootThreshold, &oldRoot)
			if err != nil {
				return err
			}
			kd, err := delegation("key-mgr-key", o.keyMgrKeys, o.keyMgrThreshold, &oldKM)
			if err != nil {
				return err
			}
			if o.version == 0 {
				o.version = prev.Version + 1
			} else if o.version != prev.Version+1 {
				return usageError("--version %d: the next root after v%d must be v%d (clients refuse skipped versions)", o.version, prev.Version, prev.Version+1)
			}
			return o.write(cmd, trust.RoleRoot, map[string]trust.Delegation{trust.RoleRoot: rd, trust.RoleKeyMgr: kd})
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.rootKeys, "root-key", nil, "new root public key (repeatable; default: keep)")
	fs.IntVar(&o.rootThreshold, "root-threshold", 0, "root signatures required (default: keep)")
	fs.StringArrayVar(&o.keyMgrKeys, "key-mgr-key", nil, "new key_mgr public key (repeatable; default: keep)")
	fs.IntVar(&o.keyMgrThreshold, "key-mgr-threshold", 0, "key_mgr signatures required (default: keep)")
	o.addCommon(fs)
	return cmd
}

func newKeyMgrInitCmd() *cobra.Command {
	o := &buildOpts{}
	cmd := &cobra.Command{
		Use:   "init --pkg-mgr-key K... [--threshold N] -o FILE",
		Short: "Write an unsigned key_mgr delegating to pkg_mgr keys",
		Long: `Write an unsigned key_mgr metadata document delegating "pkg_mgr": the keys
that sign package records in repodata.json. Then have a threshold of the
root's key_mgr keys sign it (raw signatures).`,
		Example: `  conda-trust key-mgr init --pkg-mgr-key pkg_mgr.pub -o key_mgr.json
  conda-trust sign-metadata key_mgr.json --key key_mgr.pri`,
		Args: exactArgs(0, "no positional arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pd, err := delegation("pkg-mgr-key", o.pkgMgrKeys, o.pkgMgrThreshold, nil)
			if err != nil {
				return err
			}
			if o.version == 0 {
				o.version = 1
			}
			return o.write(cmd, trust.RoleKeyMgr, map[string]trust.Delegation{trust.RolePkgMgr: pd})
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.pkgMgrKeys, "pkg-mgr-key", nil, "pkg_mgr public key (repeatable)")
	fs.IntVar(&o.pkgMgrThreshold, "threshold", 1, "package signatures required per record")
	o.addCommon(fs)
	return cmd
}

func newKeyMgrNextCmd() *cobra.Command {
	o := &buildOpts{}
	cmd := &cobra.Command{
		Use:   "next TRUSTED_KEY_MGR [--pkg-mgr-key K...] [--threshold N] -o FILE",
		Short: "Write the next key_mgr version (to rotate pkg_mgr keys), unsigned",
		Long: `Write key_mgr version N+1 after TRUSTED_KEY_MGR. Keys and threshold not given
are carried over. Clients refuse a key_mgr older than one they have seen, so
always publish a higher version.`,
		Example: `  conda-trust key-mgr next key_mgr.json --pkg-mgr-key pkg_mgr2.pub -o key_mgr.new.json`,
		Args:    exactArgs(1, "TRUSTED_KEY_MGR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			prev, err := loadMetadata(args[0], trust.RoleKeyMgr)
			if err != nil {
				return err
			}
			old := prev.Delegations[trust.RolePkgMgr]
			pd, err := delegation("pkg-mgr-key", o.pkgMgrKeys, o.pkgMgrThreshold, &old)
			if err != nil {
				return err
			}
			if o.version == 0 {
				o.version = prev.Version + 1
			} else if o.version <= prev.Version {
				return usageError("--version %d: must be higher than v%d, or clients refuse it as a rollback", o.version, prev.Version)
			}
			return o.write(cmd, trust.RoleKeyMgr, map[string]trust.Delegation{trust.RolePkgMgr: pd})
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.pkgMgrKeys, "pkg-mgr-key", nil, "new pkg_mgr public key (repeatable; default: keep)")
	fs.IntVar(&o.pkgMgrThreshold, "threshold", 0, "package signatures required (default: keep)")
	o.addCommon(fs)
	return cmd
}

// span words a validity period as a person would: "365 days", "36 hours".
func span(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	}
	return d.String()
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
