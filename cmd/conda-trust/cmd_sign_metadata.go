package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
	root        string
	previous    string
	force       bool
	json        bool
	detached    bool
	output      string
}

func init() {
	register(func() *cobra.Command {
		o := &signMetadataOpts{}
		cmd := &cobra.Command{
			Use:   "sign-metadata FILE --key KEY_REF [--key ...] [--previous ROOT | --root ROOT] [--detached -o SIG] [--force] [--json]",
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

A key whose signature cannot count is refused before anything is signed,
and nothing is written:
  root v1       a key that is not one of its own root keys;
  root vN       a key that is neither one of its own root keys nor one of
                the root keys of the previous root vN-1, which is
                --previous FILE or N-1.root.json next to FILE (a new root
                must be signed by a threshold of both; without the
                previous root, only its own root keys are accepted);
  key_mgr       a key that the root does not delegate key_mgr to (the root
                is --root FILE, or the newest N.root.json next to FILE;
                without one the key cannot be checked and stderr says
                so), and always one of its own pkg_mgr keys;
  pkg_mgr       a key that key_mgr.json next to FILE does not delegate
                pkg_mgr to.
--force signs anyway, with a warning: the signature counts toward no
threshold. The file is written before success is reported; then each
threshold the document is checked against is reported.

With --detached, FILE is not changed: only the new signatures are written,
to the file -o names, as a small JSON document (key id, signature and, for
OpenPGP-style signatures, other_headers, with the SHA-256 of the exact bytes
signed). Key holders on separate offline machines then exchange only these
files; 'conda-trust add-signature FILE SIG...' checks and merges them. The
same checks apply as without --detached, and the thresholds are not
reported (FILE has not changed). docs/ceremony.md shows a root ceremony.

--key takes a private key file (PATH or file:PATH), which may be 64 hex
characters (as keygen writes), 32 raw bytes, or a PKCS#8 PEM key, or
gpg:FINGERPRINT: a GnuPG Ed25519 key (its 40-hex v4 fingerprint), which
signs through the running gpg agent (a smartcard works). GnuPG makes
OpenPGP-style signatures only, which conda accepts on root metadata only:
gpg: keys sign roots, never key_mgr or pkg_mgr. A pkcs11:URI (RFC 7512)
is an Ed25519 key in a PKCS#11 token (HSM, smartcard, SoftHSM2), which signs
every role: pkcs11:token=T;object=LABEL?module-path=MODULE&pin-source=file:PIN
(the PIN is read from that file, or $CONDATRUST_PKCS11_PIN, or asked on a
terminal; never given on the command line). Key material is never printed.

Exit codes:
  0  signed and written (FILE, or with --detached the SIG file)
  1  a --key cannot count for FILE; nothing was written
  2  usage error
  3  FILE, a key, --root or --previous cannot be read or is not what it
     must be; nothing was written`,
			Example: `  conda-trust sign-metadata 1.root.json --key root1.pri     # on root holder 1's machine
  conda-trust sign-metadata 1.root.json --key root2.pri     # then on holder 2's
  conda-trust sign-metadata 2.root.json --key old-root1.pri --previous 1.root.json
  conda-trust sign-metadata 2.root.json --key gpg:0123456789ABCDEF0123456789ABCDEF01234567   # through the gpg agent
  conda-trust sign-metadata key_mgr.json --key key_mgr.pri --root channel/2.root.json
  conda-trust sign-metadata key_mgr.json --root channel/2.root.json \
    --key 'pkcs11:token=hsm;object=key_mgr?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:hsm.pin' 
  conda-trust sign-metadata 2.root.json --key root3.pri --detached -o root3.sig.json   # FILE unchanged
  conda-trust add-signature 2.root.json root3.sig.json                                  # later, merged`,
			Args: exactArgs(1, "the metadata FILE"),
			RunE: func(cmd *cobra.Command, args []string) error { return runSignMetadata(cmd, o, args[0]) },
		}
		fs := cmd.Flags()
		fs.StringArrayVar(&o.keys, "key", nil, "private key: a key file, pkcs11:URI (a key in a token) or gpg:FINGERPRINT for a GnuPG root key (repeatable)")
		fs.BoolVar(&o.raw, "raw", false, "force raw Ed25519 signatures")
		fs.BoolVar(&o.pgp, "openpgp", false, "force OpenPGP-style signatures")
		fs.StringVar(&o.fingerprint, "fingerprint", "", "40-hex issuer fingerprint for OpenPGP-style signatures (one --key only)")
		fs.StringVar(&o.created, "created", "", "creation time of OpenPGP-style signatures, RFC 3339 (default now)")
		fs.BoolVar(&o.seeAlso, "see-also", false, `add the fingerprint as "see_also" to OpenPGP-style entries`)
		fs.StringVar(&o.previous, "previous", "", "for root vN: the previous root vN-1, whose root keys may also sign (default: N-1.root.json next to FILE)")
		fs.StringVar(&o.root, "root", "", "for key_mgr: the root that delegates key_mgr (default: the newest N.root.json next to FILE)")
		fs.BoolVar(&o.force, "force", false, "sign with a key that cannot count for FILE (reported loudly)")
		fs.BoolVar(&o.detached, "detached", false, "write only the new signatures, to -o SIG; FILE is not changed (merge with add-signature)")
		fs.StringVarP(&o.output, "output", "o", "", "with --detached: the signature file to write")
		fs.BoolVar(&o.json, "json", false, "print the result as JSON on stdout (see docs/json.md)")
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
	switch {
	case o.detached && o.output == "":
		return usageError("--detached writes the signatures to a file of their own: give -o SIG")
	case !o.detached && o.output != "":
		return usageError("-o is for --detached; without it FILE itself is signed in place")
	case o.detached && filepath.Clean(o.output) == filepath.Clean(path):
		return usageError("-o %s: --detached leaves FILE unchanged; name another file for the signatures", o.output)
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
	authority, err := signingAuthority(o, m, path)
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
	stderr := cmd.ErrOrStderr()
	if form != signer.FormFor(m.Type) {
		fmt.Fprintf(stderr, "conda-trust: warning: %s signatures on %s metadata are not accepted by conda or conda-content-trust\n", form, m.Type)
	}
	// Every key is read and checked before anything is signed.
	type signing struct {
		file  string
		key   signer.Signer
		check trust.SigningKey
		force string // why the signature cannot count, when --force signs anyway
	}
	var signings []signing
	for _, kf := range o.keys {
		k, err := signer.Open(kf)
		if err != nil {
			return keyRefError(err, kf, "--key takes a private key file such as one written by 'conda-trust keygen', a key in a PKCS#11 token (pkcs11:URI), or gpg:FINGERPRINT for a root key held by GnuPG")
		}
		defer signer.Close(k)
		if g, ok := k.(*signer.GPGKey); ok {
			if form == trust.FormRaw {
				return usageError("--key %s: %v", kf, signer.CheckRaw(g))
			}
			if o.fingerprint != "" || o.created != "" {
				return usageError("--key %s: gpg signs with the key's own fingerprint and the current time; --fingerprint and --created are for key files", kf)
			}
		}
		sg := signing{file: kf, key: k}
		sg.check, err = trust.CheckSigningKey(m, k.Public(), authority.md)
		var ve *trust.VerificationError
		switch {
		case err == nil:
		case errors.As(err, &ve) && o.force:
			sg.force = err.Error()
		case errors.As(err, &ve):
			return withHint(fmt.Errorf("%s: --key %s: %w; nothing was written", path, kf, err), "%s", signingKeyHint(m, authority, ve))
		default:
			return withHint(fmt.Errorf("%s: %w", authority.path, err), "%s", authorityHint(m))
		}
		signings = append(signings, sg)
	}
	env := m.Envelope
	for _, sg := range signings {
		if err := signer.SignEnvelope(env, sg.key, form, pgpOpts); err != nil {
			return err
		}
	}
	written := path
	if o.detached {
		keys := make([]trust.PublicKey, len(signings))
		for i, sg := range signings {
			keys[i] = sg.key.Public()
		}
		d, err := trust.NewDetached(m, keys)
		if err != nil {
			return err
		}
		written = o.output
		if err := atomicfile.WriteFile(written, append(d.Marshal(), '\n'), 0o644); err != nil {
			return err
		}
	} else if err := atomicfile.WriteFile(path, env.Marshal(), 0o644); err != nil {
		return err
	}
	// Written: now say what was done.
	res := signMetadataJSON{File: path, Type: m.Type, Version: m.Version, SignedBy: []signedByJSON{},
		Signatures: len(env.Signatures()), Thresholds: []thresholdJSON{}}
	for _, sg := range signings {
		pub := sg.key.Public()
		if sg.force != "" {
			fmt.Fprintf(stderr, "conda-trust: WARNING: --force: signed %s with key %s although it cannot count: %s\n", path, pub.Short(), sg.force)
		}
		if sg.check.Unchecked {
			fmt.Fprintf(stderr, "conda-trust: warning: --key %s was not checked: %s; give %s to check that it delegates %s to this key\n",
				sg.file, authority.missing, authorityFlag(m), m.Type)
		}
		res.SignedBy = append(res.SignedBy, signedByJSON{Key: pub.String(), Form: form.String(), CountsFor: append([]string{}, sg.check.CountsFor...), Forced: sg.force != ""})
		if !o.json {
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s with key %s (%s)%s\n", m.Name(), pub, form, countsNote(m, sg.check))
		}
	}
	if o.detached {
		res.Detached = written
		res.Signatures = len(signings)
		if !o.json {
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d detached signature(s) to %s; %s was not changed: merge with 'conda-trust add-signature %s %s'\n",
				len(signings), written, path, path, written)
		}
	} else {
		res.Thresholds = append(res.Thresholds, metadataThresholds(m, authority.md)...)
		if !o.json {
			printThresholds(cmd.OutOrStdout(), path, res.Thresholds)
		}
	}
	if o.json {
		return printJSON(cmd.OutOrStdout(), res)
	}
	return nil
}

// authority is the document that delegates the role that signs a
// metadata file (trust.CheckSigningKey), where it was found, or why not.
type authority struct {
	md      *trust.Metadata
	path    string
	missing string // why md is nil, in words
}

// signingAuthority finds the document that decides which keys may sign m:
// for root vN, the previous root (--previous or N-1.root.json next to
// it); for key_mgr, the root (--root or the newest N.root.json next to
// it); for pkg_mgr, key_mgr.json next to it.
func signingAuthority(o *signMetadataOpts, m *trust.Metadata, path string) (authority, error) {
	dir := filepath.Dir(path)
	var a authority
	switch m.Type {
	case trust.RoleRoot:
		if o.root != "" {
			return a, usageError("--root names the root of a key_mgr file; for root v%d the keys of the previous root are given with --previous FILE", m.Version)
		}
		if m.Version == 1 {
			if o.previous != "" {
				return a, usageError("--previous %s: root v1 has no previous root; it is signed by its own root keys only", o.previous)
			}
			return a, nil
		}
		a.path = o.previous
		if a.path == "" {
			a.path = filepath.Join(dir, fmt.Sprintf("%d.root.json", m.Version-1))
			a.missing = fmt.Sprintf("there is no %s", a.path)
		}
	case trust.RoleKeyMgr:
		if o.previous != "" {
			return a, usageError("--previous is for root files; the root that delegates key_mgr is given with --root FILE")
		}
		a.path = o.root
		if a.path == "" {
			a.missing = fmt.Sprintf("no N.root.json next to %s", path)
			if name := newestRoot(dir); name != "" {
				a.path = filepath.Join(dir, name)
			}
		}
	case trust.RolePkgMgr:
		if o.previous != "" || o.root != "" {
			return a, usageError("pkg_mgr metadata is checked against the key_mgr.json next to it; --previous and --root do not apply")
		}
		a.path = filepath.Join(dir, "key_mgr.json")
		a.missing = fmt.Sprintf("there is no %s", a.path)
	}
	if a.path == "" {
		return a, nil
	}
	explicit := o.previous != "" || o.root != ""
	if _, err := os.Stat(a.path); err != nil && !explicit {
		a.path = ""
		return a, nil
	}
	role := trust.RoleRoot
	if m.Type == trust.RolePkgMgr {
		role = trust.RoleKeyMgr
	}
	md, err := loadMetadata(a.path, role)
	if err != nil {
		return a, withHint(err, "%s", authorityHint(m))
	}
	if !explicit && m.Type == trust.RoleRoot && md.Version != m.Version-1 {
		// Found by name, but not the previous version: not the authority.
		a.missing = fmt.Sprintf("%s is %s, not root v%d", a.path, md.Name(), m.Version-1)
		a.path = ""
		return a, nil
	}
	a.md, a.missing = md, ""
	return a, nil
}

func authorityFlag(m *trust.Metadata) string {
	switch m.Type {
	case trust.RoleRoot:
		return fmt.Sprintf("--previous %d.root.json", m.Version-1)
	case trust.RoleKeyMgr:
		return "--root ROOT_FILE"
	}
	return "key_mgr.json next to it"
}

func authorityHint(m *trust.Metadata) string {
	switch m.Type {
	case trust.RoleRoot:
		return fmt.Sprintf("--previous takes root v%d, the root that root v%d replaces", m.Version-1, m.Version)
	case trust.RoleKeyMgr:
		return "--root takes the channel's root metadata (N.root.json) that delegates key_mgr"
	}
	return "key_mgr.json next to the pkg_mgr file must be the channel's key_mgr metadata"
}

// signingKeyHint says which keys may sign m instead.
func signingKeyHint(m *trust.Metadata, a authority, ve *trust.VerificationError) string {
	force := "; --force signs anyway, but the signature counts toward no threshold"
	switch {
	case ve.Rule == trust.RuleSharedKey:
		return "sign key_mgr with a key_mgr key: pkg_mgr keys are online and only sign package records" + force
	case m.Type == trust.RoleRoot && m.Version > 1 && a.md == nil:
		return fmt.Sprintf("sign with one of root v%d's root keys ('conda-trust inspect FILE' lists them); a key of the previous root counts too: give that root with %s", m.Version, authorityFlag(m)) + force
	case m.Type == trust.RoleRoot:
		return "sign with one of the root keys 'conda-trust inspect FILE' lists" + force
	case m.Type == trust.RoleKeyMgr:
		return fmt.Sprintf("sign with the key_mgr key that %s delegates key_mgr to ('conda-trust inspect %s' lists it), or give --root with the root this key_mgr is for", a.path, a.path) + force
	}
	return fmt.Sprintf("sign with a pkg_mgr key that %s delegates to", a.path) + force
}

// countsNote tells a signer which thresholds their signature counts for.
func countsNote(m *trust.Metadata, c trust.SigningKey) string {
	if m.Type != trust.RoleRoot || len(c.CountsFor) != 1 || strings.HasPrefix(c.CountsFor[0], m.Name()) {
		return ""
	}
	return "; note: not one of this root's own root keys, so it counts only toward the previous root's threshold"
}

// metadataThresholds checks the thresholds m is verified against: a
// root's own root keys and, when known, the previous root's; key_mgr's
// root's key_mgr keys, and pkg_mgr's key_mgr's pkg_mgr keys, when known.
func metadataThresholds(m *trust.Metadata, auth *trust.Metadata) []thresholdJSON {
	type check struct {
		by   *trust.Metadata
		role string
		of   string
	}
	var checks []check
	switch m.Type {
	case trust.RoleRoot:
		checks = append(checks, check{m, trust.RoleRoot, "its own root keys"})
		if auth != nil {
			checks = append(checks, check{auth, trust.RoleRoot, "the root keys of the previous " + auth.Name()})
		}
	case trust.RoleKeyMgr, trust.RolePkgMgr:
		if auth != nil {
			checks = append(checks, check{auth, m.Type, fmt.Sprintf("the %s keys of %s", m.Type, auth.Name())})
		}
	}
	var out []thresholdJSON
	for _, c := range checks {
		r := trust.CheckThreshold(m.Envelope, c.by.Delegations[c.role], trust.ModeFor(m.Type))
		out = append(out, thresholdJSON{By: c.by.Name(), Role: c.role, Of: c.of, Valid: len(r.Valid), Threshold: r.Threshold, Met: r.Met()})
	}
	return out
}

// printThresholds reports each threshold's state, one line each.
func printThresholds(w io.Writer, path string, ts []thresholdJSON) {
	for _, t := range ts {
		state := "met"
		if !t.Met {
			state = "NOT met yet"
		}
		fmt.Fprintf(w, "%s: %d of %d signatures from %s: threshold %s\n", path, t.Valid, t.Threshold, t.Of, state)
	}
}

// signMetadataJSON is sign-metadata's --json result (docs/json.md).
type signMetadataJSON struct {
	File       string          `json:"file"`
	Detached   string          `json:"detached,omitempty"`
	Type       string          `json:"type"`
	Version    int64           `json:"version"`
	SignedBy   []signedByJSON  `json:"signed_by"`
	Signatures int             `json:"signatures"`
	Thresholds []thresholdJSON `json:"thresholds"`
}

type signedByJSON struct {
	Key       string   `json:"key"`
	Form      string   `json:"form"`
	CountsFor []string `json:"counts_for"`
	Forced    bool     `json:"forced"`
}

type thresholdJSON struct {
	By        string `json:"by"`
	Role      string `json:"role"`
	Of        string `json:"-"`
	Valid     int    `json:"valid"`
	Threshold int    `json:"threshold"`
	Met       bool   `json:"met"`
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
