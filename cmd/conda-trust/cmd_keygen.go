package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/signer"
)

// keygenJSON is keygen's --json result (docs/json.md).
type keygenJSON struct {
	Name           string `json:"name"`
	PublicKey      string `json:"public_key"`
	PrivateKeyFile string `json:"private_key_file,omitempty"`
	PrivateKeyMode string `json:"private_key_mode,omitempty"`
	// PrivateKeyRef names the key in its token (keygen --key pkcs11:...),
	// where it was created; no private key file is written then.
	PrivateKeyRef string `json:"private_key_ref,omitempty"`
	PublicKeyFile string `json:"public_key_file"`
	PublicKeyMode string `json:"public_key_mode"`
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
		var dir, keyRef string
		var asJSON bool
		cmd := &cobra.Command{
			Use:   "keygen NAME [--dir DIR] [--key pkcs11:URI] [--json]",
			Short: "Create an Ed25519 key pair: NAME.pri (secret, mode 0600) and NAME.pub, or in a PKCS#11 token",
			Long: `Create a new Ed25519 key pair for a content-trust role (root, key_mgr or
pkg_mgr) and print its public key, which is the key's identifier in metadata;
stderr names the two files written and their modes.

NAME.pri holds the 32-byte seed as 64 lowercase hex characters and a newline,
with mode 0600; it is never printed and never overwritten. NAME.pub holds the
public key as 64 hex characters and a newline. Both forms are read by
conda-content-trust's sign-artifacts as well.

Keep root and key_mgr keys offline: generate them on the machine that will
keep them, and copy only the .pub files.

With --key pkcs11:URI the key pair is created inside a PKCS#11 token (an HSM,
a smartcard, SoftHSM2) with Ed25519 key generation: the private key is marked
sensitive and not extractable and never leaves the token; only NAME.pub is
written. The URI (RFC 7512) names the token, the new key's label (object=)
and optionally its id (id=, else 16 random bytes), the module (module-path=)
and where the PIN is read from (pin-source=file:PATH, a file only you can
read; or $CONDATRUST_PKCS11_PIN; or a prompt on a terminal). It is refused if
the token already holds an object with that label or id. stderr prints the
reference to give signing verbs (--key, --sign-key). Needs a build with
PKCS#11 support (make build).`,
			Example: `  conda-trust keygen root1 --dir ~/offline-keys
  conda-trust keygen pkg_mgr --dir /etc/condatrust/keys
  conda-trust keygen pkg_mgr --dir keys \
    --key 'pkcs11:token=channel-hsm;object=pkg_mgr?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/condatrust/hsm.pin'`,
			Args: exactArgs(1, "one key NAME"),
			RunE: func(cmd *cobra.Command, args []string) error {
				if keyRef != "" {
					return keygenInToken(cmd, dir, args[0], keyRef, asJSON)
				}
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
		cmd.Flags().StringVar(&keyRef, "key", "", "create the key pair inside a PKCS#11 token (pkcs11:URI) and write only NAME.pub")
		cmd.Flags().StringVar(&dir, "dir", ".", "directory for the key files (created with mode 0700 if missing)")
		return cmd
	})
}

// keygenInToken is keygen --key pkcs11:URI: the pair is made in the token,
// only NAME.pub is written.
func keygenInToken(cmd *cobra.Command, dir, name, ref string, asJSON bool) error {
	if scheme, _, _ := strings.Cut(ref, ":"); !strings.EqualFold(scheme, "pkcs11") {
		if strings.EqualFold(scheme, "gpg") {
			return usageError("--key %s: GnuPG makes its own keys: gpg --quick-gen-key 'NAME <EMAIL>' ed25519 sign (or keytocard for a smartcard), then give root init --root-key the exported .asc and sign-metadata --key gpg:FINGERPRINT", ref)
		}
		return usageError("--key %s: keygen creates keys in PKCS#11 tokens (pkcs11:URI); for a key file, leave --key out", ref)
	}
	pub, newRef, err := signer.GenerateTokenKey(dir, name, ref)
	if errors.Is(err, signer.ErrKeyExists) {
		return withHint(err, "keys are never overwritten; pick a new NAME or --dir")
	}
	if err != nil {
		return err
	}
	out := keygenJSON{Name: name, PublicKey: pub.String(), PrivateKeyRef: newRef, PublicKeyFile: filepath.Join(dir, name+".pub")}
	out.PublicKeyMode = fileMode(out.PublicKeyFile)
	if asJSON {
		return printJSON(cmd.OutOrStdout(), out)
	}
	fmt.Fprintln(cmd.OutOrStdout(), pub)
	fmt.Fprintf(cmd.ErrOrStderr(), "created the key pair in the token; its private key never leaves it. Sign with:\n  --key '%s'\nwrote %s (public, mode %s)\n",
		newRef, out.PublicKeyFile, out.PublicKeyMode)
	return nil
}
