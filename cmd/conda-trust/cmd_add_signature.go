package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

type addSignatureOpts struct {
	gpgSig, key       string
	previous, root    string
	seeAlso, force    bool
	seeAlsoWasChanged bool
}

func init() {
	register(func() *cobra.Command {
		o := &addSignatureOpts{}
		cmd := &cobra.Command{
			Use:   "add-signature FILE SIG... | add-signature FILE --gpg-sig SIG --key PUBLIC_KEY",
			Short: "Add detached signatures, or one made by GnuPG (smartcard, YubiKey), to metadata, in place",
			Long: `Add signatures made elsewhere to FILE, after checking each one, and rewrite
FILE atomically in canonical form. Two kinds of signature are taken.

Detached signature files (positional SIG arguments), as written by
'conda-trust sign-metadata FILE --key KEY --detached -o SIG' on a key
holder's own machine, so that holders exchange only signatures, never the
metadata they signed. For each SIG:
  1. its signed_sha256 must be the SHA-256 of FILE's canonical signed bytes
     ('conda-trust signable FILE'): a SIG made over other bytes (FILE
     changed since, or another file) is refused before anything else;
  2. each signature in it must verify over those bytes under its key id
     (the key id is the public key);
  3. each key must be able to count for FILE, by the same rule as
     sign-metadata (root v1: its own root keys; root vN: its own or the
     previous root's, --previous or N-1.root.json next to FILE; key_mgr:
     the key the root delegates key_mgr to, --root or the newest
     N.root.json next to FILE); --force adds such a signature anyway,
     loudly.
All SIG files are checked first; if any is refused, nothing is written.
Then all their signatures are added in one write (an entry by a key that
already signed is replaced) and each threshold's state is reported.

A GnuPG detached signature (--gpg-sig SIG --key PUBLIC_KEY) over
'conda-trust signable FILE' is converted into a conda OpenPGP-style entry
and added after checking that it verifies. This is how root keys that never
leave a smartcard sign roots. SIG is the output of 'gpg --detach-sign
--digest-algo SHA256' (binary or --armor) made with an Ed25519 key.
PUBLIC_KEY is that key: the file written by 'gpg --export [--armor]
FINGERPRINT', a .pub file or 64 hex characters. When the signature names its
issuer, it must match the key's fingerprint.

Exit codes:
  0  added and written
  1  a signature does not verify over FILE's signed bytes, or its key
     cannot count for FILE; nothing was written
  2  usage error
  3  FILE, a SIG or a key cannot be read or is not what it must be;
     nothing was written`,
			Example: `  # detached: each holder signs on their own machine, the files are merged
  conda-trust sign-metadata 1.root.json --key root1.pri --detached -o root1.sig.json
  conda-trust sign-metadata 1.root.json --key root2.pri --detached -o root2.sig.json
  conda-trust add-signature 1.root.json root1.sig.json root2.sig.json

  # GnuPG
  conda-trust signable 2.root.json -o 2.root.signable
  gpg --detach-sign --digest-algo SHA256 -u 917ADB684E2E9FB5ED4E59909DDD19A1268B62D0 2.root.signable
  gpg --export --armor 917ADB684E2E9FB5ED4E59909DDD19A1268B62D0 > root1.asc
  conda-trust add-signature 2.root.json --gpg-sig 2.root.signable.sig --key root1.asc`,
			Args: func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return usageError("%s takes the metadata FILE and the detached signature files SIG...\nrun '%s --help' for usage", cmd.CommandPath(), cmd.CommandPath())
				}
				return nil
			},
			RunE: func(cmd *cobra.Command, args []string) error {
				o.seeAlsoWasChanged = cmd.Flags().Changed("see-also")
				if o.gpgSig != "" || o.key != "" {
					if len(args) != 1 {
						return usageError("--gpg-sig adds one GnuPG signature; give detached signature files (SIG...) in a separate run")
					}
					if o.gpgSig == "" || o.key == "" {
						return usageError("--gpg-sig and --key are both required for a GnuPG signature; a detached signature file (SIG) names its keys itself")
					}
					return runAddGPGSignature(cmd, o, args[0])
				}
				if len(args) < 2 {
					return usageError("give at least one detached signature file SIG after FILE (or --gpg-sig SIG --key PUBLIC_KEY for a GnuPG signature)")
				}
				if o.seeAlsoWasChanged {
					return usageError("--see-also applies to --gpg-sig; a detached signature file's entries are added as they were made")
				}
				return runAddDetached(cmd, o, args[0], args[1:])
			},
		}
		fs := cmd.Flags()
		fs.StringVar(&o.gpgSig, "gpg-sig", "", "detached GnuPG signature file")
		fs.StringVar(&o.key, "key", "", "with --gpg-sig: the signer's public key: gpg --export file, .pub file or 64 hex")
		fs.BoolVar(&o.seeAlso, "see-also", true, `with --gpg-sig: record the signer's fingerprint as "see_also"`)
		fs.StringVar(&o.previous, "previous", "", "for root vN (N>1): the previous root, whose root keys may also sign (default N-1.root.json next to FILE)")
		fs.StringVar(&o.root, "root", "", "for key_mgr: the root that delegates key_mgr (default the newest N.root.json next to FILE)")
		fs.BoolVar(&o.force, "force", false, "add a signature whose key cannot count for FILE (reported loudly)")
		return cmd
	})
}

// checkAddKey applies sign-metadata's rule (trust.CheckSigningKey) to a
// signature made elsewhere: the key must be able to count for m, unless
// --force, which returns why it cannot.
func checkAddKey(o *addSignatureOpts, m *trust.Metadata, auth authority, path, what string, pub trust.PublicKey) (trust.SigningKey, string, error) {
	check, err := trust.CheckSigningKey(m, pub, auth.md)
	var ve *trust.VerificationError
	switch {
	case err == nil:
		return check, "", nil
	case errors.As(err, &ve) && o.force:
		return check, err.Error(), nil
	case errors.As(err, &ve):
		return check, "", withHint(fmt.Errorf("%s: %s: %w; nothing was written", path, what, err), "%s", signingKeyHint(m, auth, ve))
	default:
		return check, "", withHint(fmt.Errorf("%s: %w", auth.path, err), "%s", authorityHint(m))
	}
}

// readDetached reads and parses a detached signature file, reading no
// more than trust.MaxDetachedSize+1 bytes.
func readDetached(path string) (*trust.Detached, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, withHint(err, "check the path; conda-trust reads the file as given")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, trust.MaxDetachedSize+1))
	if err != nil {
		return nil, err
	}
	d, err := trust.ParseDetached(data)
	if err != nil {
		return nil, withHint(fmt.Errorf("%s: %w", path, err), "a detached signature file is written by 'conda-trust sign-metadata FILE --key KEY --detached -o SIG'")
	}
	return d, nil
}

func runAddDetached(cmd *cobra.Command, o *addSignatureOpts, path string, sigPaths []string) error {
	m, err := loadMetadata(path, "")
	if err != nil {
		return err
	}
	auth, err := signingAuthority(&signMetadataOpts{root: o.root, previous: o.previous}, m, path)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	type adding struct {
		file  string
		key   trust.PublicKey
		sig   trust.Signature
		check trust.SigningKey
		force string
	}
	// Every SIG is read and checked before anything is added.
	var adds []adding
	for _, sp := range sigPaths {
		d, err := readDetached(sp)
		if err != nil {
			return err
		}
		if !d.Matches(m.Envelope) {
			return withHint(fmt.Errorf("%s: made over other bytes than %s (%s): its signed_sha256 is %x, not the SHA-256 of the file's signed bytes; nothing was written: %w",
				sp, path, m.Name(), d.SignedSHA256, errUntrusted),
				"the signature is for another document or for %s as it was before it changed; sign the file as it is now", path)
		}
		if d.Type != m.Type || d.Version != m.Version {
			return fmt.Errorf("%s: says %s v%d, but its signed_sha256 is that of %s (%s); nothing was written", sp, d.Type, d.Version, path, m.Name())
		}
		for _, s := range d.Signatures {
			k, err := trust.ParsePublicKey(s.KeyID)
			if err != nil { // ParseDetached checked it
				return fmt.Errorf("%s: %w", sp, err)
			}
			mode := trust.ModeRaw
			if s.Form == trust.FormOpenPGP {
				mode = trust.ModeOpenPGP
			}
			if !trust.SignatureValid(m.Envelope, s, mode) {
				return withHint(fmt.Errorf("%s: the %s signature of key %s does not verify over %s's signed bytes; nothing was written: %w", sp, s.Form, k, path, errUntrusted),
					"the signature file was changed or made with another key than the one it names; ask its holder to sign again")
			}
			check, force, err := checkAddKey(o, m, auth, path, fmt.Sprintf("%s: key %s", sp, k), k)
			if err != nil {
				return err
			}
			adds = append(adds, adding{file: sp, key: k, sig: s, check: check, force: force})
		}
	}
	for _, a := range adds {
		if err := m.Envelope.SetSignature(a.key, a.sig); err != nil {
			return fmt.Errorf("%s: %w", a.file, err)
		}
	}
	if err := atomicfile.WriteFile(path, m.Envelope.Marshal(), 0o644); err != nil {
		return err
	}
	// Written: now say what was done.
	out := cmd.OutOrStdout()
	for _, a := range adds {
		if a.force != "" {
			fmt.Fprintf(stderr, "conda-trust: WARNING: --force: added the signature of key %s to %s although it cannot count: %s\n", a.key.Short(), path, a.force)
		}
		if a.check.Unchecked {
			fmt.Fprintf(stderr, "conda-trust: warning: key %s of %s was not checked: %s; give %s to check that it delegates %s to this key\n",
				a.key.Short(), a.file, auth.missing, authorityFlag(m), m.Type)
		}
		if a.sig.Form != signer.FormFor(m.Type) {
			fmt.Fprintf(stderr, "conda-trust: warning: %s signatures on %s metadata are not accepted by conda or conda-content-trust\n", a.sig.Form, m.Type)
		}
		fmt.Fprintf(out, "added the signature of key %s from %s to %s (%s, %s)%s\n", a.key, a.file, path, m.Name(), a.sig.Form, countsNote(m, a.check))
	}
	printThresholds(out, path, metadataThresholds(m, auth.md))
	return nil
}

func runAddGPGSignature(cmd *cobra.Command, o *addSignatureOpts, path string) error {
	sigPath, keyArg := o.gpgSig, o.key
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
	m, err := loadMetadata(path, "")
	if err != nil {
		return err
	}
	// The same rule as sign-metadata: a key whose signature cannot count
	// for this document is refused before anything is written
	// (trust.CheckSigningKey).
	auth, err := signingAuthority(&signMetadataOpts{root: o.root, previous: o.previous}, m, path)
	if err != nil {
		return err
	}
	check, force, err := checkAddKey(o, m, auth, path, "--key "+keyArg, pub)
	if err != nil {
		return err
	}
	if force != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "conda-trust: WARNING: --force: adding the signature of key %s to %s although it cannot count: %s\n", pub.Short(), path, force)
	}
	if check.Unchecked {
		fmt.Fprintf(cmd.ErrOrStderr(), "conda-trust: warning: --key %s was not checked: %s; give %s to check that it delegates %s to this key\n",
			keyArg, auth.missing, authorityFlag(m), m.Type)
	}
	if err := signer.AddGPGSignature(m.Envelope, pub, g, o.seeAlso); err != nil {
		return withHint(fmt.Errorf("%s: %w", sigPath, err), "the signature must cover the bytes of 'conda-trust signable %s', unchanged since", path)
	}
	if err := atomicfile.WriteFile(path, m.Envelope.Marshal(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "added the GnuPG signature of key %s to %s (%s)%s\n", pub, path, m.Name(), authorizedNote(m, pub))
	return nil
}
