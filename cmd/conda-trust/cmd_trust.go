package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/trust"
)

// clientOpts are the flags shared by the verbs that use the trust store:
// trust add|list|remove|update, fetch and verify-env.
type clientOpts struct {
	trustDir            string
	at                  string
	allowExpired        bool
	allowKeyMgrRollback bool
	timeout             time.Duration
}

func (o *clientOpts) addStore(fs *pflag.FlagSet) {
	fs.StringVar(&o.trustDir, "trust-dir", "", "trust store folder (default $"+client.TrustDirEnv+", else condatrust/trust in the user config folder)")
}

func (o *clientOpts) addPolicy(fs *pflag.FlagSet) {
	addPolicyFlags(fs, &o.at, &o.allowExpired)
}

func (o *clientOpts) addNetwork(fs *pflag.FlagSet) {
	fs.BoolVar(&o.allowKeyMgrRollback, "allow-key-mgr-rollback", false, "accept a key_mgr older than the stored one, for this run only (reported loudly; not stored)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up on a server that does not answer or stops sending for this long")
}

func (o *clientOpts) store() (*client.Store, error) {
	dir := o.trustDir
	if dir == "" {
		d, err := client.DefaultStoreDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return &client.Store{Dir: dir}, nil
}

func (o *clientOpts) policy() (trust.Options, error) {
	at, err := parseAt(o.at)
	return trust.Options{At: at, AllowExpired: o.allowExpired}, err
}

func (o *clientOpts) client() (*client.Client, error) {
	st, err := o.store()
	if err != nil {
		return nil, err
	}
	pol, err := o.policy()
	if err != nil {
		return nil, err
	}
	if o.timeout <= 0 {
		return nil, usageError("--timeout must be positive")
	}
	return &client.Client{
		Fetcher:             client.NewFetcher(client.HTTPOptions{Timeout: o.timeout, IdleTimeout: o.timeout, UserAgent: "conda-trust"}),
		Store:               st,
		Policy:              pol,
		AllowKeyMgrRollback: o.allowKeyMgrRollback,
	}, nil
}

// channelArg accepts a channel URL, or a local folder taken as file://.
func channelArg(s string) (string, error) {
	if !strings.Contains(s, "://") {
		u, err := client.FileURL(s)
		if err != nil {
			return "", err
		}
		s = u
	}
	n, err := client.NormalizeURL(s)
	if err != nil {
		return "", usageError("%v", err)
	}
	return n, nil
}

// interruptible returns a context cancelled on Ctrl-C, so that a
// download in progress removes its temporary file.
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt)
}

// ruleHints say, per refusal rule, what the user can do. docs/client.md
// has the same list.
var ruleHints = map[trust.Rule]string{
	trust.RuleThreshold:       "not enough valid signatures by the keys the channel's trusted metadata authorizes: the file was changed or signed by another key; do not use it, and tell the channel's operator",
	trust.RuleVersion:         "the channel published a root that is not exactly the next version of the pinned one (skipped, rolled back or replaced); tell the channel's operator",
	trust.RuleExpired:         "the metadata has expired and the channel must publish fresh metadata; --allow-expired accepts it anyway, loudly (for forensics only)",
	trust.RuleRollback:        "older metadata than this machine has already seen (a replay or a stale mirror); --allow-key-mgr-rollback accepts it for this run only",
	trust.RuleUnsigned:        "the record carries no signature; --allow-unsigned accepts it, checked only against its own unsigned record",
	trust.RuleArtifactHash:    "the downloaded bytes are not those the signed record describes (replaced, truncated or corrupted); nothing was written",
	trust.RuleDelegation:      "the channel's metadata lacks a delegation conda content trust requires",
	trust.RuleType:            "a file has the wrong metadata type for its role; the channel is misconfigured",
	trust.RuleSpecVersion:     "the channel's metadata uses an unsupported spec version",
	client.RuleMissing:        "the channel publishes no key_mgr.json at its metadata URL (check --metadata-url of trust add), or none is stored for offline use (run trust update)",
	client.RuleRecordMismatch: "the signed record describes another file (name, version, build or subdir differ): a record moved under another name",
}

// clientHint adds what to do to a client error.
func clientHint(err error) error {
	if err == nil {
		return nil
	}
	var le *client.LegacySignatureError
	switch {
	case errors.As(err, &le):
		switch {
		case errors.Is(err, legacysign.ErrKeyNotPinned):
			return withHint(err, "trust a conda sign key for this channel with --legacy-key NAME (or --legacy-channel-keys FILE) only if you know it belongs to the channel's owner")
		case errors.Is(err, legacysign.ErrKeyNotInstalled):
			return withHint(err, "install the channel owner's public key NAME.pub in the legacy key folder (--legacy-keys-dir, default ~/.conda/keys)")
		case errors.Is(err, legacysign.ErrSignatureMissing):
			return withHint(err, "the channel has no FILE.sig for this package: it is not signed with conda sign")
		}
		return withHint(err, "the package's conda sign signature does not verify: do not use it")
	case errors.Is(err, client.ErrNotPinned):
		return withHint(err, "pin the channel first: conda-trust trust add CHANNEL_URL --root ROOT_FILE\nwith a root file obtained from the channel's operator, not downloaded from the channel")
	case errors.Is(err, client.ErrTooLarge):
		return withHint(err, "the server sent more than conda-trust accepts for this kind of file; the channel is misconfigured or hostile")
	case errors.Is(err, client.ErrStalled):
		return withHint(err, "the server stopped answering; retry later, or raise --timeout")
	case errors.Is(err, client.ErrTooManyRoots):
		return withHint(err, "run the command again to continue the walk")
	case errors.Is(err, client.ErrNotFound):
		return withHint(err, "the channel has no such file or record: check the channel URL, SUBDIR and FILENAME")
	}
	if h, ok := ruleHints[client.RuleOf(err)]; ok {
		return withHint(err, "%s", h)
	}
	return err
}

func init() {
	register(func() *cobra.Command {
		parent := &cobra.Command{
			Use:   "trust",
			Short: "Pin channel roots and keep them up to date (add, list, remove, update)",
			Long: `Manage the trust store: for each channel, the root you pinned, every newer
root verified since, and the last verified key_mgr.

The store is $` + client.TrustDirEnv + `, or condatrust/trust in your user
configuration folder; --trust-dir overrides both. One folder per channel
holds channel.json, N.root.json files and key_mgr.json.`,
		}
		parent.AddCommand(newTrustAddCmd(), newTrustListCmd(), newTrustRemoveCmd(), newTrustUpdateCmd())
		return parent
	})
}

func newTrustAddCmd() *cobra.Command {
	o := &clientOpts{}
	var rootFile, metaURL string
	cmd := &cobra.Command{
		Use:   "add CHANNEL_URL --root ROOT_FILE [--metadata-url URL]",
		Short: "Pin a channel's initial root, given as a file you trust",
		Long: `Pin ROOT_FILE as the trusted root of CHANNEL_URL. The root must be signed by a
threshold of its own root keys and must not have expired.

Get ROOT_FILE from the channel's operator by a way you trust (their
website over HTTPS, a signed release, in person): a root downloaded from
the channel itself proves nothing, so conda-trust never trusts one on its
own. Newer roots are then fetched and verified against this one by
'trust update', 'fetch' and 'verify-env'.

Root and key_mgr files are fetched from CHANNEL_URL unless --metadata-url
sets them apart (conda's signing_metadata_url_base). CHANNEL_URL may be
file://, http:// or https://, or a local folder.

` + exitCodeHelp,
		Example: `  conda-trust trust add https://conda.example.com/main --root 1.root.json
  conda-trust trust add ./channel --root keys-from-operator/1.root.json
  conda-trust trust add https://conda.example.com/main --root 1.root.json \
      --metadata-url https://conda.example.com/trust`,
		Args: exactArgs(1, "CHANNEL_URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootFile == "" {
				return usageError("--root ROOT_FILE is required: the root you obtained from the channel's operator")
			}
			ch, err := channelArg(args[0])
			if err != nil {
				return err
			}
			if metaURL != "" {
				if metaURL, err = channelArg(metaURL); err != nil {
					return err
				}
			}
			st, err := o.store()
			if err != nil {
				return err
			}
			pol, err := o.policy()
			if err != nil {
				return err
			}
			data, err := readInput(rootFile)
			if err != nil {
				return err
			}
			added, rep, err := st.Add(ch, metaURL, data, pol)
			if rep != nil {
				warn(cmd.ErrOrStderr(), rep.Warnings)
			}
			if err != nil {
				return clientHint(fmt.Errorf("%s: root NOT pinned: %w", rootFile, err))
			}
			root, err := added.Root(pol)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "pinned %s for %s\n", root.Name(), added.URL)
			d := root.Delegations[trust.RoleRoot]
			fmt.Fprintf(w, "  %d root key(s), threshold %d; expires %s\n", len(d.Keys), d.Threshold, trust.FormatTime(root.Expiration))
			if added.MetadataURL != added.URL {
				fmt.Fprintf(w, "  metadata from %s\n", added.MetadataURL)
			}
			fmt.Fprintf(w, "  stored in %s\n", added.Dir)
			fmt.Fprintf(w, "next: conda-trust trust update %s\n", added.URL)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&rootFile, "root", "", "the root metadata file to pin (required)")
	fs.StringVar(&metaURL, "metadata-url", "", "where N.root.json and key_mgr.json live (default: the channel URL)")
	o.addStore(fs)
	o.addPolicy(fs)
	return cmd
}

type trustListJSON struct {
	Channel       string  `json:"channel"`
	MetadataURL   string  `json:"metadata_url"`
	Dir           string  `json:"dir"`
	RootVersion   int64   `json:"root_version,omitempty"`
	RootExpires   string  `json:"root_expires,omitempty"`
	KeyMgrVersion int64   `json:"key_mgr_version,omitempty"`
	KeyMgrExpires string  `json:"key_mgr_expires,omitempty"`
	Error         string  `json:"error,omitempty"`
	RootsOnDisk   []int64 `json:"roots_on_disk"`
}

func newTrustListCmd() *cobra.Command {
	o := &clientOpts{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List pinned channels with their root and key_mgr versions",
		Long: `List every pinned channel: its newest root (re-verified against its own keys)
and the stored key_mgr, with expiry times. Nothing is fetched.`,
		Args: exactArgs(0, "no positional arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.store()
			if err != nil {
				return err
			}
			chs, err := st.Channels()
			if err != nil {
				return err
			}
			out := []trustListJSON{}
			for _, ch := range chs {
				j := trustListJSON{Channel: ch.URL, MetadataURL: ch.MetadataURL, Dir: ch.Dir, RootsOnDisk: []int64{}}
				if vs, err := ch.RootVersions(); err == nil {
					j.RootsOnDisk = append(j.RootsOnDisk, vs...)
				}
				root, err := ch.Root(trust.Options{})
				if err != nil {
					j.Error = err.Error()
				} else {
					j.RootVersion, j.RootExpires = root.Version, trust.FormatTime(root.Expiration)
				}
				if km, err := ch.StoredKeyMgr(); err != nil {
					j.Error = err.Error()
				} else if km != nil {
					j.KeyMgrVersion, j.KeyMgrExpires = km.Version, trust.FormatTime(km.Expiration)
				}
				out = append(out, j)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			if len(out) == 0 {
				fmt.Fprintf(w, "no channel pinned in %s\n", st.Dir)
				fmt.Fprintf(w, "pin one with: conda-trust trust add CHANNEL_URL --root ROOT_FILE\n")
				return nil
			}
			for _, j := range out {
				fmt.Fprintf(w, "%s\n", j.Channel)
				if j.MetadataURL != j.Channel {
					fmt.Fprintf(w, "  metadata  %s\n", j.MetadataURL)
				}
				if j.RootVersion > 0 {
					fmt.Fprintf(w, "  root      v%d, expires %s\n", j.RootVersion, j.RootExpires)
				}
				if j.KeyMgrVersion > 0 {
					fmt.Fprintf(w, "  key_mgr   v%d, expires %s\n", j.KeyMgrVersion, j.KeyMgrExpires)
				} else if j.Error == "" {
					fmt.Fprintf(w, "  key_mgr   none yet (run: conda-trust trust update %s)\n", j.Channel)
				}
				if j.Error != "" {
					fmt.Fprintf(w, "  ERROR     %s\n", j.Error)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	o.addStore(cmd.Flags())
	return cmd
}

func newTrustRemoveCmd() *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "remove CHANNEL_URL",
		Short: "Forget a channel: its pinned roots and key_mgr",
		Args:  exactArgs(1, "CHANNEL_URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch, err := channelArg(args[0])
			if err != nil {
				return err
			}
			st, err := o.store()
			if err != nil {
				return err
			}
			if err := st.Remove(ch); err != nil {
				return clientHint(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s from the trust store\n", ch)
			return nil
		},
	}
	o.addStore(cmd.Flags())
	return cmd
}

type trustUpdateJSON struct {
	Channel        string   `json:"channel"`
	Trusted        bool     `json:"trusted"`
	RootsAdded     []int64  `json:"roots_added"`
	RootVersion    int64    `json:"root_version,omitempty"`
	KeyMgrVersion  int64    `json:"key_mgr_version,omitempty"`
	PreviousKeyMgr int64    `json:"previous_key_mgr_version,omitempty"`
	Warnings       []string `json:"warnings"`
	Rule           string   `json:"rule,omitempty"`
	Error          string   `json:"error,omitempty"`
}

func newTrustUpdateCmd() *cobra.Command {
	o := &clientOpts{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update [CHANNEL_URL] [--json]",
		Short: "Fetch and verify newer roots and key_mgr.json (every pinned channel when none is named)",
		Long: `Walk the channel's root chain: fetch N+1.root.json after the newest trusted
root N until there is none, requiring each to be exactly the next version and
signed by a threshold of the previous root's keys AND of its own; store each.
Then fetch key_mgr.json and verify it against the newest root. The newest
root and key_mgr must not have expired; a key_mgr older than the stored one
is refused.

A root that fails is refused with its reason; it is never skipped, and the
roots verified before it stay stored.

` + exitCodeHelp,
		Example: `  conda-trust trust update https://conda.example.com/main
  conda-trust trust update --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			var urls []string
			if len(args) == 1 {
				ch, err := channelArg(args[0])
				if err != nil {
					return err
				}
				urls = []string{ch}
			} else {
				chs, err := c.Store.Channels()
				if err != nil {
					return err
				}
				for _, ch := range chs {
					urls = append(urls, ch.URL)
				}
				if len(urls) == 0 {
					return withHint(fmt.Errorf("no channel pinned in %s", c.Store.Dir), "pin one with: conda-trust trust add CHANNEL_URL --root ROOT_FILE")
				}
			}
			ctx, cancel := interruptible(cmd)
			defer cancel()
			var results []trustUpdateJSON
			var firstErr error
			for _, u := range urls {
				st, err := c.Update(ctx, u)
				j := trustUpdateJSON{Channel: u, Trusted: err == nil, RootsAdded: []int64{}, Warnings: []string{}}
				if st != nil {
					j.RootsAdded = append(j.RootsAdded, st.RootsAdded...)
					j.Warnings = append(j.Warnings, st.Warnings...)
					j.PreviousKeyMgr = st.PreviousKeyMgr
					if st.Root != nil {
						j.RootVersion = st.Root.Version
					}
					if st.KeyMgr != nil {
						j.KeyMgrVersion = st.KeyMgr.Version
					}
				}
				if err != nil {
					j.Rule, j.Error = string(client.RuleOf(err)), err.Error()
					if firstErr == nil {
						firstErr = err
					}
				}
				results = append(results, j)
				if !asJSON {
					printUpdate(cmd.OutOrStdout(), cmd.ErrOrStderr(), j, st)
				}
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), results); err != nil {
					return err
				}
				if firstErr != nil {
					return &silent{firstErr}
				}
				return nil
			}
			if firstErr != nil && len(urls) > 1 {
				return fmt.Errorf("%d channel(s) not updated: %w", countErrs(results), firstErr)
			}
			return clientHint(firstErr)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	o.addStore(fs)
	o.addPolicy(fs)
	o.addNetwork(fs)
	return cmd
}

func countErrs(rs []trustUpdateJSON) int {
	n := 0
	for _, r := range rs {
		if r.Error != "" {
			n++
		}
	}
	return n
}

func printUpdate(w, errw io.Writer, j trustUpdateJSON, st *client.State) {
	warn(errw, j.Warnings)
	for _, v := range j.RootsAdded {
		fmt.Fprintf(w, "%s: root v%d verified and stored\n", j.Channel, v)
	}
	if j.Error != "" {
		return
	}
	fmt.Fprintf(w, "%s: trusted: root v%d (expires %s), key_mgr v%d (expires %s)",
		j.Channel, j.RootVersion, trust.FormatTime(st.Root.Expiration), j.KeyMgrVersion, trust.FormatTime(st.KeyMgr.Expiration))
	if j.PreviousKeyMgr != 0 && j.PreviousKeyMgr != j.KeyMgrVersion {
		fmt.Fprintf(w, ", was key_mgr v%d", j.PreviousKeyMgr)
	}
	fmt.Fprintln(w)
	if d, ok := st.KeyMgr.Delegations[trust.RolePkgMgr]; ok {
		fmt.Fprintf(w, "  package records need %d of %d pkg_mgr key(s)\n", d.Threshold, len(d.Keys))
	}
}
