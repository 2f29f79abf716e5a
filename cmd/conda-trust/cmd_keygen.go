package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/signer"
)

func init() {
	register(func() *cobra.Command {
		var dir string
		cmd := &cobra.Command{
			Use:   "keygen NAME [--dir DIR]",
			Short: "Create an Ed25519 key pair: NAME.pri (secret, mode 0600) and NAME.pub",
			Long: `Create a new Ed25519 key pair for a content-trust role (root, key_mgr or
pkg_mgr) and print its public key, which is the key's identifier in metadata.

NAME.pri holds the 32-byte seed as 64 lowercase hex characters and a newline,
with mode 0600; it is never printed and never overwritten. NAME.pub holds the
public key as 64 hex characters and a newline. Both forms are read by
conda-content-trust's sign-artifacts as well.

Keep root and key_mgr keys offline: generate them on the machine that will
keep them, and copy only the .pub files.`,
			Example: `  conda-trust keygen root1 --dir ~/offline-keys
  conda-trust keygen pkg_mgr --dir /etc/condatrust/keys`,
			Args: exactArgs(1, "one key NAME"),
			RunE: func(cmd *cobra.Command, args []string) error {
				pub, err := signer.GenerateKeyFiles(dir, args[0])
				if errors.Is(err, signer.ErrKeyExists) {
					return withHint(err, "keys are never overwritten; pick a new NAME or --dir")
				}
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), pub)
				return nil
			},
		}
		cmd.Flags().StringVar(&dir, "dir", ".", "directory for the key files (created with mode 0700 if missing)")
		return cmd
	})
}
