package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/trust"
)

// clientOpts are the flags shared by the verbs that use the trust store:
// add, list, remove, update, fetch and verify-env.
type clientOpts struct {
	cacheOpts
	trustDir            string
	at                  string
	allowExpired        bool
	allowKeyMgrRollback bool
	timeout             time.Duration
	deadline            time.Duration
}

func (o *clientOpts) addStore(fs *pflag.FlagSet) {
	fs.StringVar(&o.trustDir, "trust-dir", "", "trust store folder (default $"+client.TrustDirEnv+", else condatrust/trust in the user config folder)")
}

func (o *clientOpts) addPolicy(fs *pflag.FlagSet) {
	addPolicyFlags(fs, &o.at, &o.allowExpired)
}

func (o *clientOpts) addNetwork(fs *pflag.FlagSet) {
	fs.BoolVar(&o.allowKeyMgrRollback, "allow-key-mgr-rollback", false, "accept a key_mgr older than the stored one, for this run only (reported loudly; not stored)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up on a server that does not answer or stops sending for this long")
	fs.DurationVar(&o.deadline, "deadline", client.DefaultTotalTimeout, "give up on any one request (connect, headers and whole body) that takes longer than this, however steadily the server sends")
}

func (o *clientOpts) store() (*client.Store, error) {
	dir := o.trustDir
	if dir == "" {
		d, err := client.DefaultStoreDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return &client.Store{Dir: dir}, nil
}

func (o *clientOpts) policy() (trust.Options, error) {
	at, err := parseAt(o.at)
	return trust.Options{At: at, AllowExpired: o.allowExpired}, err
}

func (o *clientOpts) client() (*client.Client, error) {
	st, err := o.store()
	if err != nil {
		return nil, err
	}
	pol, err := o.policy()
	if err != nil {
		return nil, err
	}
	if o.timeout <= 0 {
		return nil, usageError("--timeout must be positive")
	}
	if o.deadline <= 0 {
		return nil, usageError("--deadline must be positive")
	}
	c := &client.Client{
		Fetcher:             newFetcher(client.HTTPOptions{Timeout: o.timeout, IdleTimeout: o.timeout, TotalTimeout: o.deadline, UserAgent: "conda-trust"}),
		Store:               st,
		Policy:              pol,
		AllowKeyMgrRollback: o.allowKeyMgrRollback,
	}
	fc, err := o.cacheOpts.open(st.Dir)
	if err != nil {
		return nil, err
	}
	if fc != nil {
		c.SignatureCache = fc
	}
	return c, nil
}

// newFetcher is the client's fetcher: file://, http://, https:// and
// s3:// (a channel in a bucket; docs/s3.md).
func newFetcher(opts client.HTTPOptions) client.Fetcher {
	h := client.NewHTTPFetcher(opts)
	return client.SchemeFetcher{"file": client.FileFetcher{}, "http": h, "https": h, "s3": s3Fetcher()}
}

// channelArg accepts a channel URL, or a local folder taken as file://.
func channelArg(s string) (string, error) {
	if !strings.Contains(s, "://") {
		u, err := client.FileURL(s)
		if err != nil {
			return "", err
		}
		s = u
	}
	n, err := client.NormalizeURL(s)
	if err != nil {
		return "", usageError("%v", err)
	}
	return n, nil
}

// interruptible returns the command's context, cancellable. Signals are
// not caught here: the process-wide handler (internal/interrupt) removes
// temporary files and ends the run with 130 or 143. A second handler here
// raced with it: a download cancelled by the signal could end the command
// first, with exit 3 and "context canceled".
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithCancel(ctx)
}

// ruleHints say, per refusal rule, what the user can do. docs/client.md
// has the same list.
var ruleHints = map[trust.Rule]string{
	trust.RuleThreshold:       "not enough valid signatures by the keys the channel's trusted metadata authorizes: the file was changed or signed by another key; do not use it, and tell the channel's operator",
	trust.RuleVersion:         "the channel published a root that is not exactly the next version of the pinned one (skipped, rolled back or replaced); tell the channel's operator",
	trust.RuleExpired:         "the metadata has expired and the channel must publish fresh metadata; --allow-expired accepts it anyway, loudly (for forensics only)",
	trust.RuleRollback:        "older metadata than this machine has already seen (a replay or a stale mirror); --allow-key-mgr-rollback accepts it for this run only",
	trust.RuleUnsigned:        "the record carries no signature; --allow-unsigned accepts it, checked only against its own unsigned record",
	trust.RuleArtifactHash:    "the downloaded bytes are not those the signed record describes (replaced, truncated or corrupted); nothing was written",
	trust.RuleDelegation:      "the channel's metadata lacks a delegation conda content trust requires",
	trust.RuleType:            "a file has the wrong metadata type for its role; the channel is misconfigured",
	trust.RuleSpecVersion:     "the channel's metadata uses an unsupported spec version",
	trust.RuleMissing:         "the channel publishes no key_mgr.json at its metadata URL (check --metadata-url of conda-trust add), or none is stored for offline use (run conda-trust update)",
	trust.RuleRecordMismatch:  "the signed record describes another file (name, version, build or subdir differ), or sits in the wrong section: a record renamed or moved by a mirror; do not use it",
	trust.RuleNotListed:       "the repodata has no record for this file: check the subdir and the file name; nothing vouches for it",
	trust.RuleSharedKey:       "one key holds two roles in the channel's metadata; the operator must give each role its own keys (--allow-shared-keys accepts it, loudly, where offered)",
	trust.RuleWeakKey:         "the channel's metadata delegates to a public key for which signatures can be forged; do not use the channel, and tell its operator",
	trust.RuleBaseURL:         "the repodata's unsigned info.base_url points to another scheme or host than the channel; the download was not attempted",
	trust.RuleLegacySignature: "the package's conda sign signature was refused; the message says why",
	trust.RuleAttestation:     "no Sigstore attestation of this package verified against the policy (--attest-identity/--attest-identity-regexp, --attest-issuer, --attest-channel); the message names the check that failed (docs/attestations.md)",
}

// clientHint adds what to do to a client error.
func clientHint(err error) error {
	if err == nil {
		return nil
	}
	var le *client.LegacySignatureError
	switch {
	case errors.As(err, &le):
		switch {
		case errors.Is(err, legacysign.ErrKeyNotPinned):
			return withHint(err, "trust a conda sign key for this channel with --legacy-key NAME (or --legacy-channel-keys FILE) only if you know it belongs to the channel's owner")
		case errors.Is(err, legacysign.ErrKeyNotInstalled):
			return withHint(err, "install the channel owner's public key NAME.pub in the legacy key folder (--legacy-keys-dir, default ~/.conda/keys)")
		case errors.Is(err, legacysign.ErrSignatureMissing):
			return withHint(err, "the channel has no FILE.sig for this package: it is not signed with conda sign")
		}
		return withHint(err, "the package's conda sign signature does not verify: do not use it")
	case errors.Is(err, client.ErrNotPinned):
		return withHint(err, "pin the channel first: conda-trust add CHANNEL_URL --root ROOT_FILE\nwith a root file obtained from the channel's operator, not downloaded from the channel")
	case errors.Is(err, client.ErrTooLarge):
		return withHint(err, "the server sent more than conda-trust accepts for this kind of file; the channel is misconfigured or hostile")
	case errors.Is(err, client.ErrUnreachable):
		return withHint(err, "check the channel URL and this machine's network, then retry; --offline (fetch, verify-env) uses the stored root and key_mgr instead of fetching them")
	case errors.Is(err, client.ErrStalled):
		return withHint(err, "the server stopped answering; retry later, or raise --timeout")
	case errors.Is(err, client.ErrDeadline):
		return withHint(err, "the request took longer than --deadline allows (a slow or dripping server); retry later or from another mirror, or raise --deadline")
	case errors.Is(err, client.ErrTooManyRoots):
		return withHint(err, "run the command again to continue the walk")
	case errors.Is(err, client.ErrNotFound):
		return withHint(err, "the channel has no such file or record: check the channel URL, SUBDIR and FILENAME")
	}
	if h, ok := ruleHints[client.RuleOf(err)]; ok {
		return withHint(err, "%s", h)
	}
	return err
}
