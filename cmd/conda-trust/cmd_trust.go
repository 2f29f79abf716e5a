package main

import (
	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/client"
)

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
