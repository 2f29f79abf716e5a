package repodata

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

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
	// Reason says why, in words: the count of valid signatures against the
	// threshold and why any entry did not count (trust.ThresholdResult's
	// Summary), or why the record is unsigned.
	Reason string
	// Valid lists the distinct authorized keys whose signature verified.
	Valid []trust.PublicKey
}

// Err returns nil for a trusted record and otherwise a
// *trust.VerificationError (matching trust.ErrVerification) naming the
// file, with rule trust.RuleThreshold or trust.RuleUnsigned.
func (r Result) Err() error {
	switch r.Status {
	case Trusted:
		return nil
	case Unsigned:
		return &trust.VerificationError{Role: r.Filename, Rule: trust.RuleUnsigned, Detail: r.Reason}
	}
	return &trust.VerificationError{Role: r.Filename, Rule: trust.RuleThreshold, Detail: "not signed by a threshold of pkg_mgr keys: " + r.Reason}
}

// Verifier checks package records against a pkg_mgr delegation: the keys
// and threshold key_mgr grants to pkg_mgr (content-trust spec §13.3).
type Verifier struct {
	// PkgMgr is the delegation records are checked against.
	PkgMgr trust.Delegation
	// Workers is the number of records verified at once; zero means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Progress, if set, is called from one goroutine now and then with the
	// number of records done and the total.
	Progress func(done, total int)
}

// NewVerifier returns a Verifier for the pkg_mgr delegation of keyMgr.
// keyMgr must already be trusted: verified against a root with
// trust.VerifyDelegated, or taken as the trust anchor after checking its
// expiry with trust.CheckExpiry. A key_mgr without a pkg_mgr delegation is
// an error, as it is in conda.
func NewVerifier(keyMgr *trust.Metadata) (*Verifier, error) {
	if keyMgr.Type != trust.RoleKeyMgr {
		return nil, &trust.FormatError{Role: keyMgr.Name(), Reason: fmt.Sprintf("package records are verified against a key_mgr document, not a %s document", keyMgr.Type)}
	}
	d, ok := keyMgr.Delegations[trust.RolePkgMgr]
	if !ok {
		return nil, &trust.FormatError{Role: keyMgr.Name(), Field: "signed.delegations.pkg_mgr", Reason: "missing: this key_mgr delegates no pkg_mgr keys"}
	}
	return &Verifier{PkgMgr: d}, nil
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

// VerifyRecord verifies one record of f. The error is for malformed input
// only (a record that is not strict JSON); a failed verification is a Result with status Untrusted or
// Unsigned. Signature entries that are malformed, by keys not 64 lowercase
// hex characters or by keys not delegated are ignored, as the spec
// requires, and listed in the reason.
func (v *Verifier) VerifyRecord(f *File, r Record) (Result, error) {
	res := Result{Filename: r.Filename, Section: r.Section}
	val, err := f.parseRecord(r)
	if err != nil {
		return res, err
	}
	if !f.hasSigs {
		res.Status, res.Reason = Unsigned, "the repodata has no signatures at all"
		return res, nil
	}
	if _, ok := f.signaturesOf(r.Filename); !ok {
		res.Status, res.Reason = Unsigned, "no signatures for "+r.Filename
		return res, nil
	}
	env, err := f.envelope(r, val)
	if err == errSigsNotObject {
		res.Status, res.Reason = Untrusted, err.Error()
		return res, nil
	}
	if err != nil {
		return res, err
	}
	tr := trust.CheckThreshold(env, v.PkgMgr, trust.ModeRaw)
	res.Reason, res.Valid = tr.Summary(), tr.Valid
	if tr.Met() {
		res.Status = Trusted
	} else {
		res.Status = Untrusted
	}
	return res, nil
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
	var (
		next, done atomic.Int64
		failed     atomic.Bool
		firstErr   error
		errOnce    sync.Once
		wg         sync.WaitGroup
	)
	// low[w] is the first record worker w may still read; records before
	// the lowest of them are done and their bytes can be let go.
	low := make([]atomic.Int64, workers)
	const chunk = 64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer low[w].Store(int64(n))
			for !failed.Load() {
				lo := int(next.Add(chunk)) - chunk
				low[w].Store(int64(lo))
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					res, err := v.VerifyRecord(f, f.records[i])
					if err != nil {
						errOnce.Do(func() { firstErr = err })
						failed.Store(true)
						return
					}
					rep.Results[i] = res
				}
				done.Add(int64(min(lo+chunk, n) - lo))
			}
		}()
	}
	stop := make(chan struct{})
	go func() { wg.Wait(); close(stop) }()
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
