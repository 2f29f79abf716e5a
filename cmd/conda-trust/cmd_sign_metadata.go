package main

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

type signMetadataOpts struct {
	keys        []string
	raw, pgp    bool
	fingerprint string
	created     string
	seeAlso     bool
}

func init() {
	register(func() *cobra.Command {
		o := &signMetadataOpts{}
		cmd := &cobra.Command{
			Use:   "sign-metadata FILE --key PRIVATE_KEY_FILE [--key ...]",
			Short: "Add signatures to root or key_mgr metadata, in place",
			Long: `Add one signature per --key to FILE and rewrite it atomically in canonical
form. Existing signatures by other keys are kept, so offline key holders can
sign in turn, each on their own machine, passing the file along. A key that
already signed is re-signed (its entry replaced).

The form follows what conda requires: OpenPGP-style signatures for root
metadata (made from the raw seed, no gpg needed), raw Ed25519 signatures for
key_mgr and pkg_mgr. --raw or --openpgp force a form.

OpenPGP-style signatures carry an issuer fingerprint and a creation time.
They are not checked by any verifier; by default the fingerprint is the
first 20 bytes of SHA-256 of the public key and the time is now. Give
--fingerprint (the key's real GnuPG v4 fingerprint) and --created to match
a GnuPG-held key or to produce reproducible bytes.

The private key file may be 64 hex characters (as keygen writes), 32 raw
bytes, or a PKCS#8 PEM key. Key material is never printed.`,
			Example: `  conda-trust sign-metadata 1.root.json --key root1.pri     # on root holder 1's machine
  conda-trust sign-metadata 1.root.json --key root2.pri     # then on holder 2's
  conda-trust sign-metadata key_mgr.json --key key_mgr.pri`,
			Args: exactArgs(1, "the metadata FILE"),
			RunE: func(cmd *cobra.Command, args []string) error { return runSignMetadata(cmd, o, args[0]) },
		}
		fs := cmd.Flags()
		fs.StringArrayVar(&o.keys, "key", nil, "private key file (repeatable)")
		fs.BoolVar(&o.raw, "raw", false, "force raw Ed25519 signatures")
		fs.BoolVar(&o.pgp, "openpgp", false, "force OpenPGP-style signatures")
		fs.StringVar(&o.fingerprint, "fingerprint", "", "40-hex issuer fingerprint for OpenPGP-style signatures (one --key only)")
		fs.StringVar(&o.created, "created", "", "creation time of OpenPGP-style signatures, RFC 3339 (default now)")
		fs.BoolVar(&o.seeAlso, "see-also", false, `add the fingerprint as "see_also" to OpenPGP-style entries`)
		return cmd
	})
}

func runSignMetadata(cmd *cobra.Command, o *signMetadataOpts, path string) error {
	if len(o.keys) == 0 {
		return usageError("--key is required: give the private key file of each signer")
	}
	if o.raw && o.pgp {
		return usageError("--raw and --openpgp exclude each other")
	}
	var pgpOpts signer.OpenPGPOptions
	pgpOpts.SeeAlso = o.seeAlso
	if o.fingerprint != "" {
		if len(o.keys) != 1 {
			return usageError("--fingerprint names one key's fingerprint: give exactly one --key with it")
		}
		b, err := hex.DecodeString(o.fingerprint)
		if err != nil || len(b) != 20 {
			return usageError("--fingerprint %q: want 40 hex characters", o.fingerprint)
		}
		var fp [20]byte
		copy(fp[:], b)
		pgpOpts.Fingerprint = &fp
	}
	if o.created != "" {
		t, err := time.Parse(time.RFC3339, o.created)
		if err != nil {
			return usageError("--created %q: use an RFC 3339 time", o.created)
		}
		pgpOpts.Created = t
	}
	m, err := loadMetadata(path, "")
	if err != nil {
		return err
	}
	form := signer.FormFor(m.Type)
	switch {
	case o.raw:
		form = trust.FormRaw
	case o.pgp:
		form = trust.FormOpenPGP
	}
	if form != signer.FormFor(m.Type) {
		fmt.Fprintf(cmd.ErrOrStderr(), "conda-trust: warning: %s signatures on %s metadata are not accepted by conda or conda-content-trust\n", form, m.Type)
	}
	env := m.Envelope
	for _, kf := range o.keys {
		k, err := signer.ReadKeyFile(kf)
		if err != nil {
			return withHint(err, "--key takes a private key file such as one written by 'conda-trust keygen'")
		}
		if err := signer.SignEnvelope(env, k, form, pgpOpts); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "signed %s with key %s (%s)%s\n", m.Name(), k.Public(), form, authorizedNote(m, k.Public()))
	}
	if err := atomicfile.WriteFile(path, env.Marshal(), 0o644); err != nil {
		return err
	}
	if m.Type == trust.RoleRoot {
		r := trust.CheckThreshold(env, m.Delegations[trust.RoleRoot], trust.ModeOpenPGP)
		state := "met"
		if !r.Met() {
			state = "NOT met yet"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %d of %d signatures from its own root keys: threshold %s\n", path, len(r.Valid), r.Threshold, state)
	}
	return nil
}

// authorizedNote tells a root signer whether their key is one of the
// root's own keys (otherwise it can only count for the previous root).
func authorizedNote(m *trust.Metadata, k trust.PublicKey) string {
	if m.Type != trust.RoleRoot {
		return ""
	}
	if m.Delegations[trust.RoleRoot].Has(k) {
		return ""
	}
	return "; note: not one of this root's own root keys, so it counts only toward the previous root's threshold"
}
