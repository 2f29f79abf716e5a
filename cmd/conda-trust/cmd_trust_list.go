package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/trust"
)

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
and the stored key_mgr, with expiry times. Nothing is fetched.

` + trustStoreHelp,
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
				root, err := ch.Root()
				if err == nil {
					_, err = trust.NewChain(root, trust.Options{})
				}
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
				fmt.Fprintf(w, "pin one with: conda-trust add CHANNEL_URL --root ROOT_FILE\n")
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
					fmt.Fprintf(w, "  key_mgr   none yet (run: conda-trust update %s)\n", j.Channel)
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
