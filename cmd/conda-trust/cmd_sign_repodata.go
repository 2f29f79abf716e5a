package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
)

type signRepodataOpts struct {
	keys        []string
	out         string
	incremental bool
	previous    string
	compact     bool
	quiet       bool
}

func init() {
	register(func() *cobra.Command {
		o := &signRepodataOpts{}
		cmd := &cobra.Command{
			Use:   "sign-repodata REPODATA --key PRIVATE_KEY_FILE [--key ...] [-o OUT] [--incremental] [--compact] [--quiet]",
			Short: "Sign every package record of a repodata.json with pkg_mgr keys",
			Long: `Sign every record of REPODATA ("packages" and "packages.conda") with every
--key and write signatures[filename][pubkey] = {"signature": hex}. Signatures
already in REPODATA are discarded, as conda-content-trust's sign-artifacts
discards them; every record and every other member is kept.

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
place) every record is signed.

Sign after any repodata patching, never before, and regenerate
repodata.json.zst from the signed file. Private key files may be 64 hex
characters (as keygen writes), 32 raw bytes or PKCS#8 PEM; keys are never
printed. All cores are used; a progress bar shows on a terminal.

` + exitCodeHelp,
			Example: `  conda-trust sign-repodata linux-64/repodata.json --key pkg_mgr.pri
  conda-trust sign-repodata repodata.json --key pkg_mgr1.pri --key pkg_mgr2.pri --compact
  conda-trust sign-repodata build/repodata.json --key pkg_mgr.pri -o publish/repodata.json --incremental`,
			Args: exactArgs(1, "the REPODATA file"),
			RunE: func(cmd *cobra.Command, args []string) error { return runSignRepodata(cmd, o, args[0]) },
		}
		fs := cmd.Flags()
		fs.StringArrayVar(&o.keys, "key", nil, "pkg_mgr private key file (repeatable; every key signs every record)")
		fs.StringVarP(&o.out, "output", "o", "", "write the signed file here instead of replacing REPODATA")
		fs.BoolVar(&o.incremental, "incremental", false, "keep the signatures of unchanged records from the previously signed file")
		fs.StringVar(&o.previous, "previous", "", "with --incremental: the previously signed file (default: the existing -o OUT)")
		fs.BoolVar(&o.compact, "compact", false, "write sorted compact JSON (conda-index's layout) instead of the canonical indented form")
		fs.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
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
		k, err := signer.ReadKeyFile(kf)
		if err != nil {
			return withHint(err, "--key takes a private key file such as one written by 'conda-trust keygen'")
		}
		signers = append(signers, k)
	}
	out := o.out
	if out == "" {
		out = path
	}
	stderr := cmd.ErrOrStderr()

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
	done := make(chan struct{})
	go func() {
		defer close(done)
		if prevPath != "" {
			prev, prevErr = repodata.Open(prevPath)
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

	opts := repodata.SignOptions{Signers: signers, Compact: o.compact, Previous: prev}
	bar := newRecordBar(stderr, o.quiet, "signing")
	if bar != nil {
		opts.Progress = bar.update
	}
	start := time.Now()
	stats, err := repodata.WriteSigned(out, f, opts)
	bar.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if o.quiet {
		return nil
	}
	for _, ext := range []string{".zst", ".bz2"} {
		if _, err := os.Stat(out + ext); err == nil {
			fmt.Fprintf(stderr, "conda-trust: warning: %s%s still holds the records as they were before signing, and clients prefer it: regenerate it from %s\n", out, ext, out)
		}
	}
	if stats.PreviousRejected != "" {
		fmt.Fprintf(stderr, "conda-trust: warning: --incremental: not using %s: %s; signed every record\n", prevPath, stats.PreviousRejected)
	}
	layout := "canonical"
	if o.compact {
		layout = "compact"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "signed %d record(s) of %s with %d key(s) in %.1fs: wrote %s (%s)\n",
		stats.Records, path, len(signers), time.Since(start).Seconds(), out, layout)
	if prev != nil && stats.PreviousRejected == "" {
		fmt.Fprintf(cmd.OutOrStdout(), "  %d record(s) unchanged since %s kept their signatures (%d checked in full); %d signed anew\n",
			stats.Reused, prevPath, stats.Sampled, stats.Signed)
	}
	return nil
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
