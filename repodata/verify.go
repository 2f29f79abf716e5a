package repodata

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/workpool"
	"github.com/condatrust/condatrust/trust"
)

// Status is the outcome of verifying one record.
type Status int

// The outcomes of verifying a record.
const (
	// Trusted: signed by at least the threshold of distinct authorized
	// pkg_mgr keys.
	Trusted Status = iota
	// Untrusted: it has signatures, but not enough valid ones by
	// authorized keys (a modified record, a wrong or undelegated key, a
	// malformed entry).
	Untrusted
	// Unsigned: it has no signatures at all.
	Unsigned
)

// String returns "trusted", "untrusted" or "unsigned", the words of
// conda-trust's JSON output.
func (s Status) String() string {
	switch s {
	case Trusted:
		return "trusted"
	case Untrusted:
		return "untrusted"
	case Unsigned:
		return "unsigned"
	}
	return "invalid"
}

// Result is the verification outcome of one record.
type Result struct {
	Filename string
	Section  Section
	Status   Status
	// Rule names why a record is not trusted: trust.RuleUnsigned,
	// trust.RuleThreshold or trust.RuleRecordMismatch; "" when trusted.
	Rule trust.Rule
	// Reason says why, in words: the count of valid signatures against the
	// threshold and why any entry did not count (trust.ThresholdResult's
	// Summary), why the record is unsigned, or what it is bound to.
	Reason string
	// Valid lists the distinct authorized keys whose signature verified.
	Valid []trust.PublicKey
}

// Err returns nil for a trusted record and otherwise a
// *trust.VerificationError (matching trust.ErrVerification) naming the
// file and the rule.
func (r Result) Err() error {
	switch {
	case r.Status == Trusted:
		return nil
	case r.Rule == trust.RuleThreshold:
		return &trust.VerificationError{Role: r.Filename, Rule: r.Rule, Detail: "not signed by a threshold of pkg_mgr keys: " + r.Reason}
	}
	return &trust.VerificationError{Role: r.Filename, Rule: r.Rule, Detail: r.Reason}
}

// Verifier checks package records against the pkg_mgr delegation of a
// verified trust chain (content-trust spec §13.3). Get one with
// [NewVerifier]; there is no other way to say which keys count.
type Verifier struct {
	pkgMgr trust.Delegation
	// Subdir is the subdir the repodata is served as, for [Verifier.Verify]:
	// a record whose "subdir" differs is refused (rule record-mismatch).
	// "" takes the document's info.subdir; with neither, no subdir is
	// compared.
	Subdir string
	// Workers is the number of records verified at once; zero means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Progress, if set, is called from one goroutine now and then with the
	// number of records done and the total.
	Progress func(done, total int)
}

// NewVerifier returns a Verifier for the pkg_mgr delegation of the
// chain's verified key_mgr. The chain must have one ([trust.Chain.SetKeyMgr],
// or [trust.NewChainFromKeyMgr]); otherwise the error matches
// trust.ErrChainOrder.
func NewVerifier(c *trust.Chain) (*Verifier, error) {
	d, err := c.PkgMgr()
	if err != nil {
		return nil, err
	}
	return &Verifier{pkgMgr: d}, nil
}

// Report holds the outcome for every record of a file.
type Report struct {
	// Results has one entry per record, in the order of [File.Records].
	Results                      []Result
	Trusted, Untrusted, Unsigned int
}

// Err returns nil when every record is trusted (or, with allowUnsigned,
// trusted or unsigned), and otherwise a *trust.VerificationError that
// counts the failures and names the first one.
func (r *Report) Err(allowUnsigned bool) error {
	bad := r.Untrusted
	if !allowUnsigned {
		bad += r.Unsigned
	}
	if bad == 0 {
		return nil
	}
	for _, res := range r.Results {
		if res.Status == Untrusted || (res.Status == Unsigned && !allowUnsigned) {
			e := res.Err().(*trust.VerificationError)
			e.Role = "repodata"
			e.Detail = fmt.Sprintf("%d of %d records not trusted (%d untrusted, %d unsigned); first: %s: %s",
				bad, len(r.Results), r.Untrusted, r.Unsigned, res.Filename, e.Detail)
			return e
		}
	}
	return nil
}

// VerifyRecord verifies one record of f: its signatures, then that it
// describes the name it is filed under ([CheckBinding], with v.Subdir or
// the document's info.subdir). The error is for malformed input only (a
// record that is not strict JSON); a failed verification is a Result with
// status Untrusted or Unsigned and its rule. Signature entries that are
// malformed, by keys not 64 lowercase hex characters or by keys not
// delegated are ignored, as the spec requires, and listed in the reason.
func (v *Verifier) VerifyRecord(f *File, r Record) (Result, error) {
	res, _, err := v.verifyRecord(f, r, v.subdir(f))
	return res, err
}

func (v *Verifier) subdir(f *File) string {
	if v.Subdir != "" {
		return v.Subdir
	}
	sd, _ := f.Info()
	return sd
}

// testHookRecordRead, when set by a test, runs right after a record was
// read, to rewrite the file's bytes underneath the verifier.
var testHookRecordRead func()

// verifyRecord is VerifyRecord that also returns the parsed value it
// verified. The record's bytes are copied first and parsed once: the
// signature check, the binding and the expected hashes all come from that
// one value, never from the file's bytes again (which may be a mapping of
// a file someone rewrites in place).
func (v *Verifier) verifyRecord(f *File, r Record, subdir string) (Result, canonjson.Value, error) {
	res := Result{Filename: r.Filename, Section: r.Section}
	r.Raw = bytes.Clone(r.Raw)
	val, err := f.parseRecord(r)
	if err != nil {
		return res, val, err
	}
	if testHookRecordRead != nil {
		testHookRecordRead()
	}
	unsigned := func(why string) (Result, canonjson.Value, error) {
		res.Status, res.Rule, res.Reason = Unsigned, trust.RuleUnsigned, why
		return res, val, nil
	}
	if !f.hasSigs {
		return unsigned("the repodata has no signatures at all")
	}
	if _, ok := f.signaturesOf(r.Filename); !ok {
		return unsigned("no signatures for " + r.Filename)
	}
	env, err := f.envelope(r, val)
	if err == errSigsNotObject {
		res.Status, res.Rule, res.Reason = Untrusted, trust.RuleThreshold, err.Error()
		return res, val, nil
	}
	if err != nil {
		return res, val, err
	}
	tr := trust.CheckThreshold(env, v.pkgMgr, trust.ModeRaw)
	res.Reason, res.Valid = tr.Summary(), tr.Valid
	if !tr.Met() {
		res.Status, res.Rule = Untrusted, trust.RuleThreshold
		return res, val, nil
	}
	if err := CheckBinding(r.Section, r.Filename, subdir, val); err != nil {
		res.Status, res.Rule = Untrusted, trust.RuleRecordMismatch
		res.Reason = err.(*trust.VerificationError).Detail
		return res, val, nil
	}
	res.Status = Trusted
	return res, val, nil
}

// Verify verifies every record of f on all cores. The error is for
// malformed input only; see [Report.Err] for the verdict.
func (v *Verifier) Verify(f *File) (*Report, error) {
	n := len(f.records)
	rep := &Report{Results: make([]Result, n)}
	workers := v.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if err := f.checkSignatures(workers); err != nil {
		return nil, err
	}
	subdir := v.subdir(f)
	var (
		done     atomic.Int64
		firstErr error
	)
	// low[w] is the first record worker w may still read; records before
	// the lowest of them are done and their bytes can be let go. Chunks
	// are taken in increasing order, so after a chunk [lo, hi) a worker
	// only reads records from hi on.
	low := make([]atomic.Int64, workers)
	const chunk = 64
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		firstErr = workpool.Run(workers, n, chunk, func(w, lo, hi int) error {
			for i := lo; i < hi; i++ {
				res, _, err := v.verifyRecord(f, f.records[i], subdir)
				if err != nil {
					return err
				}
				rep.Results[i] = res
			}
			low[w].Store(int64(hi))
			done.Add(int64(hi - lo))
			return nil
		})
		for w := range low {
			low[w].Store(int64(n))
		}
	}()
	t := time.NewTicker(100 * time.Millisecond)
	for running := true; running; {
		select {
		case <-stop:
			running = false
		case <-t.C:
		}
		safe := n
		for w := range low {
			safe = min(safe, int(low[w].Load()))
		}
		f.dropRecordsBefore(safe)
		if v.Progress != nil {
			v.Progress(int(done.Load()), n)
		}
	}
	t.Stop()
	if firstErr != nil {
		return nil, firstErr
	}
	for _, r := range rep.Results {
		switch r.Status {
		case Trusted:
			rep.Trusted++
		case Untrusted:
			rep.Untrusted++
		case Unsigned:
			rep.Unsigned++
		}
	}
	return rep, nil
}
