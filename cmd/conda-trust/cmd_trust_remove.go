package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

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
