package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/signer"
)

// keygenJSON is keygen's --json result (docs/json.md).
type keygenJSON struct {
	Name           string `json:"name"`
	PublicKey      string `json:"public_key"`
	PrivateKeyFile string `json:"private_key_file"`
	PrivateKeyMode string `json:"private_key_mode"`
	PublicKeyFile  string `json:"public_key_file"`
	PublicKeyMode  string `json:"public_key_mode"`
}

// fileMode is path's permission bits as four octal digits ("0600"), read
// back from the file system rather than assumed.
func fileMode(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%04o", fi.Mode().Perm())
}

func init() {
	register(func() *cobra.Command {
		var dir string
		var asJSON bool
		cmd := &cobra.Command{
			Use:   "keygen NAME [--dir DIR] [--json]",
			Short: "Create an Ed25519 key pair: NAME.pri (secret, mode 0600) and NAME.pub",
			Long: `Create a new Ed25519 key pair for a content-trust role (root, key_mgr or
pkg_mgr) and print its public key, which is the key's identifier in metadata;
stderr names the two files written and their modes.

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
				name := args[0]
				out := keygenJSON{Name: name, PublicKey: pub.String(),
					PrivateKeyFile: filepath.Join(dir, name+".pri"), PublicKeyFile: filepath.Join(dir, name+".pub")}
				out.PrivateKeyMode, out.PublicKeyMode = fileMode(out.PrivateKeyFile), fileMode(out.PublicKeyFile)
				if asJSON {
					return printJSON(cmd.OutOrStdout(), out)
				}
				fmt.Fprintln(cmd.OutOrStdout(), pub)
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (secret, mode %s: keep it offline for root and key_mgr) and %s (public, mode %s)\n",
					out.PrivateKeyFile, out.PrivateKeyMode, out.PublicKeyFile, out.PublicKeyMode)
				return nil
			},
		}
		cmd.Flags().BoolVar(&asJSON, "json", false, "print the public key and the files written as JSON")
		cmd.Flags().StringVar(&dir, "dir", ".", "directory for the key files (created with mode 0700 if missing)")
		return cmd
	})
}
