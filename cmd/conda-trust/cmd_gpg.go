package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/trust"
)

func init() {
	register(func() *cobra.Command {
		var out string
		cmd := &cobra.Command{
			Use:   "signable FILE [-o OUT]",
			Short: "Write the exact bytes that signatures of a metadata file cover",
			Long: `Write the canonical bytes of FILE's "signed" part: what raw signatures sign and
what OpenPGP-style signatures hash. Use it to sign with a key that lives
elsewhere, such as a GnuPG key on a smartcard:

  conda-trust signable 2.root.json -o 2.root.signable
  gpg --detach-sign --digest-algo SHA256 -u FINGERPRINT 2.root.signable
  conda-trust add-signature 2.root.json --gpg-sig 2.root.signable.sig --key root.asc

Without -o the bytes go to standard output (there is no trailing newline).`,
			Args: exactArgs(1, "the metadata FILE"),
			RunE: func(cmd *cobra.Command, args []string) error {
				data, err := readInput(args[0])
				if err != nil {
					return err
				}
				env, err := trust.ParseEnvelope(data)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				if out == "" {
					_, err := cmd.OutOrStdout().Write(env.SignedBytes())
					return err
				}
				return atomicfile.WriteFile(out, env.SignedBytes(), 0o644)
			},
		}
		cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default standard output)")
		return cmd
	})
}
