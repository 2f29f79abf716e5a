package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/condatrust/condatrust/index"
	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

type signRepodataOpts struct {
	keys        []string
	out         string
	incremental bool
	previous    string
	compact     bool
	keyMgr      string
	add         bool
	json        bool
	quiet       bool
}

func init() {
	register(func() *cobra.Command {
		o := &signRepodataOpts{}
		cmd := &cobra.Command{
			Use:   "sign-repodata REPODATA --key KEY [--key ...] [--key-mgr FILE] [--add] [-o OUT] [--incremental] [--compact] [--json] [--quiet]",
			Short: "Sign every package record of a repodata.json with pkg_mgr keys",
			Long: `Sign every record of REPODATA ("packages" and "packages.conda") with every
--key and write signatures[filename][pubkey] = {"signature": hex}. Without
--add, signatures already in REPODATA are discarded, as conda-content-trust's
sign-artifacts discards them (those by other keys are counted on stderr);
every record and every other member is kept.

A KEY is a private key file (PATH or file:PATH) or a key in a PKCS#11 token
(pkcs11:URI, RFC 7512: token=, object=, id=, ?module-path=, pin-source=;
docs/ceremony.md shows one); a token key signs through one session per core.

The keys are checked against the channel's key_mgr.json: the one in the
channel folder (the folder above the subdir folder, such as noarch/, that
holds the output file), or --key-mgr FILE. A key it does not delegate
pkg_mgr to, or a root or key_mgr key of the newest N.root.json next to it,
is refused and nothing is written. Without a key_mgr.json the keys cannot
be checked: the file is signed, and stderr says so (not with --quiet).

--add lets several pkg_mgr holders sign in turn: the signatures already on
each record by other keys that key_mgr.json delegates pkg_mgr to are kept
when they verify; the others (unauthorized, malformed, or made before the
record changed) are dropped and counted. It needs a key_mgr.json. With a
key_mgr.json, the run says how many records meet its pkg_mgr threshold.

The output replaces REPODATA atomically, or goes to -o OUT. By default it is
byte for byte what sign-artifacts writes (the whole file in canonical form);
--compact writes sorted compact JSON as conda-index does. Both verify the
same way: only each record's canonical form is signed.

--incremental re-signs only what changed since the last run. It compares
each record with the same record in the previously signed file (--previous
FILE, or else the existing -o OUT) and keeps that file's signatures for
records whose content did not change; new and changed records are signed,
removed ones lose their signatures. The result equals a full re-sign. A
random sample of the kept signatures is verified first, and a previous file
that fails the check is not used. Without an earlier signed file (signing in
place) every record is signed. --incremental also writes OUT.sign-index, a
signing index of where each record and signature lies in OUT, so that the
next run need not read through the previous file to find them; it is bound
to OUT by a digest and ignored (the previous file is then read in full) when
OUT changed since, or when it is missing or damaged. It only locates bytes:
what is reused is still decided by comparing records.

Sign after any repodata patching, never before, and regenerate
repodata.json.zst from the signed file. Private key files may be 64 hex
characters (as keygen writes), 32 raw bytes or PKCS#8 PEM; keys are never
printed. All cores are used; a progress bar shows on a terminal.

` + exitCodeHelp,
			Example: `  conda-trust sign-repodata linux-64/repodata.json --key pkg_mgr.pri
  conda-trust sign-repodata repodata.json --key pkg_mgr1.pri --key pkg_mgr2.pri --compact
  conda-trust sign-repodata channel/noarch/repodata.json --key pkg_mgr2.pri --add   # holder 2 after holder 1
  conda-trust sign-repodata build/repodata.json --key pkg_mgr.pri -o publish/repodata.json --incremental`,
			Args: exactArgs(1, "the REPODATA file"),
			RunE: func(cmd *cobra.Command, args []string) error { return runSignRepodata(cmd, o, args[0]) },
		}
		fs := cmd.Flags()
		fs.StringArrayVar(&o.keys, "key", nil, "pkg_mgr private key: a key file or pkcs11:URI (repeatable; every key signs every record)")
		fs.StringVarP(&o.out, "output", "o", "", "write the signed file here instead of replacing REPODATA")
		fs.BoolVar(&o.incremental, "incremental", false, "keep the signatures of unchanged records from the previously signed file")
		fs.StringVar(&o.previous, "previous", "", "with --incremental: the previously signed file (default: the existing -o OUT)")
		fs.BoolVar(&o.compact, "compact", false, "write sorted compact JSON (conda-index's layout) instead of the canonical indented form")
		fs.StringVar(&o.keyMgr, "key-mgr", "", "the channel's key_mgr.json, to check the keys against (default: key_mgr.json in the folder above the output's subdir folder)")
		fs.BoolVar(&o.add, "add", false, "keep the valid signatures by other pkg_mgr keys that key_mgr.json delegates to")
		fs.BoolVar(&o.json, "json", false, "print the result as JSON on stdout (see docs/json.md)")
		fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors, and warnings about signatures dropped")
		return cmd
	})
}

func runSignRepodata(cmd *cobra.Command, o *signRepodataOpts, path string) error {
	if len(o.keys) == 0 {
		return usageError("--key is required: give the private key file of each pkg_mgr key")
	}
	if o.previous != "" && !o.incremental {
		return usageError("--previous is only used with --incremental")
	}
	var signers []signer.Signer
	for _, kf := range o.keys {
		k, err := signer.OpenRaw(kf)
		var pgpOnly *signer.OpenPGPOnlyError
		if errors.As(err, &pgpOnly) {
			return usageError("--key %s: %v", kf, err)
		} else if err != nil {
			return keyRefError(err, kf, "--key takes a pkg_mgr private key: a key file such as one written by 'conda-trust keygen' (PATH or file:PATH) or a key in a PKCS#11 token (pkcs11:URI)")
		}
		defer signer.Close(k)
		signers = append(signers, k)
	}
	out := o.out
	if out == "" {
		out = path
	}
	stderr := cmd.ErrOrStderr()
	// The channel is where the signed file goes; when -o points outside
	// any channel, it is the channel REPODATA comes from.
	chDir := channelFolderOf(out)
	if chDir == "" {
		chDir = channelFolderOf(path)
	}
	ct, err := findChannelTrust(chDir, o.keyMgr)
	if err != nil {
		return err
	}
	if err := ct.checkPkgMgrKeys("--key", o.keys, signers); err != nil {
		return err
	}
	if ct.km == nil && o.add {
		return usageError("--add keeps only signatures by keys that key_mgr.json delegates pkg_mgr to, and there is no key_mgr.json to tell: give --key-mgr FILE")
	}
	if !o.quiet {
		ct.warnUnchecked(stderr, "--key")
	}

	// Open the input and the previous file at the same time: splitting a
	// large file is a good part of an incremental run.
	prevPath := ""
	if o.incremental {
		var err error
		if prevPath, err = previousFile(path, out, o.previous); err != nil {
			return err
		}
		if prevPath == "" && !o.quiet {
			fmt.Fprintf(stderr, "conda-trust: --incremental: no earlier signed file to compare with (%s is signed in place); signing every record. Give -o with the published file, or --previous.\n", path)
		}
	}
	limitHeap(path)
	var prev *repodata.File
	var prevErr error
	indexIgnored := ""
	done := make(chan struct{})
	go func() {
		defer close(done)
		if prevPath != "" {
			prev, indexIgnored, prevErr = repodata.OpenPrevious(prevPath)
		}
	}()
	f, err := repodata.Open(path)
	<-done
	if prev != nil {
		defer prev.Close()
	}
	if err != nil {
		return withHint(err, "REPODATA must be a repodata.json (strict JSON with a \"packages\" object)")
	}
	defer f.Close()
	if prevErr != nil {
		if !o.quiet {
			fmt.Fprintf(stderr, "conda-trust: warning: --incremental: cannot use %s (%v); signing every record\n", prevPath, prevErr)
		}
		prev = nil
	}

	opts := repodata.SignOptions{Signers: signers, Compact: o.compact, Previous: prev, KeepOthers: o.add, WriteIndex: o.incremental}
	if ct.km != nil {
		d := ct.km.Delegations[trust.RolePkgMgr]
		opts.PkgMgr = &d
	}
	bar := newRecordBar(stderr, o.quiet, "signing")
	if bar != nil {
		opts.Progress = bar.update
	}
	start := time.Now()
	stats, err := repodata.WriteSigned(out, f, opts)
	bar.finish()
	var we *atomicfile.Error
	if errors.As(err, &we) {
		return err // "cannot write OUT: why" names the file already
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	printDropped(stderr, stats, ct, o.add)
	for _, ext := range []string{".zst", ".bz2"} {
		if _, err := os.Stat(out + ext); err == nil {
			fmt.Fprintf(stderr, "conda-trust: warning: %s%s still holds the records as they were before signing, and clients prefer it: regenerate it from %s\n", out, ext, out)
		}
	}
	if stats.IndexError != "" && !o.quiet {
		fmt.Fprintf(stderr, "conda-trust: warning: --incremental: could not write the signing index %s%s (%s); the next run reads %s in full\n", out, repodata.IndexSuffix, stats.IndexError, out)
	}
	if stats.PreviousRejected != "" && !o.quiet {
		fmt.Fprintf(stderr, "conda-trust: warning: --incremental: not using %s: %s; signed every record\n", prevPath, stats.PreviousRejected)
	}
	layout := "canonical"
	if o.compact {
		layout = "compact"
	}
	usedPrev := ""
	if prev != nil {
		usedPrev = prevPath
	}
	if o.json {
		r := signRepodataResult(path, out, usedPrev, layout, signers, stats, ct)
		if r.Previous != nil {
			r.Previous.IndexUsed, r.Previous.IndexIgnored = indexIgnored == "", indexIgnored
		}
		return printJSON(cmd.OutOrStdout(), r)
	}
	if o.quiet {
		return nil
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "signed %d record(s) of %s with %d key(s) in %.1fs: wrote %s (%s)\n",
		stats.Records, path, len(signers), time.Since(start).Seconds(), out, layout)
	if prev != nil && stats.PreviousRejected == "" {
		fmt.Fprintf(w, "  %d record(s) unchanged since %s kept their signatures (%d checked in full); %d signed anew\n",
			stats.Reused, prevPath, stats.Sampled, stats.Signed)
		if indexIgnored != "" {
			fmt.Fprintf(w, "  signing index not used (%s): read %s in full\n", indexIgnored, prevPath)
		}
	}
	if o.add {
		fmt.Fprintf(w, "  kept %d signature(s) by other pkg_mgr keys of %s\n", stats.Kept, ct.kmPath)
	}
	if ct.km != nil {
		d := ct.km.Delegations[trust.RolePkgMgr]
		fmt.Fprintf(w, "  %d of %d record(s) meet the pkg_mgr threshold of %s (%d of %d key(s))\n",
			stats.ThresholdMet, stats.Records, ct.kmPath, d.Threshold, len(d.Keys))
	}
	return nil
}

// channelFolderOf is the channel folder of a repodata file: the folder
// above its subdir folder, or "" when the file is not in a folder named
// like a subdir.
func channelFolderOf(repodataPath string) string {
	dir := filepath.Dir(repodataPath)
	abs, err := filepath.Abs(dir)
	if err != nil || !index.IsKnownSubdir(filepath.Base(abs)) {
		return ""
	}
	return filepath.Join(dir, "..")
}

// printDropped tells, on stderr, which signatures by other keys the input
// held and the output does not.
func printDropped(w io.Writer, stats *repodata.SignStats, ct *channelTrust, add bool) {
	if len(stats.Dropped) == 0 {
		return
	}
	type byKey struct {
		key     string
		n       int
		reasons []string
	}
	var keys []*byKey
	for _, d := range stats.Dropped {
		if len(keys) == 0 || keys[len(keys)-1].key != d.Key {
			keys = append(keys, &byKey{key: d.Key})
		}
		k := keys[len(keys)-1]
		k.n += d.Signatures
		k.reasons = append(k.reasons, fmt.Sprintf("%d %s", d.Signatures, dropReasonWords(d.Reason, ct)))
	}
	var parts []string
	for i, k := range keys {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("and %d other key(s)", len(keys)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", shortKeyID(k.key), strings.Join(k.reasons, ", ")))
	}
	fmt.Fprintf(w, "conda-trust: warning: dropped %d signature(s) by other keys from %d record(s): %s\n",
		stats.DroppedSignatures(), stats.DroppedRecords, strings.Join(parts, "; "))
	if !add {
		for _, d := range stats.Dropped {
			if d.Reason == repodata.DropNotKept {
				fmt.Fprintln(w, "conda-trust: hint: to keep the valid signatures of other pkg_mgr holders, sign with --add")
				break
			}
		}
	}
}

func dropReasonWords(r repodata.DropReason, ct *channelTrust) string {
	switch r {
	case repodata.DropNotKept:
		return "replaced: only --key signs without --add"
	case repodata.DropUnauthorized:
		return "not delegated pkg_mgr by " + ct.kmPath
	case repodata.DropInvalid:
		return "malformed, or not verifying over the record as it is now"
	case repodata.DropNoRecord:
		return "record no longer in the file"
	}
	return string(r)
}

// shortKeyID shortens a key as the input spells it.
func shortKeyID(key string) string {
	if k, err := trust.ParsePublicKey(key); err == nil {
		return k.Short()
	}
	if len(key) > 16 {
		return fmt.Sprintf("%q…", key[:16])
	}
	return fmt.Sprintf("%q", key)
}

// signRepodataJSON is sign-repodata's --json result (docs/json.md).
type signRepodataJSON struct {
	Input      string            `json:"input"`
	File       string            `json:"file"`
	Layout     string            `json:"layout"`
	Keys       []string          `json:"keys"`
	Records    int               `json:"records"`
	Signed     int               `json:"records_signed"`
	Reused     int               `json:"records_reused"`
	Signatures int               `json:"signatures_made"`
	Kept       int               `json:"signatures_kept"`
	Dropped    droppedJSON       `json:"dropped"`
	KeyMgr     *string           `json:"key_mgr"`
	Threshold  *pkgThresholdJSON `json:"threshold"`
	Previous   *previousJSON     `json:"previous,omitempty"`
}

type droppedJSON struct {
	Signatures int              `json:"signatures"`
	Records    int              `json:"records"`
	ByKey      []droppedKeyJSON `json:"by_key"`
}

type droppedKeyJSON struct {
	Key        string `json:"key"`
	Reason     string `json:"reason"`
	Signatures int    `json:"signatures"`
}

type pkgThresholdJSON struct {
	Threshold int `json:"threshold"`
	Keys      int `json:"keys"`
	Met       int `json:"records_met"`
}

type previousJSON struct {
	File     string `json:"file"`
	Rejected string `json:"rejected,omitempty"`
	// IndexUsed: the previous file was located through its signing index;
	// IndexIgnored says why not.
	IndexUsed    bool   `json:"index_used"`
	IndexIgnored string `json:"index_ignored,omitempty"`
}

func signRepodataResult(in, out, prevPath, layout string, signers []signer.Signer, st *repodata.SignStats, ct *channelTrust) signRepodataJSON {
	r := signRepodataJSON{Input: in, File: out, Layout: layout, Keys: []string{}, Records: st.Records, Signed: st.Signed,
		Reused: st.Reused, Signatures: st.Signatures, Kept: st.Kept,
		Dropped: droppedJSON{Signatures: st.DroppedSignatures(), Records: st.DroppedRecords, ByKey: []droppedKeyJSON{}}}
	for _, s := range signers {
		r.Keys = append(r.Keys, s.Public().String())
	}
	for _, d := range st.Dropped {
		r.Dropped.ByKey = append(r.Dropped.ByKey, droppedKeyJSON{Key: d.Key, Reason: string(d.Reason), Signatures: d.Signatures})
	}
	if prevPath != "" {
		r.Previous = &previousJSON{File: prevPath, Rejected: st.PreviousRejected}
	}
	if ct.km != nil {
		d := ct.km.Delegations[trust.RolePkgMgr]
		r.KeyMgr = &ct.kmPath
		r.Threshold = &pkgThresholdJSON{Threshold: d.Threshold, Keys: len(d.Keys), Met: st.ThresholdMet}
	}
	return r
}

// previousFile picks the earlier signed file for --incremental: --previous,
// or the existing output file when it is not the input itself. A previous
// file that is the input is refused: its signatures say nothing about
// whether its records changed.
func previousFile(in, out, previous string) (string, error) {
	cand := previous
	if cand == "" {
		cand = out
	}
	st, err := os.Stat(cand)
	if err != nil {
		if previous != "" {
			return "", withHint(err, "--previous names the signed repodata.json written by the last run")
		}
		return "", nil // a first run: nothing to reuse
	}
	ist, err := os.Stat(in)
	if err == nil && os.SameFile(st, ist) {
		if previous != "" {
			return "", usageError("--previous %s is REPODATA itself: give the file signed last time, which must be a different file", previous)
		}
		return "", nil
	}
	return cand, nil
}

// limitHeap sets the Go heap's soft limit to the size of the file being
// processed (at least 64 MiB), unless GOMEMLIMIT is set. The file itself is
// mapped, not on the heap; the limit makes the collector run before the
// heap alone outgrows the file, which keeps an incremental run, which
// indexes two files, under twice the input's size.
func limitHeap(path string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if st, err := os.Stat(path); err == nil {
		debug.SetMemoryLimit(max(st.Size(), 64<<20))
	}
}

// recordBar is a progress bar over records on a terminal; nil otherwise.
type recordBar struct {
	w    io.Writer
	desc string
	bar  *progressbar.ProgressBar
}

func newRecordBar(w io.Writer, quiet bool, desc string) *recordBar {
	f, ok := w.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &recordBar{w: w, desc: desc}
}

func (b *recordBar) update(done, total int) {
	if b.bar == nil {
		b.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(fmt.Sprintf("%s %d record(s)", b.desc, total)),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = b.bar.Set(done)
}

func (b *recordBar) finish() {
	if b != nil && b.bar != nil {
		_ = b.bar.Finish()
	}
}
