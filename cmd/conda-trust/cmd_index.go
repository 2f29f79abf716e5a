package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/condatrust/condatrust/index"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/storage"
	"github.com/condatrust/condatrust/storage/s3store"
	"github.com/condatrust/condatrust/trust"
)

// exitPartial is the exit code of an index run that left packages out.
const exitPartial = 4

type indexOpts struct {
	subdirs     []string
	workers     int
	signKeys    []string
	keyMgr      string
	unsigned    bool
	cacheKey    string
	noZst       bool
	noCache     bool
	noCurrent   bool
	runExports  bool
	channelData bool
	shards      bool
	compact     bool
	json        bool
	quiet       bool
}

func init() {
	register(func() *cobra.Command {
		o := &indexOpts{}
		cmd := &cobra.Command{
			Use:   "index CHANNEL_DIR|s3://BUCKET/PREFIX [--subdir S ...] [--workers N] [--sign-key KEY ... [--key-mgr FILE] | --unsigned] [--cache-key FILE] [--no-cache] [--no-zst] [--no-current-repodata] [--run-exports] [--channeldata] [--shards] [--compact] [--json] [--quiet]",
			Short: "Write repodata.json for every subdir of a channel folder, optionally signed",
			Long: `Index the conda channel in CHANNEL_DIR, as conda-index does: for each subdir
(noarch, always, and every folder named like a conda platform), read the
.conda and .tar.bz2 packages and write

  repodata_from_packages.json   the records as built from the packages
  repodata.json                 the same after SUBDIR/patch_instructions.json,
                                if present, signed with --sign-key
  current_repodata.json         the newest version of each package and what
                                their dependencies need, as conda-index
                                selects them, signed like repodata.json
                                (not with --no-current-repodata, which
                                deletes a stale one)
  run_exports.json              with --run-exports: each package's
                                info/run_exports.json (CEP 12)
  repodata_shards.msgpack.zst   with --shards: sharded repodata (CEP 16) for
  shards/SHA256.msgpack.zst     pixi and rattler, one shard per package name,
                                from the records and signatures of
                                repodata.json, with run_exports (CEP 21)
  *.zst                         zstd copies of the JSON files (not with
                                --no-zst, which deletes stale copies)

and with --channeldata, CHANNEL_DIR/channeldata.json (built afresh from the
subdirs of this run: give no --subdir, or it covers only those).

A record is the package's info/index.json without arch, platform and other
build-machine keys, plus its size, md5 and sha256; every other key is kept
as is. A package with FILE.sig beside it gets "sig": "." (legacy conda sign).
Each package is read whole, as an installer extracts it.

CHANNEL_DIR may be a channel in a bucket of S3-compatible storage,
s3://BUCKET/PREFIX: credentials and endpoint come from the AWS environment
variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE) and ~/.aws; set
AWS_S3_FORCE_PATH_STYLE=true for path-style requests. Each package is
streamed once; each output is uploaded whole, each .zst before its file
and repodata.json before what derives from it, so clients never see a
partial file nor a package not yet uploaded (docs/s3.md).

Packages are read on all cores; a package already read, with the same name,
size and ETag (for a file: its modification time and size), comes from the
cache in SUBDIR/.cache/ and is not read again. Cache entries carry an HMAC under a key kept outside the
channel folder, --cache-key FILE or by default condatrust/index-cache.key
in your configuration folder (32 random bytes, made on first use): an entry
edited by anyone else is not used, and its package is read again.
--no-cache reads every package again. Files are written atomically and only
when their content changes. A package that cannot be read, or whose file
name or subdir folder is not what its info/index.json says, is reported
with the reason and left out; the other packages are still indexed and the
exit code is 4.

--sign-key signs every record of repodata.json after patching with each
given pkg_mgr private key (one signature per key), the same way
'sign-repodata' does. When CHANNEL_DIR holds the channel's N.root.json
and/or key_mgr.json (or --key-mgr FILE names it), a key that the newest
root delegates root or key_mgr to, or that key_mgr.json does not delegate
pkg_mgr to, is refused before any package is read. Without a key_mgr.json
the keys cannot be checked: index signs, and says so on stderr.

A signed channel (one with CHANNEL_DIR/key_mgr.json, or whose existing
repodata.json is signed) is not indexed without --sign-key: that would
remove every signature, and clients that verify would refuse its packages.
--unsigned does it on purpose, with a warning.

Output is compact JSON, as conda-index writes it;
--compact=false writes conda-index's --no-compact layout instead (indented;
signed files then have the reference signer's exact layout).

Exit codes:
  0  every package indexed
  1  a --sign-key is a root or key_mgr key of the channel's newest
     N.root.json, or key_mgr.json does not delegate pkg_mgr to it; nothing
     was read or written
  2  usage error, or a signed channel indexed without --sign-key or
     --unsigned; nothing was read or written
  3  the channel could not be indexed (unreadable folder, invalid
     patch_instructions.json, N.root.json or key_mgr.json that cannot be
     parsed when signing, a --cache-key file that is not a key, signing
     or write failure); each output file
     is either its old or its new version, never a mix
  4  partial: some packages were skipped (listed on stderr or in --json);
     the outputs were written without them`,
			Example: `  conda-trust index ./channel
  AWS_ENDPOINT_URL=https://s3.example.org conda-trust index s3://conda/main --sign-key keys/pkg_mgr.pri
  conda-trust index ./channel --subdir linux-64 --sign-key keys/pkg_mgr.pri
  conda-trust index ./channel --unsigned        # remove the signatures on purpose
  conda-trust index ./channel --json --quiet > summary.json`,
			Args: exactArgs(1, "the CHANNEL_DIR"),
			RunE: func(cmd *cobra.Command, args []string) error { return runIndex(cmd, o, args[0]) },
		}
		fs := cmd.Flags()
		fs.StringArrayVar(&o.subdirs, "subdir", nil, "index only this subdir, plus noarch (repeatable)")
		fs.IntVar(&o.workers, "workers", 0, "packages read at once (default: the number of CPUs)")
		fs.StringArrayVar(&o.signKeys, "sign-key", nil, "pkg_mgr private key to sign records with: a key file or pkcs11:URI (repeatable)")
		fs.StringVar(&o.keyMgr, "key-mgr", "", "the channel's key_mgr.json, to check the --sign-key keys against (default: CHANNEL_DIR/key_mgr.json)")
		fs.BoolVar(&o.unsigned, "unsigned", false, "index a signed channel without --sign-key on purpose: removes every signature of its repodata.json")
		fs.StringVar(&o.cacheKey, "cache-key", "", "file of the key that authenticates .cache/, outside the channel folder; made when missing (default: condatrust/index-cache.key in your configuration folder)")
		fs.BoolVar(&o.noZst, "no-zst", false, "do not write .zst copies (and delete stale ones)")
		fs.BoolVar(&o.noCurrent, "no-current-repodata", false, "do not write current_repodata.json (and delete a stale one)")
		fs.BoolVar(&o.runExports, "run-exports", false, "write SUBDIR/run_exports.json (CEP 12), as conda-index --run-exports")
		fs.BoolVar(&o.channelData, "channeldata", false, "write CHANNEL_DIR/channeldata.json, as conda-index --channeldata")
		fs.BoolVar(&o.shards, "shards", false, "write sharded repodata (CEP 16) with run_exports, as conda-index --write-shards")
		fs.BoolVar(&o.noCache, "no-cache", false, "read every package again instead of using .cache/ (which is rewritten)")
		fs.BoolVar(&o.compact, "compact", true, "write compact JSON as conda-index does; --compact=false for indented JSON")
		fs.BoolVar(&o.json, "json", false, "print a JSON summary on stdout")
		fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors (and the --json summary)")
		return cmd
	})
}

// partialError reports an index run that skipped packages: exit code 4.
type partialError struct{ skipped int }

func (e *partialError) Error() string {
	return fmt.Sprintf("%d package(s) skipped: the index is incomplete", e.skipped)
}

// ExitCode is the process exit code for a partial run.
func (e *partialError) ExitCode() int { return exitPartial }

type indexSummaryJSON struct {
	Channel  string               `json:"channel"`
	Complete bool                 `json:"complete"`
	Read     int                  `json:"packages_read"`
	Cached   int                  `json:"packages_from_cache"`
	Skipped  []index.Skipped      `json:"skipped"`
	Bytes    int64                `json:"bytes_read"`
	Elapsed  float64              `json:"elapsed_seconds"`
	Subdirs  []index.SubdirResult `json:"subdirs"`
	// Written, Unchanged and Deleted list every output file of the run,
	// relative to the channel folder.
	Written   []string `json:"written"`
	Unchanged []string `json:"unchanged"`
	Deleted   []string `json:"deleted"`
	Warnings  []string `json:"warnings"`
}

// channelFiles lists the files of a run relative to the channel folder:
// each subdir's, then the channel-wide ones.
func channelFiles(res *index.Result, pick func(index.SubdirResult) []string, top []string) []string {
	out := []string{}
	for _, s := range res.Subdirs {
		for _, f := range pick(s) {
			out = append(out, s.Subdir+"/"+f)
		}
	}
	return append(out, top...)
}

func runIndex(cmd *cobra.Command, o *indexOpts, channel string) error {
	if o.workers < 0 {
		return usageError("--workers %d: give a positive number, or 0 for one per CPU", o.workers)
	}
	opts := index.Options{Subdirs: o.subdirs, Workers: o.workers, NoZst: o.noZst, NoCache: o.noCache,
		NoCurrentRepodata: o.noCurrent, RunExports: o.runExports, ChannelData: o.channelData, Shards: o.shards}
	if !o.compact {
		opts.Layout = index.Indented
	}
	for _, s := range o.subdirs {
		if !index.IsKnownSubdir(s) {
			return usageError("--subdir %q is not a conda platform subdir (for example noarch, linux-64, osx-arm64, win-64)", s)
		}
	}
	if o.unsigned && len(o.signKeys) > 0 {
		return usageError("--unsigned and --sign-key exclude each other: --unsigned writes repodata.json without signatures")
	}
	stderr := cmd.ErrOrStderr()
	st, err := openChannelStore(channel)
	if err != nil {
		return err
	}
	if s3store.IsURL(channel) && index.IsKnownSubdir(path.Base(strings.TrimRight(channel, "/"))) {
		return withHint(fmt.Errorf("%w: %s is named like a subdir; give the channel's prefix that contains it", index.ErrNotChannel, channel),
			"give the channel (s3://BUCKET/PREFIX): the prefix holding noarch/ and the platform subdirs")
	}
	for _, kf := range o.signKeys {
		k, err := signer.OpenRaw(kf)
		var pgpOnly *signer.OpenPGPOnlyError
		if errors.As(err, &pgpOnly) {
			return usageError("--sign-key %s: %v", kf, err)
		} else if err != nil {
			return keyRefError(err, kf, "--sign-key takes a pkg_mgr private key: a key file such as one written by 'conda-trust keygen' (PATH or file:PATH) or a key in a PKCS#11 token (pkcs11:URI)")
		}
		defer signer.Close(k)
		opts.Signers = append(opts.Signers, k)
	}
	if len(opts.Signers) > 0 {
		ct, err := findStoreTrust(context.Background(), st, o.keyMgr)
		if err != nil {
			return err
		}
		if err := ct.checkPkgMgrKeys("--sign-key", o.signKeys, opts.Signers); err != nil {
			return err
		}
		if !o.quiet {
			ct.warnUnchecked(stderr, "--sign-key")
		}
	} else if o.keyMgr != "" {
		return usageError("--key-mgr checks the --sign-key keys: give --sign-key with it")
	}
	if o.cacheKey != "" && !s3store.IsURL(channel) && inside(channel, o.cacheKey) {
		return usageError("--cache-key %s is inside the channel folder, which is served and open to uploaders: keep the key outside it", o.cacheKey)
	}
	if err := checkUnsigned(stderr, o, channel, st); err != nil {
		return err
	}
	if o.cacheKey != "" {
		key, err := index.LoadCacheKey(o.cacheKey)
		if err != nil {
			return withHint(err, "--cache-key takes a file of 32 random bytes kept outside the channel folder; give a path that does not exist and index makes one")
		}
		opts.CacheKey = key
	}
	if !o.quiet && isTerminal(stderr) {
		bar := newIndexBar(stderr)
		opts.Progress = bar.update
		defer bar.finish()
	}
	// Ctrl-C and SIGTERM are the process-wide handler's (internal/interrupt):
	// it removes temporary files and ends the run before anything is renamed.
	ctx, stop := interruptible(cmd)
	defer stop()
	var res *index.Result
	if s3store.IsURL(channel) {
		res, err = index.IndexStore(ctx, st, opts)
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: %v", index.ErrNotChannel, err)
		}
	} else {
		res, err = index.Index(ctx, channel, opts)
	}
	if err != nil {
		if errors.Is(err, index.ErrNotChannel) {
			return withHint(err, "give the channel folder (or s3://BUCKET/PREFIX): the one holding noarch/ and the platform subdirs")
		}
		return err
	}
	if o.json {
		out := indexSummaryJSON{Channel: channel, Complete: !res.Partial(), Read: res.Read, Cached: res.Cached,
			Skipped: res.Skipped, Bytes: res.BytesRead, Elapsed: res.Elapsed.Seconds(), Subdirs: res.Subdirs,
			Warnings:  res.Warnings,
			Written:   channelFiles(res, func(s index.SubdirResult) []string { return s.Written }, res.Written),
			Unchanged: channelFiles(res, func(s index.SubdirResult) []string { return s.Unchanged }, res.Unchanged),
			Deleted:   channelFiles(res, func(s index.SubdirResult) []string { return s.Deleted }, res.Deleted)}
		for i := range out.Subdirs {
			for _, l := range []*[]string{&out.Subdirs[i].Written, &out.Subdirs[i].Unchanged} {
				if *l == nil {
					*l = []string{}
				}
			}
		}
		if out.Skipped == nil {
			out.Skipped = []index.Skipped{}
		}
		if out.Warnings == nil {
			out.Warnings = []string{}
		}
		if err := printJSON(cmd.OutOrStdout(), out); err != nil {
			return err
		}
	} else if !o.quiet {
		printIndexResult(cmd.OutOrStdout(), res, len(opts.Signers))
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "conda-trust: warning: %s\n", w)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(stderr, "conda-trust: skipped %s: %s\n", filepath.Join(s.Subdir, s.File), s.Reason)
	}
	if res.Partial() {
		err := &partialError{len(res.Skipped)}
		if o.json {
			return &silent{err}
		}
		return withHint(err, "fix or remove the skipped packages and run index again; the others are indexed")
	}
	return nil
}

func printIndexResult(w io.Writer, res *index.Result, signers int) {
	for _, s := range res.Subdirs {
		line := fmt.Sprintf("%s: %d record(s) (%d read, %d from cache", s.Subdir, s.Records, s.Read, s.Cached)
		if s.Skipped > 0 {
			line += fmt.Sprintf(", %d skipped", s.Skipped)
		}
		line += ")"
		if s.Patched {
			line += fmt.Sprintf(", patched (%d removed)", len(s.Removed))
		}
		if signers > 0 {
			line += fmt.Sprintf(", signed by %d key(s)", signers)
		}
		switch {
		case len(s.Written) > 0:
			line += fmt.Sprintf("; wrote %d file(s)", len(s.Written))
		default:
			line += "; unchanged"
		}
		if len(s.Deleted) > 0 {
			line += fmt.Sprintf("; deleted stale %v", s.Deleted)
		}
		fmt.Fprintln(w, line)
	}
	if len(res.Written) > 0 {
		fmt.Fprintf(w, "wrote %s\n", strings.Join(res.Written, ", "))
	}
	fmt.Fprintf(w, "indexed %d package(s): %d read (%.1f MB), %d from cache, %d skipped, in %s\n",
		res.Read+res.Cached, res.Read, float64(res.BytesRead)/1e6, res.Cached, len(res.Skipped), res.Elapsed.Round(time.Millisecond))
}

// rootFileRE matches the channel's root metadata files, N.root.json.
var rootFileRE = regexp.MustCompile(`^([1-9][0-9]*)\.root\.json$`)

// channelTrust is the trust metadata of the channel a signing run writes
// to: its newest N.root.json and its key_mgr.json, each nil when absent.
type channelTrust struct {
	root, km         *trust.Metadata
	rootPath, kmPath string
	// lookedIn is where key_mgr.json was looked for ("" when no channel
	// folder is known and no --key-mgr was given).
	lookedIn string
}

// findChannelTrust reads the trust metadata of the channel folder dir
// ("" when unknown): its newest N.root.json and its key_mgr.json, or the
// key_mgr metadata of kmFile (--key-mgr) instead. Without a channel
// folder, roots are looked for next to kmFile.
func findChannelTrust(dir, kmFile string) (*channelTrust, error) {
	var st storage.Store
	if dir != "" {
		st = storage.NewFolder(dir)
	}
	return findStoreTrust(context.Background(), st, kmFile)
}

// findStoreTrust is findChannelTrust for a channel in a store (nil when
// unknown): a folder or a bucket.
func findStoreTrust(ctx context.Context, st storage.Store, kmFile string) (*channelTrust, error) {
	ct := &channelTrust{}
	rootStore := st
	if st != nil {
		ct.lookedIn = st.Location(index.KeyMgrFile)
	}
	if kmFile != "" {
		ct.kmPath = kmFile
		if rootStore == nil && !s3store.IsURL(kmFile) {
			rootStore = storage.NewFolder(filepath.Dir(kmFile))
		}
	}
	if rootStore != nil {
		if name := newestRootIn(ctx, rootStore); name != "" {
			ct.rootPath = rootStore.Location(name)
			data, err := storage.ReadAll(ctx, rootStore, name)
			if err == nil {
				ct.root, err = channelMetadataBytes(ct.rootPath, data, trust.RoleRoot)
			} else {
				err = withHint(err, "%s must be the channel's root metadata: fix it, or give --key-mgr with the channel's key_mgr.json", ct.rootPath)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	var data []byte
	var err error
	switch {
	case s3store.IsURL(kmFile):
		data, err = readS3Input(kmFile)
	case kmFile != "":
		data, err = os.ReadFile(kmFile)
	case st != nil:
		ct.kmPath = st.Location(index.KeyMgrFile)
		data, err = storage.ReadAll(ctx, st, index.KeyMgrFile)
		if errors.Is(err, fs.ErrNotExist) {
			ct.kmPath = ""
			return ct, nil
		}
	default:
		return ct, nil
	}
	if err != nil {
		return nil, withHint(err, "%s must be the channel's key_mgr metadata: fix it, or give --key-mgr with the channel's key_mgr.json", ct.kmPath)
	}
	if ct.km, err = channelMetadataBytes(ct.kmPath, data, trust.RoleKeyMgr); err != nil {
		return nil, err
	}
	return ct, nil
}

// newestRootIn names the N.root.json at the top of st with the highest N,
// or "".
func newestRootIn(ctx context.Context, st storage.Store) string {
	objs, err := st.List(ctx, "")
	if err != nil {
		return ""
	}
	newest, name := int64(0), ""
	for _, o := range objs {
		m := rootFileRE.FindStringSubmatch(o.Name)
		if m == nil || o.Dir {
			continue
		}
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n > newest {
			newest, name = n, o.Name
		}
	}
	return name
}

// newestRoot names the N.root.json of dir with the highest N, or "".
func newestRoot(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	newest, name := int64(0), ""
	for _, e := range ents {
		m := rootFileRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n > newest {
			newest, name = n, e.Name()
		}
	}
	return name
}

// checkPkgMgrKeys refuses signing keys that the channel's own trust
// metadata says must not sign package records (trust.CheckPkgMgrKey): a
// root or key_mgr key of the newest N.root.json (one key in two roles),
// or a key that key_mgr.json does not delegate pkg_mgr to. flag names the
// option the keys came from.
func (ct *channelTrust) checkPkgMgrKeys(flag string, keyFiles []string, signers []signer.Signer) error {
	for i, s := range signers {
		err := trust.CheckPkgMgrKey(ct.root, ct.km, s.Public())
		var ve *trust.VerificationError
		switch {
		case err == nil:
		case errors.As(err, &ve) && ve.Rule == trust.RuleSharedKey:
			return withHint(fmt.Errorf("%s: %s %s: %w", ct.rootPath, flag, keyFiles[i], err),
				"sign repodata with a pkg_mgr key: root and key_mgr keys only sign metadata and stay offline; make one with 'conda-trust keygen pkg_mgr' and delegate it in key_mgr.json ('conda-trust key-mgr next')")
		default:
			return withHint(fmt.Errorf("%s: %s %s: %w", ct.kmPath, flag, keyFiles[i], err),
				"sign with a pkg_mgr key that key_mgr.json delegates to, or delegate this one with 'conda-trust key-mgr next' and sign the new key_mgr.json")
		}
	}
	return nil
}

// warnUnchecked says that the signing keys could not be checked against
// a key_mgr.json, and how to check them.
func (ct *channelTrust) warnUnchecked(w io.Writer, flag string) {
	if ct.km != nil {
		return
	}
	where := "no channel folder is known (REPODATA is not in a subdir folder such as noarch/)"
	if ct.lookedIn != "" {
		where = "there is no " + ct.lookedIn
	}
	fmt.Fprintf(w, "conda-trust: warning: the %s key(s) were not checked against the channel's key_mgr.json: %s; clients count only signatures by keys it delegates pkg_mgr to. Give --key-mgr FILE to check them.\n", flag, where)
}

// channelMetadataBytes parses one trust metadata file of the channel,
// read from path.
func channelMetadataBytes(path string, data []byte, role string) (*trust.Metadata, error) {
	hint := fmt.Sprintf("%s must be the channel's %s metadata: fix it, or give --key-mgr with the channel's key_mgr.json", path, role)
	md, err := trust.ParseMetadata(data, role)
	if err != nil {
		return nil, withHint(fmt.Errorf("%s: %w", path, err), "%s", hint)
	}
	return md, nil
}

// checkUnsigned refuses to index a signed channel without --sign-key
// unless --unsigned asks for it, and then says loudly what it does.
func checkUnsigned(stderr io.Writer, o *indexOpts, channel string, st storage.Store) error {
	if len(o.signKeys) > 0 {
		return nil
	}
	signed, err := index.SignedStore(context.Background(), st, o.subdirs)
	if err != nil || len(signed) == 0 {
		return nil // not a channel folder (index says so), or not signed
	}
	what := strings.Join(signed, ", ")
	if !o.unsigned {
		return withHint(usageError("%s is a signed channel (%s): indexing it without --sign-key would rewrite repodata.json without any signature, and clients that verify signatures would refuse every package; nothing was written", channel, what),
			"sign as you index with --sign-key KEY (a pkg_mgr key that key_mgr.json delegates to); or give --unsigned to index without signatures on purpose")
	}
	fmt.Fprintf(stderr, "conda-trust: WARNING: --unsigned: %s is a signed channel (%s); every signature of its repodata.json is removed, and clients that verify signatures will refuse its packages until it is indexed with --sign-key again\n", channel, what)
	return nil
}

// inside reports whether path is in the folder dir (or is dir), following
// symbolic links where they exist.
func inside(dir, path string) bool {
	resolve := func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			return r
		}
		if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
			return filepath.Join(r, filepath.Base(abs))
		}
		return abs
	}
	rel, err := filepath.Rel(resolve(dir), resolve(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// indexBar is a progress bar over the bytes of the packages being read.
type indexBar struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newIndexBar(w io.Writer) *indexBar { return &indexBar{w: w} }

func (b *indexBar) update(p index.Progress) {
	if b.bar == nil {
		b.bar = progressbar.NewOptions64(p.TotalBytes,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(fmt.Sprintf("reading %d package(s)", p.Total)),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = b.bar.Set64(p.DoneBytes)
}

func (b *indexBar) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
	}
}
