package client

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/condatrust/condatrust/legacysign"
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
//  2. The subdir's repodata is fetched ([Client.Repodata]) and the
//     record for fn looked up; no record is an error matching
//     [ErrNotFound].
//  3. A record with signatures is verified with [VerifyRecord]; any
//     refusal ends here, before anything is downloaded.
//  4. A record without signatures goes to legacy verification when it has
//     a "sig" key or opts.Legacy has keys for the channel: FILE.sig is
//     fetched from next to the package (never from where "sig" points)
//     and must name a key trusted for the channel. Otherwise it is refused
//     (rule "unsigned") unless opts.AllowUnsigned.
//  5. The package is streamed into a temporary file in dir
//     (".partial-*"), hashed on the way, and cut off past the record's
//     size. Its size, sha256 and md5 must equal the record's (rule
//     "artifact-hash"); a record verified by content trust must have a
//     sha256 and a size. For a legacy record the RSA signature must verify
//     over the SHA-256 of the downloaded bytes.
//  6. The temporary file is synced and renamed to dir/fn. On any failure,
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
	case errors.Is(err, ErrNotPinned) && legacyKeys && st == nil:
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
	rec, err := rd.Record(fn)
	if err != nil {
		return res, err
	}
	res.Record = rec
	lim := c.Limits.withDefaults()

	var sigFile []byte
	legacy := false
	var verr error = refusal(fn, trust.RuleUnsigned, "no content-trust state for %s", norm)
	if res.State != nil {
		res.Signers, verr = VerifyRecord(rec, res.State.KeyMgr, subdir)
	}
	switch {
	case verr == nil:
		if rec.SHA256 == "" || !rec.HasSize {
			return res, refusal(fn, trust.RuleArtifactHash, "the signed record has no sha256 or no size, so the package bytes cannot be checked")
		}
		res.Status, res.Via = StatusTrusted, "content trust"
	case RuleOf(verr) != trust.RuleUnsigned:
		return res, verr
	case rec.Legacy || legacyKeys:
		legacy = true
		u := joinURL(norm, subdir, fn+".sig")
		sigFile, err = readAllLimited(ctx, c.fetcher(), u, legacysign.MaxSigFileSize)
		if errors.Is(err, ErrNotFound) {
			return res, &LegacySignatureError{File: fn, Err: &legacysign.VerifyError{
				Err: fmt.Errorf("%w: %s", legacysign.ErrSignatureMissing, u)}}
		}
		if errors.Is(err, ErrTooLarge) {
			return res, &LegacySignatureError{File: fn, Err: &legacysign.VerifyError{
				Err: fmt.Errorf("%w: %s is larger than %d bytes", legacysign.ErrMalformedSig, u, legacysign.MaxSigFileSize)}}
		}
		if err != nil {
			return res, err
		}
		// Parse the .sig and check its key before downloading anything: a
		// zero digest fails only at the signature check itself.
		if err := c.legacyVerifier(opts).VerifyDigest(make([]byte, sha256.Size), sigFile); err != nil &&
			!errors.Is(err, legacysign.ErrInvalidSignature) {
			return res, legacyErr(fn, err)
		}
	case !opts.AllowUnsigned:
		return res, verr
	default:
		res.Status, res.Via = StatusUnsigned, "nothing (unsigned, allowed)"
		res.Warnings = append(res.Warnings, fmt.Sprintf("WARNING: %s has no signature; downloaded only because unsigned records were explicitly allowed, checked against its unsigned record alone", fn))
	}

	limit := lim.MaxUnsignedSize
	if rec.HasSize {
		limit = rec.Size
	}
	u, err := artifactURL(norm, subdir, fn, rd)
	if err != nil {
		return res, err
	}
	res.URL = u
	path, sum, n, err := c.download(ctx, u, dir, fn, limit, func(sum256, sumMD5 []byte, n int64) error {
		if err := checkArtifact(rec, sum256, sumMD5, n); err != nil {
			return err
		}
		if legacy {
			if err := c.legacyVerifier(opts).VerifyDigest(sum256, sigFile); err != nil {
				return legacyErr(fn, err)
			}
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
	res.Path, res.SHA256, res.Size = path, sum, n
	return res, nil
}

func (c *Client) legacyVerifier(opts FetchOptions) *legacysign.Verifier {
	v := &legacysign.Verifier{Keys: legacysign.KeyMap{}}
	if opts.Legacy != nil {
		if opts.Legacy.Keys != nil {
			v.Keys = opts.Legacy.Keys
		}
		v.TrustedKeys = opts.Legacy.TrustedKeys
		v.WeakKey = opts.Legacy.WeakKey
	}
	return v
}

func legacyErr(fn string, err error) error {
	var ve *legacysign.VerifyError
	if errors.As(err, &ve) {
		return &LegacySignatureError{File: fn, Err: ve}
	}
	return err
}

// checkArtifact compares downloaded bytes with their record.
func checkArtifact(rec *Record, sum256, sumMD5 []byte, n int64) error {
	if rec.HasSize && n != rec.Size {
		return refusal(rec.Filename, trust.RuleArtifactHash, "got %d bytes, the record says %d", n, rec.Size)
	}
	if rec.SHA256 != "" && !strings.EqualFold(rec.SHA256, hex.EncodeToString(sum256)) {
		return refusal(rec.Filename, trust.RuleArtifactHash, "sha256 is %x, the record says %s", sum256, rec.SHA256)
	}
	if rec.MD5 != "" && !strings.EqualFold(rec.MD5, hex.EncodeToString(sumMD5)) {
		return refusal(rec.Filename, trust.RuleArtifactHash, "md5 is %x, the record says %s", sumMD5, rec.MD5)
	}
	return nil
}

// download streams url into a temporary file in dir, at most limit bytes,
// calls check with the digests and size, and only if it passes moves the
// file to dir/fn. Whatever fails, the temporary file is removed.
func (c *Client) download(ctx context.Context, url, dir, fn string, limit int64,
	check func(sum256, sumMD5 []byte, n int64) error) (path, sha string, n int64, err error) {
	rc, err := c.fetcher().Fetch(ctx, url)
	if err != nil {
		return "", "", 0, err
	}
	defer rc.Close()
	// A folder created here is removed again on failure (if still empty).
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", 0, err
		}
		created = true
	}
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		if created {
			os.Remove(dir)
		}
		return "", "", 0, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
			if created {
				os.Remove(dir)
			}
		}
	}()
	h256, hmd5 := sha256.New(), md5.New()
	n, err = io.Copy(io.MultiWriter(tmp, h256, hmd5), limitBody(rc, limit, url))
	if errors.Is(err, ErrTooLarge) {
		return "", "", 0, refusal(fn, trust.RuleArtifactHash, "the server sent more than the %d bytes the record gives", limit)
	}
	if err != nil {
		return "", "", 0, fetchErr(url, err)
	}
	if err := ctx.Err(); err != nil {
		return "", "", 0, err
	}
	sum256, sumMD5 := h256.Sum(nil), hmd5.Sum(nil)
	if err := check(sum256, sumMD5, n); err != nil {
		return "", "", 0, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return "", "", 0, err
	}
	if err := tmp.Sync(); err != nil {
		return "", "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", "", 0, err
	}
	path = filepath.Join(dir, fn)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", "", 0, err
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return path, hex.EncodeToString(sum256), n, nil
}
