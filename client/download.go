package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// LegacyPolicy configures the legacy `conda sign` (RSA) check for a
// channel whose records carry no content-trust signatures.
type LegacyPolicy struct {
	// Keys provides the public keys by name (a legacysign.KeyDir, usually).
	Keys legacysign.KeyStore
	// TrustedKeys are the key names trusted for this channel. With none, a
	// legacy signature is refused as not trusted for the channel.
	TrustedKeys []string
	// WeakKey, if set, is told about a key under 2048 bits that verified.
	WeakKey func(name string, bits int)
}

// FetchOptions set the policy of [Client.FetchPackage].
type FetchOptions struct {
	// Offline uses the stored trust state ([Client.Load]) instead of
	// updating it ([Client.Update]). Repodata and the package are still
	// fetched.
	Offline bool
	// AllowUnsigned accepts a record without any signature, checking the
	// package only against the record's own (unsigned) size and hashes.
	// Reported in [FetchResult.Warnings].
	AllowUnsigned bool
	// Legacy enables legacy `conda sign` verification. Records with a
	// "sig" key and no content-trust signature go through it whether or
	// not Legacy is set (without it they are refused: no key is trusted);
	// with Legacy set and TrustedKeys given, every unsigned record does.
	Legacy *LegacyPolicy
	// Attestation, when set, requires an attestation of the package
	// (CEP 27). Its sidecar FILE.v0.sigs is fetched from next to the
	// package (the download URL plus [AttestationSuffix]) before the
	// download. Attestation decides: it is called with the sidecar and the
	// sha256 of the downloaded bytes after they matched the record, before
	// the file is renamed into place, and its error refuses the package.
	// When the server has no sidecar it is called at once (Sidecar nil,
	// SHA256 the record's) so that it can refuse before the download.
	Attestation func(Attestation) error
}

// FetchResult describes a package written by [Client.FetchPackage].
type FetchResult struct {
	// Path is where the package was written.
	Path string
	// URL is where it was downloaded from.
	URL    string
	Record *Record
	// Status is StatusTrusted, or StatusUnsigned when AllowUnsigned let
	// an unsigned record through.
	Status Status
	// Via says what vouched for the package: "content trust",
	// "legacy conda sign (KEY)" or "nothing (unsigned, allowed)".
	Via string
	// Signers are the pkg_mgr keys whose signatures counted.
	Signers []trust.PublicKey
	// State is the channel's trust state; nil for a channel verified by
	// legacy signatures only.
	State    *State
	SHA256   string
	Size     int64
	Warnings []string
}

// FetchPackage downloads <channel>/<subdir>/<fn> into dir, writing nothing
// there unless every check passed. The rules, in order:
//
//  1. The channel's trust state is built once: [Client.Update], or
//     [Client.Load] when opts.Offline. A channel that is not pinned is
//     refused ([ErrNotPinned]) unless opts.Legacy names keys for it.
//  2. The subdir's repodata is fetched ([Client.Repodata]).
//  3. For a pinned channel, the record goes through
//     [repodata.Verifier.VerifyPackageRecord]: listed, signed by a
//     threshold of pkg_mgr keys, bound to fn and subdir, with a size and
//     sha256. Any refusal ends here, before anything is downloaded. An
//     unsigned record is refused (rule "unsigned") even when it carries a
//     legacy `conda sign` mark or legacy keys are given: a channel pinned
//     for content trust is never verified by weaker rules because its
//     signatures were stripped. Only opts.AllowUnsigned, an explicit and
//     reported waiver, lets an unsigned record through, checked against
//     its own (unsigned) size and hashes.
//  4. For a channel that is not pinned, with legacy keys given or a record
//     with a "sig" key: FILE.sig is fetched from next to the package
//     (never from where "sig" points) and must name a key trusted for the
//     channel.
//  5. The download URL is the subdir's, or info.base_url's when
//     [repodata.ResolveBaseURL] accepts it (same scheme and host).
//  6. The package is streamed into a temporary file in dir
//     (".partial-*") through the record's [repodata.ByteCheck]: cut off
//     past the record's size, then size, sha256 and md5 compared (rule
//     "artifact-hash"). For a legacy record the RSA signature must verify
//     over the SHA-256 of the downloaded bytes.
//     With opts.Attestation, the sidecar FILE.v0.sigs fetched before the
//     download must satisfy it for the downloaded bytes' sha256.
//  7. The temporary file is synced and renamed to dir/fn. On any failure,
//     including a cancelled context, it is removed, and so is dir if this
//     call created it.
func (c *Client) FetchPackage(ctx context.Context, channelURL, subdir, fn, dir string, opts FetchOptions) (*FetchResult, error) {
	if err := CheckSubdir(subdir); err != nil {
		return nil, err
	}
	if err := CheckFilename(fn); err != nil {
		return nil, err
	}
	norm, err := NormalizeURL(channelURL)
	if err != nil {
		return nil, err
	}
	res := &FetchResult{}
	legacyKeys := opts.Legacy != nil && len(opts.Legacy.TrustedKeys) > 0
	var st *State
	if opts.Offline {
		st, err = c.Load(norm)
	} else {
		st, err = c.Update(ctx, norm)
	}
	switch {
	case err == nil:
		res.State = st
		res.Warnings = append(res.Warnings, st.Warnings...)
	case errors.Is(err, ErrNotPinned) && st == nil && legacyKeys:
		// A legacy-only channel: no content-trust state.
	default:
		if st != nil {
			res.Warnings = append(res.Warnings, st.Warnings...)
		}
		return res, err
	}

	rd, err := c.Repodata(ctx, norm, subdir)
	if err != nil {
		return res, err
	}
	var expect repodata.Expect
	var sigFile []byte
	legacy := false
	if res.State != nil {
		pkg, verr := res.State.VerifyPackageRecord(rd, subdir, fn)
		if pkg != nil {
			res.Record = recordOf(fn, pkg.Value)
			res.Signers = pkg.Record.Valid
		}
		switch {
		case verr == nil:
			expect = pkg.Expect
			res.Status, res.Via = StatusTrusted, "content trust"
		case RuleOf(verr) == trust.RuleUnsigned && opts.AllowUnsigned && pkg != nil:
			if expect, err = repodata.ExpectFromUnsigned(fn, pkg.Value); err != nil {
				return res, err
			}
			res.Status, res.Via = StatusUnsigned, "nothing (unsigned, allowed)"
			res.Warnings = append(res.Warnings, fmt.Sprintf("WARNING: %s has no signature; downloaded only because unsigned records were explicitly allowed, checked against its unsigned record alone", fn))
		default:
			return res, verr
		}
	} else {
		rec, err := rd.Record(fn)
		if err != nil {
			return res, err
		}
		res.Record = rec
		if expect, err = repodata.ExpectFromUnsigned(fn, rec.Value); err != nil {
			return res, err
		}
		legacy = true
		sigFile, err = FetchLegacySignature(ctx, c.fetcher(), fn, LegacySignatureURL(norm, subdir, fn))
		if err != nil {
			return res, err
		}
		// Parse the .sig and check its key before downloading anything.
		if _, err := opts.Legacy.CheckSignatureKey(fn, sigFile); err != nil {
			return res, err
		}
	}

	lim := c.Limits.withDefaults()
	if expect.Size < 0 {
		expect.Size = -1 // unknown: the download is capped by MaxUnsignedSize below
	}
	u, err := artifactURL(norm, subdir, fn, rd)
	if err != nil {
		return res, err
	}
	res.URL = u
	var attestation *Attestation
	if opts.Attestation != nil {
		attestation = &Attestation{File: fn, URL: u + AttestationSuffix}
		if attestation.Sidecar, err = FetchAttestation(ctx, c.fetcher(), attestation.URL); err != nil {
			return res, err
		}
		if attestation.Sidecar == nil {
			attestation.SHA256 = hex.EncodeToString(expect.SHA256)
			if err := opts.Attestation(*attestation); err != nil {
				return res, err
			}
		}
	}
	check := expect.NewCheck()
	limit := expect.Size
	if limit < 0 {
		limit = lim.MaxUnsignedSize
	}
	path, err := c.download(ctx, u, dir, fn, limit, check, func() error {
		if err := check.Verify(); err != nil {
			return err
		}
		if legacy {
			sum, _ := hex.DecodeString(check.SHA256())
			if _, err := opts.Legacy.VerifyDigest(fn, sum, sigFile); err != nil {
				return err
			}
		}
		if attestation != nil && attestation.Sidecar != nil {
			attestation.SHA256 = check.SHA256()
			return opts.Attestation(*attestation)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if legacy {
		res.Status = StatusTrusted
		res.Via = "legacy conda sign"
		if ls, err := legacysign.ParseSignature(sigFile); err == nil {
			res.Via += " (key " + ls.KeyName + ")"
		}
	}
	res.Path, res.SHA256, res.Size = path, check.SHA256(), check.Size()
	return res, nil
}

func legacyErr(fn string, err error) error {
	var ve *legacysign.VerifyError
	if errors.As(err, &ve) {
		return &LegacySignatureError{File: fn, Err: ve}
	}
	return err
}

// download streams url into dir/fn through internal/atomicfile: the bytes
// go to a temporary file in dir and through hash (a [repodata.ByteCheck],
// which refuses more bytes than the record gives), at most limit bytes;
// verify then runs, and only if it passes is the file synced and renamed
// to dir/fn. Whatever fails, the temporary file is removed, and so is dir
// if this call created it.
func (c *Client) download(ctx context.Context, url, dir, fn string, limit int64, hash io.Writer, verify func() error) (string, error) {
	rc, err := c.fetcher().Fetch(ctx, url)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		created = true
	}
	path := filepath.Join(dir, fn)
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := io.Copy(io.MultiWriter(hash, w), limitBody(rc, limit, url))
		var ve *trust.VerificationError
		switch {
		case errors.As(err, &ve):
			return err
		case errors.Is(err, ErrTooLarge):
			return refusal(fn, trust.RuleArtifactHash, "the server sent more than the %d bytes allowed", limit)
		case err != nil:
			return fetchErr(url, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return verify()
	})
	if err != nil {
		if created {
			os.Remove(dir)
		}
		return "", err
	}
	return path, nil
}
