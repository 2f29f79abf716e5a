package repodata

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
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
	// Ignored lists the signature entries that did not count, each with
	// its key identifier as written and why (not authorized, does not
	// verify, malformed, repeated): for logs that name the key.
	Ignored []trust.Ignored
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
	// Cache, if set, remembers signatures that verified, so that verifying
	// a record seen before skips its Ed25519 verifications; every other
	// rule still runs. See [SignatureCache] for what it may and may not
	// decide, and how a persisted cache must be protected.
	Cache SignatureCache // nil: verify every signature
	// Keep makes [Verifier.Verify] retain, in its Report, the bytes that
	// were verified for each trusted record (compact canonical JSON) and
	// the signatures that counted, for [WriteTrusted]. It costs about the
	// compact size of the trusted records plus 96 bytes per signature in
	// memory, for as long as the Report is kept: for a conda-forge-sized
	// file, some 200 MB. Without it, Verify keeps nothing and lets the
	// file's pages go as it works.
	Keep bool
	// Previous, when set, is the Report of an earlier Verify made with Keep
	// under the same pkg_mgr delegation and subdir. A record whose raw bytes
	// and raw signatures entry are byte-identical to that record's there gets
	// its result (and kept bytes) without being parsed or verified again.
	//
	// "The same delegation" is the exact pkg_mgr keys, in the same order,
	// and threshold this Verifier was built with; "the same subdir" is the
	// effective one (Subdir, or else the document's info.subdir). If either
	// differs, or Previous was made without Keep, Previous is ignored
	// entirely and every record is verified in full
	// ([Report.PreviousIgnored] says why). See the package documentation,
	// "Re-verifying with a previous report", for what is compared and why
	// that is enough. Previous is only read: its File may have been closed.
	Previous *Report
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
	// Reused is how many results (and kept bytes) were taken from
	// [Verifier.Previous] instead of verifying the record again.
	Reused int
	// PreviousIgnored says why [Verifier.Previous] was not used at all;
	// "" when it was used or not given.
	PreviousIgnored string

	basis verifyBasis // what this report was verified under, for a later Previous

	file *File        // the file verified
	kept []keptRecord // with Verifier.Keep: per record, set when trusted
}

// keptRecord is what Verify retains of a trusted record for WriteTrusted.
type keptRecord struct {
	compact []byte            // its canonical bytes, compact
	keys    []trust.PublicKey // the keys that counted, sorted
	sigs    []byte            // their signatures, 64 bytes each
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
	res, err := v.verifyRecord(f, r, v.subdir(f), &recordBuf{})
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

// recordBuf holds what verifyRecord read and computed for one record, in
// buffers a worker reuses from record to record.
type recordBuf struct {
	raw    []byte            // the record's bytes, copied from the file
	canon  []byte            // their canonical form: what was verified
	sigs   []trust.Signature // its signature entries
	sigBuf []byte            // the signatures of entries read by rawSignatures
	bound  bindingMembers    // the members the binding is checked on
	known  []string          // the delegation's keys in hex, to reuse
	memo   trust.SignatureMemo
	batch  *sigBatch // with batch verification: the worker's batch
	skip   int       // chunks to verify one by one after a batch failed
	fails  int       // batches that failed in a row
	rec    []byte    // with a digest: the record and its signatures entry, copied (see copyRecord)
	reused int       // records taken from Verifier.Previous

	// The reason of the last record whose entries all counted, with its
	// count plus one: the same words for every such record.
	summaryN int
	summary  string
}

// reason returns tr.Summary(), reusing the words of an earlier record
// with the same counts and nothing ignored (the threshold, the mode and
// the authorized keys are the Verifier's, the same for every record).
func (b *recordBuf) reason(tr trust.ThresholdResult) string {
	if len(tr.Ignored) > 0 {
		return tr.Summary()
	}
	if b.summaryN != len(tr.Valid)+1 {
		b.summaryN, b.summary = len(tr.Valid)+1, tr.Summary()
	}
	return b.summary
}

// rawSignatures reads a signatures entry of the shape this package and
// the reference signer write, {"<key>": {"signature": "<hex>"}, ...}, with
// key identifiers of 64 lowercase hex characters in increasing order and
// signatures of 128, into b.sigs without parsing JSON. Those entries are
// what trust.SignatureEntries gives for that JSON: raw-form signatures.
// For any other shape (escapes, other members, malformed values, keys out
// of order or repeated) it returns false, and the entry is parsed in full.
func (b *recordBuf) rawSignatures(raw []byte) bool {
	b.sigs, b.sigBuf = b.sigs[:0], b.sigBuf[:0]
	ok := true
	var prev []byte
	var k [32]byte
	scanned := scanSignatures(raw, func(key, sig []byte) {
		if !ok {
			return
		}
		n := len(b.sigBuf)
		b.sigBuf = append(b.sigBuf, make([]byte, 64)...)
		if bytes.Compare(prev, key) >= 0 || !decodeLowerHex(k[:], key) || !decodeLowerHex(b.sigBuf[n:], sig) {
			ok = false
			return
		}
		prev = key
		b.sigs = append(b.sigs, trust.Signature{KeyID: b.keyID(key), Form: trust.FormRaw, Sig: b.sigBuf[n : n+64 : n+64]})
	}, false)
	return scanned && ok
}

// keyID returns key as a string, the delegation's own string when it is
// one of its keys.
func (b *recordBuf) keyID(key []byte) string {
	for _, h := range b.known {
		if string(key) == h {
			return h
		}
	}
	return string(key)
}

// verifyRecord verifies one record, leaving in b the canonical bytes it
// verified and the signature entries it counted. The record's bytes are
// copied first and canonicalized once: the signature check, the binding
// and (for a caller that parses b.canon) the expected hashes all come
// from those bytes, never from the file's bytes again (which may be a
// mapping of a file someone rewrites in place).
func (v *Verifier) verifyRecord(f *File, r Record, subdir string, b *recordBuf) (Result, error) {
	b.raw = append(b.raw[:0], r.Raw...)
	r.Raw = b.raw
	if testHookRecordRead != nil {
		testHookRecordRead()
	}
	var e sigEntry
	var hasEntry bool
	if f.hasSigs {
		e, hasEntry = f.signaturesOf(r.Filename)
	}
	return v.verifyCopied(f, r, e, hasEntry, subdir, b)
}

// verifyCopied is verifyRecord for a record whose bytes r.Raw were already
// copied out of the file, with its signatures entry e (hasEntry false when
// it has none).
func (v *Verifier) verifyCopied(f *File, r Record, e sigEntry, hasEntry bool, subdir string, b *recordBuf) (Result, error) {
	res := Result{Filename: r.Filename, Section: r.Section}
	b.sigs = b.sigs[:0]
	var err error
	if b.canon, err = f.appendCanonical(b.canon[:0], r); err != nil {
		return res, err
	}
	unsigned := func(why string) (Result, error) {
		res.Status, res.Rule, res.Reason = Unsigned, trust.RuleUnsigned, why
		return res, nil
	}
	if !f.hasSigs {
		return unsigned("the repodata has no signatures at all")
	}
	if !hasEntry {
		return unsigned("no signatures for " + r.Filename)
	}
	if !b.rawSignatures(e.raw) {
		sv, err := canonjson.ParseUnique(e.raw)
		if err != nil {
			return res, fmt.Errorf("repodata: signatures of %s: %w", r.Filename, relocate(f.data, e.off, err))
		}
		if sv.Kind() != canonjson.Object {
			res.Status, res.Rule, res.Reason = Untrusted, trust.RuleThreshold, errSigsNotObject.Error()
			return res, nil
		}
		b.sigs, _ = trust.SignatureEntries(sv)
	}
	if b.memo == nil && v.Cache != nil {
		b.memo = cacheMemo{v.Cache}
	}
	tr := trust.CheckSignatures(b.canon, b.sigs, v.pkgMgr, trust.ModeRaw, b.memo)
	res.Reason, res.Valid, res.Ignored = b.reason(tr), tr.Valid, tr.Ignored
	if !tr.Met() {
		res.Status, res.Rule = Untrusted, trust.RuleThreshold
		return res, nil
	}
	if err := b.bound.read(b.canon); err != nil {
		return res, fmt.Errorf("repodata: record %s: %w", r.Filename, err)
	}
	if err := checkBinding(r.Section, r.Filename, subdir, b.bound.get); err != nil {
		res.Status, res.Rule = Untrusted, trust.RuleRecordMismatch
		res.Reason = err.(*trust.VerificationError).Detail
		return res, nil
	}
	res.Status = Trusted
	return res, nil
}

// checkOrphanSignatures is checkSignatures for the entries of the
// "signatures" member whose record is in neither section, so that they
// cannot hide invalid input either. verifyRecord reads every other entry
// in full: either as JSON or, by rawSignatures, in a shape that is valid
// JSON with no name twice.
func (f *File) checkOrphanSignatures(workers int) error {
	var orphans []int
	a, b := f.records[:f.nPkgs], f.records[f.nPkgs:]
	i, k := 0, 0
	for n, e := range f.sigs {
		for i < len(a) && a[i].Filename < e.fn {
			i++
		}
		for k < len(b) && b[k].Filename < e.fn {
			k++
		}
		if (i == len(a) || a[i].Filename != e.fn) && (k == len(b) || b[k].Filename != e.fn) {
			orphans = append(orphans, n)
		}
	}
	return workpool.Run(workers, len(orphans), 256, func(_, lo, hi int) error {
		for _, n := range orphans[lo:hi] {
			e := f.sigs[n]
			if err := canonjson.ValidUnique(e.raw); err != nil {
				return fmt.Errorf("repodata: signatures of %s: %w", e.fn, relocate(f.data, e.off, err))
			}
		}
		return nil
	})
}

// keep returns what WriteTrusted needs of a trusted record: its compact
// canonical bytes and the signatures that counted.
func (b *recordBuf) keep(res Result) keptRecord {
	b.raw = appendCompact(b.raw[:0], b.canon) // b.raw is free again
	k := keptRecord{compact: bytes.Clone(b.raw), keys: slices.Clone(res.Valid)}
	slices.SortFunc(k.keys, func(x, y trust.PublicKey) int { return bytes.Compare(x[:], y[:]) })
	k.sigs = make([]byte, 0, 64*len(k.keys))
	var id [64]byte
	for _, key := range k.keys {
		hex.Encode(id[:], key[:])
		for _, s := range b.sigs {
			if s.KeyID == string(id[:]) {
				k.sigs = append(k.sigs, s.Sig...)
				break
			}
		}
	}
	return k
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
	if err := f.checkOrphanSignatures(workers); err != nil {
		return nil, err
	}
	subdir := v.subdir(f)
	prev := v.usePrevious(rep, f, subdir)
	var (
		done     atomic.Int64
		firstErr error
	)
	// low[w] is the first record worker w may still read; records before
	// the lowest of them are done and their bytes can be let go. Chunks
	// are taken in increasing order, so after a chunk [lo, hi) a worker
	// only reads records from hi on.
	low := make([]atomic.Int64, workers)
	bufs := make([]recordBuf, workers)
	known := make([]string, len(v.pkgMgr.Keys))
	for i, k := range v.pkgMgr.Keys {
		known[i] = k.String()
	}
	for w := range bufs {
		bufs[w].known = known
	}
	rep.file = f
	if v.Keep {
		rep.kept = make([]keptRecord, n)
	}
	const chunk = verifyBatchSize
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		firstErr = workpool.Run(workers, n, chunk, func(w, lo, hi int) error {
			if err := v.verifyChunk(f, lo, hi, subdir, &bufs[w], rep, prev); err != nil {
				return err
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
	for w := range bufs {
		rep.Reused += bufs[w].reused
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
