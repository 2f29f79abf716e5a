package main

import (
	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/client"
)

// trustStoreHelp is the part of each trust-store verb's help that says
// where the store is.
const trustStoreHelp = `The trust store is $` + client.TrustDirEnv + `, or condatrust/trust in your user
configuration folder; --trust-dir overrides both. One folder per channel
holds channel.json, N.root.json files and key_mgr.json.`

// The trust-store verbs are top level, so that conda, which runs
// "conda trust X" as "conda-trust X", reads naturally: conda trust add,
// conda trust list, conda trust remove, conda trust update. The earlier
// spelling "conda-trust trust add" stays as a hidden alias, built from the
// same constructors, so scripts written for it keep working.
func init() {
	register(newTrustAddCmd)
	register(newTrustListCmd)
	register(newTrustRemoveCmd)
	register(newTrustUpdateCmd)
	register(func() *cobra.Command {
		parent := &cobra.Command{
			Use:    "trust",
			Short:  "Hidden alias: conda-trust trust add|list|remove|update",
			Hidden: true,
			Long: `Old spelling of the trust-store verbs, kept for scripts: use
conda-trust add, list, remove and update (conda trust add, ... through conda).

` + trustStoreHelp,
		}
		parent.AddCommand(newTrustAddCmd(), newTrustListCmd(), newTrustRemoveCmd(), newTrustUpdateCmd())
		return parent
	})
}
