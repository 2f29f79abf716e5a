package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/signer"
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
	register(func() *cobra.Command {
		var sigPath, keyArg, previous, rootFile string
		var seeAlso, force bool
		cmd := &cobra.Command{
			Use:   "add-signature FILE --gpg-sig SIG --key PUBLIC_KEY",
			Short: "Add a signature made by GnuPG (smartcard, YubiKey) to root metadata, in place",
			Long: `Convert a GnuPG detached signature over 'conda-trust signable FILE' into a
conda OpenPGP-style signature entry and add it to FILE, after checking that it
verifies. This is how root keys that never leave a smartcard sign roots.

SIG is the output of 'gpg --detach-sign --digest-algo SHA256' (binary or
--armor) made with an Ed25519 key. PUBLIC_KEY is that key: the file written by
'gpg --export [--armor] FINGERPRINT', a .pub file or 64 hex characters. When
the signature names its issuer, it must match the key's fingerprint.`,
			Example: `  conda-trust signable 2.root.json -o 2.root.signable
  gpg --detach-sign --digest-algo SHA256 -u 917ADB684E2E9FB5ED4E59909DDD19A1268B62D0 2.root.signable
  gpg --export --armor 917ADB684E2E9FB5ED4E59909DDD19A1268B62D0 > root1.asc
  conda-trust add-signature 2.root.json --gpg-sig 2.root.signable.sig --key root1.asc`,
			Args: exactArgs(1, "the metadata FILE"),
			RunE: func(cmd *cobra.Command, args []string) error {
				if sigPath == "" || keyArg == "" {
					return usageError("--gpg-sig and --key are both required")
				}
				pub, err := signer.ParsePublicKeyArg(keyArg)
				if err != nil {
					return usageError("--key: %v", err)
				}
				raw, err := readInput(sigPath)
				if err != nil {
					return err
				}
				g, err := signer.ParseGPGSignature(raw)
				if err != nil {
					return withHint(fmt.Errorf("%s: %w", sigPath, err), "make it with: gpg --detach-sign --digest-algo SHA256 -u KEY FILE.signable")
				}
				if kd, err := os.ReadFile(keyArg); err == nil && g.HasIssuer {
					if gk, err := signer.ParseGPGPublicKey(kd); err == nil && gk.Fingerprint != g.Issuer {
						return fmt.Errorf("%s was made by key %X, but --key %s is %X", sigPath, g.Issuer, keyArg, gk.Fingerprint)
					}
				}
				m, err := loadMetadata(args[0], "")
				if err != nil {
					return err
				}
				// The same rule as sign-metadata: a key whose signature
				// cannot count for this document is refused before anything
				// is written (trust.CheckSigningKey).
				auth, err := signingAuthority(&signMetadataOpts{root: rootFile, previous: previous}, m, args[0])
				if err != nil {
					return err
				}
				check, err := trust.CheckSigningKey(m, pub, auth.md)
				var ve *trust.VerificationError
				switch {
				case err == nil:
				case errors.As(err, &ve) && force:
					fmt.Fprintf(cmd.ErrOrStderr(), "conda-trust: WARNING: --force: adding the signature of key %s to %s although it cannot count: %v\n", pub.Short(), args[0], err)
				case errors.As(err, &ve):
					return withHint(fmt.Errorf("%s: --key %s: %w; nothing was written", args[0], keyArg, err), "%s", signingKeyHint(m, auth, ve))
				default:
					return withHint(fmt.Errorf("%s: %w", auth.path, err), "%s", authorityHint(m))
				}
				if check.Unchecked {
					fmt.Fprintf(cmd.ErrOrStderr(), "conda-trust: warning: --key %s was not checked: %s; give %s to check that it delegates %s to this key\n",
						keyArg, auth.missing, authorityFlag(m), m.Type)
				}
				if err := signer.AddGPGSignature(m.Envelope, pub, g, seeAlso); err != nil {
					return withHint(fmt.Errorf("%s: %w", sigPath, err), "the signature must cover the bytes of 'conda-trust signable %s', unchanged since", args[0])
				}
				if err := atomicfile.WriteFile(args[0], m.Envelope.Marshal(), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added the GnuPG signature of key %s to %s (%s)%s\n", pub, args[0], m.Name(), authorizedNote(m, pub))
				return nil
			},
		}
		cmd.Flags().StringVar(&sigPath, "gpg-sig", "", "detached GnuPG signature file")
		cmd.Flags().StringVar(&keyArg, "key", "", "the signer's public key: gpg --export file, .pub file or 64 hex")
		cmd.Flags().BoolVar(&seeAlso, "see-also", true, `record the signer's fingerprint as "see_also"`)
		cmd.Flags().StringVar(&previous, "previous", "", "for root vN (N>1): the previous root, whose root keys may also sign (default N-1.root.json next to FILE)")
		cmd.Flags().StringVar(&rootFile, "root", "", "for key_mgr: the root that delegates key_mgr (default the newest N.root.json next to FILE)")
		cmd.Flags().BoolVar(&force, "force", false, "add a signature whose key cannot count for FILE (reported loudly)")
		return cmd
	})
}
