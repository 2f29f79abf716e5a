package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// trustRemoveJSON is remove's --json result (docs/json.md).
type trustRemoveJSON struct {
	Channel string `json:"channel"`
	Removed bool   `json:"removed"`
}

func newTrustRemoveCmd() *cobra.Command {
	o := &clientOpts{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "remove CHANNEL_URL [--json]",
		Short: "Forget a channel: its pinned roots and key_mgr",
		Long: `Forget CHANNEL_URL: its pinned roots and stored key_mgr are deleted from the
trust store. Pin it again with 'conda-trust add CHANNEL_URL --root FILE'.

` + trustStoreHelp,
		Example: `  conda-trust remove https://conda.example.com/main
  conda trust remove https://conda.example.com/main    # the same, through conda`,
		Args: exactArgs(1, "CHANNEL_URL"),
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
			if asJSON {
				return printJSON(cmd.OutOrStdout(), trustRemoveJSON{Channel: ch, Removed: true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s from the trust store\n", ch)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	o.addStore(cmd.Flags())
	return cmd
}
