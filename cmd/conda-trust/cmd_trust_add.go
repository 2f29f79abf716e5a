package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/trust"
)

// trustAddJSON is add's --json result (docs/json.md).
type trustAddJSON struct {
	Channel       string   `json:"channel"`
	MetadataURL   string   `json:"metadata_url"`
	Dir           string   `json:"dir"`
	RootVersion   int64    `json:"root_version"`
	RootExpires   string   `json:"root_expires"`
	RootKeys      int      `json:"root_keys"`
	RootThreshold int      `json:"root_threshold"`
	Warnings      []string `json:"warnings"`
}

func newTrustAddCmd() *cobra.Command {
	o := &clientOpts{}
	var rootFile, metaURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add CHANNEL_URL --root ROOT_FILE [--metadata-url URL] [--json]",
		Short: "Pin a channel's initial root, given as a file you trust",
		Long: `Pin ROOT_FILE as the trusted root of CHANNEL_URL. The root must be signed by a
threshold of its own root keys and must not have expired.

Get ROOT_FILE from the channel's operator by a way you trust (their
website over HTTPS, a signed release, in person): a root downloaded from
the channel itself proves nothing, so conda-trust never trusts one on its
own. Newer roots are then fetched and verified against this one by
'conda-trust update', 'fetch' and 'verify-env'.

Root and key_mgr files are fetched from CHANNEL_URL unless --metadata-url
sets them apart (conda's signing_metadata_url_base). CHANNEL_URL may be
file://, http:// or https://, or a local folder.

` + trustStoreHelp + `

` + exitCodeHelp,
		Example: `  conda-trust add https://conda.example.com/main --root 1.root.json
  conda trust add https://conda.example.com/main --root 1.root.json   # the same, through conda
  conda-trust add ./channel --root keys-from-operator/1.root.json
  conda-trust add https://conda.example.com/main --root 1.root.json \
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
			// The file must be a root before the store looks at it: a key_mgr
			// or a key file given as --root is a wrong input, not a refusal.
			if _, err := loadMetadata(rootFile, trust.RoleRoot); err != nil {
				return err
			}
			data, err := readInput(rootFile)
			if err != nil {
				return err
			}
			added, rep, err := st.Add(ch, metaURL, data, pol)
			var repWarnings []string
			if rep != nil {
				repWarnings = rep.Warnings
				warn(cmd.ErrOrStderr(), rep.Warnings)
			}
			if err != nil {
				err = fmt.Errorf("%s: root NOT pinned: %w", rootFile, err)
				if client.RuleOf(err) == trust.RuleRollback {
					return withHint(err, "this machine already trusts a newer root of %s; newer roots come through 'conda-trust update'. To start over from this root, run 'conda-trust remove %s' first", ch, ch)
				}
				return clientHint(err)
			}
			root, err := added.Root()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			d := root.Delegations[trust.RoleRoot]
			if asJSON {
				return printJSON(w, trustAddJSON{
					Channel: added.URL, MetadataURL: added.MetadataURL, Dir: added.Dir,
					RootVersion: root.Version, RootExpires: trust.FormatTime(root.Expiration),
					RootKeys: len(d.Keys), RootThreshold: d.Threshold,
					Warnings: nonNil(repWarnings),
				})
			}
			fmt.Fprintf(w, "pinned %s for %s\n", root.Name(), added.URL)
			fmt.Fprintf(w, "  %d root key(s), threshold %d; expires %s\n", len(d.Keys), d.Threshold, trust.FormatTime(root.Expiration))
			if added.MetadataURL != added.URL {
				fmt.Fprintf(w, "  metadata from %s\n", added.MetadataURL)
			}
			fmt.Fprintf(w, "  stored in %s\n", added.Dir)
			fmt.Fprintf(w, "next: conda-trust update %s\n", added.URL)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&rootFile, "root", "", "the root metadata file to pin (required)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.StringVar(&metaURL, "metadata-url", "", "where N.root.json and key_mgr.json live (default: the channel URL)")
	o.addStore(fs)
	o.addPolicy(fs)
	return cmd
}
