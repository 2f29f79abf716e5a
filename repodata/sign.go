package repodata

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/internal/workpool"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// SignOptions control [Sign].
type SignOptions struct {
	// Signers are the pkg_mgr keys. Every record is signed by each of
	// them. At least one is required, and no public key may appear twice.
	// Signers are called from several goroutines at once and must be safe
	// for concurrent use (in-memory keys from signer.ReadKeyFile are).
	Signers []signer.Signer

	// Compact writes sorted compact JSON, as conda-index does, instead of
	// the reference signer's indented canonical form. Both verify the same
	// way: only each record's canonical form is signed.
	Compact bool

	// Previous is a signed repodata written earlier by this signer, for
	// incremental signing. A record whose bytes equal, apart from JSON
	// whitespace, the record of the same file name in Previous keeps
	// Previous's signatures by the given keys and is not signed again; see
	// the package documentation for why that is sound. Nil signs every
	// record. Previous must not be the File being signed.
	Previous *File

	// Workers is the number of records processed at once; zero means
	// runtime.GOMAXPROCS(0).
	Workers int

	// Progress, if set, is called from one goroutine as records are
	// written, with the number done and the total.
	Progress func(done, total int)

	// PkgMgr is the pkg_mgr delegation of the channel's key_mgr (its keys
	// and threshold), when known. With it, [SignStats.ThresholdMet] counts
	// the records whose signatures by its keys meet its threshold.
	PkgMgr *trust.Delegation

	// KeepOthers keeps, on each record, the signatures already in f by
	// keys of PkgMgr other than Signers, when they verify over the record
	// as it is, so that several pkg_mgr holders can sign in turn. Every
	// other existing signature (by a key PkgMgr does not list, malformed,
	// or not verifying) is dropped and counted in [SignStats.Dropped].
	// It needs PkgMgr. Without it, every signature in f is dropped.
	KeepOthers bool

	// WriteIndex makes [WriteSigned] write a signing index next to the
	// output (path + [IndexSuffix]): where each record and signatures
	// entry lies in it, so that the next incremental run, opening this
	// output with [OpenPrevious], need not split it. [Sign] ignores it.
	WriteIndex bool
}

// DropReason says why an existing signature is not in the output.
type DropReason string

// The reasons a signature in the input is left out of the output.
const (
	DropNotKept      DropReason = "not-kept"     // KeepOthers is off: only Signers sign
	DropUnauthorized DropReason = "unauthorized" // PkgMgr does not list the key
	DropInvalid      DropReason = "invalid"      // malformed entry, or it does not verify over the record
	DropNoRecord     DropReason = "no-record"    // its record is no longer in the file
)

// Dropped counts the signatures by one key left out for one reason.
// Signatures by the Signers themselves are replaced, not dropped, and are
// not counted.
type Dropped struct {
	Key        string // the key as the input spells it
	Reason     DropReason
	Signatures int
}

// SignStats describes what [Sign] did.
type SignStats struct {
	Records    int // records written
	Signed     int // records signed anew with at least one key
	Reused     int // records whose signatures all came from Previous
	Signatures int // signatures computed

	// Sampled is the number of reused records re-checked in full before
	// trusting Previous: canonical bytes, layout and every reused
	// signature.
	Sampled int
	// PreviousRejected says why Previous was not used, if it was given but
	// failed that check; every record was then signed anew.
	PreviousRejected string
	// IndexError says why [WriteSigned] could not write the signing index
	// (SignOptions.WriteIndex); the signed file was written all the same,
	// and the next incremental run splits it instead.
	IndexError string

	// Kept is the number of signatures by other keys kept (KeepOthers).
	Kept int
	// Dropped lists the signatures of the input by keys other than
	// Signers that are not in the output, by key and reason, sorted.
	Dropped []Dropped
	// DroppedRecords is the number of signatures entries (records, or
	// entries whose record is gone) that lost at least one such signature.
	DroppedRecords int
	// ThresholdMet is, with PkgMgr, the number of records whose
	// signatures by PkgMgr's keys meet its threshold; -1 without PkgMgr.
	ThresholdMet int
}

// DroppedSignatures is the total of s.Dropped.
func (s *SignStats) DroppedSignatures() int {
	n := 0
	for _, d := range s.Dropped {
		n += d.Signatures
	}
	return n
}

// batchSize is the number of records a worker handles at a time; output
// is written batch by batch in order.
const batchSize = 128

// Sign writes f with every record signed by every key in opts.Signers:
// signatures[filename][pubkey] = {"signature": hex}. Existing signatures
// in f are discarded, as the reference signer discards them. Every other
// top-level member and every record is kept, in canonical form.
//
// By default the output is byte for byte what conda-content-trust's
// sign-artifacts writes (the whole document canonical: keys sorted at every
// level, two-space indentation, ASCII escapes, no trailing newline); with
// opts.Compact it is the sorted compact form. Records are parsed,
// canonicalized and signed on all cores; the output is streamed to w in
// order, so memory stays near the size of the input.
//
// A file without a "packages" member is refused, as the reference refuses
// it. A record that is not strict JSON or not an object is an error and
// nothing more is written; callers writing a file should write to a
// temporary file (see [WriteSigned]).
func Sign(w io.Writer, f *File, opts SignOptions) (*SignStats, error) {
	return sign(w, f, opts, nil)
}

// sign is Sign; with idx, it also fills in idx what WriteSigned's signing
// index needs.
func sign(w io.Writer, f *File, opts SignOptions, idx *signIndex) (*SignStats, error) {
	keys, signers, err := sortedSigners(opts.Signers)
	if err != nil {
		return nil, err
	}
	if !f.hasPkgs {
		return nil, &trust.FormatError{Role: "repodata", Field: "packages", Reason: `missing: a repodata.json to sign must have a "packages" object (it may be empty)`}
	}
	if opts.Previous == f {
		return nil, errors.New("repodata: Previous is the file being signed; incremental signing needs an earlier signed file to compare with")
	}
	if err := checkSectionsDisjoint(f); err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	j := &signJob{
		f: f, keys: keys, signers: signers, compact: opts.Compact,
		sigs:  make([]byte, len(f.records)*len(keys)*64),
		stats: &SignStats{Records: len(f.records), ThresholdMet: -1},
	}
	for k, key := range keys {
		j.keyHex = append(j.keyHex, key.String())
		j.allKeys |= 1 << k
	}
	if err := j.setPkgMgr(opts.PkgMgr, opts.KeepOthers); err != nil {
		return nil, err
	}
	if err := j.checkSigners(); err != nil {
		return nil, err
	}
	if err := f.checkSignatures(workers); err != nil {
		return nil, err
	}
	if err := j.countDropped(workers); err != nil {
		return nil, err
	}
	if !j.keep {
		f.dropSignatures()
	}
	if opts.Previous != nil {
		if err := j.usePrevious(opts.Previous); err != nil {
			return nil, err
		}
	}
	j.out = w
	if idx != nil {
		j.dw = newDigestWriter(w)
		j.out = j.dw
		j.idx = idx
		idx.rec = make([][2]int64, len(f.records))
		idx.sig = make([][2]int64, len(f.records))
	}
	bw := bufio.NewWriterSize(j.out, 1<<20)
	if err := j.run(bw, workers, opts.Progress); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if idx != nil {
		idx.digest, idx.size = j.dw.sum(), j.dw.n
	}
	return j.stats, nil
}

// WriteSigned signs f (see [Sign]) into the file at path, atomically: the
// output goes to a temporary file in the same directory, which is synced
// and renamed over path only when everything succeeded. path may be the
// file f was opened from. An existing file's permissions are kept; a new
// file gets mode 0644.
func WriteSigned(path string, f *File, opts SignOptions) (*SignStats, error) {
	perm := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	var stats *SignStats
	var idx *signIndex
	if opts.WriteIndex {
		idx = &signIndex{}
	}
	err := atomicfile.Write(path, perm, func(w io.Writer) error {
		var err error
		stats, err = sign(w, f, opts, idx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if idx != nil {
		if err := writeIndex(path, idx.encode(f, opts.Compact)); err != nil {
			stats.IndexError = err.Error()
		}
	}
	return stats, nil
}

func sortedSigners(in []signer.Signer) ([]trust.PublicKey, []signer.Signer, error) {
	if len(in) == 0 {
		return nil, nil, errors.New("repodata: no signing key given: give at least one pkg_mgr key")
	}
	signers := slices.Clone(in)
	slices.SortFunc(signers, func(a, b signer.Signer) int {
		pa, pb := a.Public(), b.Public()
		return bytes.Compare(pa[:], pb[:])
	})
	if len(signers) > 64 {
		return nil, nil, fmt.Errorf("repodata: %d keys given; at most 64 can sign in one run", len(signers))
	}
	keys := make([]trust.PublicKey, len(signers))
	for i, s := range signers {
		keys[i] = s.Public()
		if i > 0 && keys[i] == keys[i-1] {
			return nil, nil, fmt.Errorf("repodata: key %s is given twice: each key signs once", keys[i])
		}
	}
	return keys, signers, nil
}

// checkSectionsDisjoint refuses a file name present in both sections with
// different records: signatures are filed by name only, so one of the two
// could never verify. Identical records (the reference's own sample has
// one) share their signatures, as the reference signer gives them.
func checkSectionsDisjoint(f *File) error {
	a, b := f.records[:f.nPkgs], f.records[f.nPkgs:]
	for i, k := 0, 0; i < len(a) && k < len(b); {
		switch c := compareStrings(a[i].Filename, b[k].Filename); {
		case c < 0:
			i++
		case c > 0:
			k++
		default:
			ca, errA := canonjson.Canonicalize(a[i].Raw)
			cb, errB := canonjson.Canonicalize(b[k].Raw)
			if errA != nil || errB != nil || !bytes.Equal(ca, cb) {
				return &trust.FormatError{Role: "repodata", Field: "packages." + a[i].Filename,
					Reason: `the same file name is also in "packages.conda" with a different record; signatures are filed by file name, so only one of the two records could verify: remove one`}
			}
			i++
			k++
		}
	}
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type signJob struct {
	f       *File
	keys    []trust.PublicKey
	keyHex  []string // keys as metadata writes them
	allKeys uint64   // a bit for each key
	signers []signer.Signer
	compact bool
	sigs    []byte // 64 bytes per key per record
	prev    *File
	prevIdx []int32
	stats   *SignStats
	out     io.Writer // the destination under the buffered writer
	dw      *digestWriter
	idx     *signIndex // with WriteIndex: record and entry offsets

	signed, reused, nsigs atomic.Int64

	// With SignOptions.PkgMgr:
	pkgMgr  *trust.Delegation
	ownAuth int // how many of keys PkgMgr lists
	met     atomic.Int64

	// With SignOptions.KeepOthers:
	keep     bool
	others   []trust.PublicKey // PkgMgr's keys that are not keys, sorted
	otherHex []string
	keptMask []uint64 // per record: bit o set when others[o]'s signature is kept
	keptSigs []byte   // 64 bytes per other key per record
	kept     atomic.Int64

	dropMu   sync.Mutex
	drops    map[dropKey]int
	dropRecs int
}

// dropAcc counts dropped signatures on one goroutine.
type dropAcc struct {
	m    map[dropKey]int
	recs int
}

type dropKey struct {
	key    string
	reason DropReason
}

// checkSigners signs one message with every signer and verifies the
// result, so that a broken signer (a wrong key file, a misbehaving
// token) fails before anything is written rather than producing a file
// of signatures that do not verify.
func (j *signJob) checkSigners() error {
	msg := []byte("conda-trust: signer self-check")
	for i, s := range j.signers {
		sig, err := s.Sign(msg)
		if err != nil {
			return fmt.Errorf("repodata: signing with key %s: %w", j.keys[i].Short(), err)
		}
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(j.keys[i][:], msg, sig) {
			return fmt.Errorf("repodata: the signer for key %s produces signatures that do not verify: check the key file", j.keys[i].Short())
		}
	}
	return nil
}

// renderCanonical appends the output form of a record from its canonical
// bytes.
func (j *signJob) renderCanonical(dst, canon []byte) []byte {
	if j.compact {
		return appendCompact(dst, canon)
	}
	return appendNested(dst, canon, 2)
}

// batch is a run of records of one section, rendered by one worker.
type batch struct {
	lo, hi int
	first  bool // lo is the first record of its section
	out    []byte
	err    error
	done   chan struct{}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256<<10); return &b }}

func (j *signJob) process(b *batch) {
	bp := bufPool.Get().(*[]byte)
	out := (*bp)[:0]
	var canon []byte
	var drops *dropAcc
	if j.keep {
		drops = &dropAcc{m: map[dropKey]int{}}
	}
	nk := len(j.keys)
	for i := b.lo; i < b.hi; i++ {
		r := j.f.records[i]
		sigs := j.sigs[i*nk*64 : (i+1)*nk*64]
		out = appendMemberKey(out, r.Filename, 2, b.first && i == b.lo, j.compact)
		start := len(out)
		have, prev, ok := j.reusable(i, sigs)
		haveCanon := false
		if j.keep {
			if canon, haveCanon, b.err = j.keepOthers(i, canon[:0], drops); b.err != nil {
				break
			}
		}
		if j.pkgMgr != nil && j.ownAuth+j.keptCount(i) >= j.pkgMgr.Threshold {
			j.met.Add(1)
		}
		if ok && have == j.allKeys {
			out = j.renderReused(out, prev)
			j.reused.Add(1)
			if j.idx != nil {
				j.idx.rec[i] = [2]int64{int64(start), int64(len(out) - start)}
			}
			continue
		}
		if !haveCanon {
			var err error
			if canon, err = j.f.appendCanonical(canon[:0], r); err != nil {
				b.err = err
				break
			}
		}
		for k, s := range j.signers {
			if have&(1<<k) != 0 {
				continue
			}
			sig, err := s.Sign(canon)
			if err != nil {
				b.err = fmt.Errorf("repodata: signing %s with key %s: %w", r.Filename, j.keys[k].Short(), err)
				break
			}
			if len(sig) != ed25519.SignatureSize {
				b.err = fmt.Errorf("repodata: signer for key %s returned %d bytes, not an Ed25519 signature", j.keys[k].Short(), len(sig))
				break
			}
			copy(sigs[k*64:], sig)
			j.nsigs.Add(1)
		}
		if b.err != nil {
			break
		}
		j.signed.Add(1)
		out = j.renderCanonical(out, canon)
		if j.idx != nil {
			j.idx.rec[i] = [2]int64{int64(start), int64(len(out) - start)}
		}
	}
	if drops != nil {
		j.addDrops(drops)
	}
	b.out = out
	*bp = out
	close(b.done)
}

// dropBefore releases the input bytes of the records before record hi,
// and of the records of Previous they were compared with, once written.
// Workers only read records at or after the batches in flight, which all
// start at or after hi.
func (j *signJob) dropBefore(hi int) {
	if hi >= len(j.f.records) {
		return
	}
	j.f.dropRecordsBefore(hi)
	if j.prev != nil {
		// The earliest record of Previous still needed is the one matched
		// by the first record not yet written or after it.
		for k := hi; k < len(j.prevIdx) && k < hi+batchSize; k++ {
			if p := j.prevIdx[k]; p >= 0 {
				j.prev.dropRecordsBefore(int(p))
				break
			}
		}
	}
}

// run renders the document to w: top-level members in key order, the
// record sections streamed batch by batch as workers finish them, and the
// signatures last among the keys that sort before them.
func (j *signJob) run(w *bufio.Writer, workers int, progress func(done, total int)) error {
	f := j.f
	var batches []*batch
	sectionBatches := map[Section][]*batch{}
	for _, sec := range []Section{Packages, PackagesConda} {
		lo := 0
		if sec == PackagesConda {
			lo = f.nPkgs
		}
		hi := len(f.records)
		if sec == Packages {
			hi = f.nPkgs
		}
		for s := lo; s < hi; s += batchSize {
			b := &batch{lo: s, hi: min(s+batchSize, hi), first: s == lo, done: make(chan struct{})}
			batches = append(batches, b)
			sectionBatches[sec] = append(sectionBatches[sec], b)
		}
	}

	jobs := make(chan *batch)
	window := make(chan struct{}, 4*workers)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				j.process(b)
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, b := range batches {
			select {
			case window <- struct{}{}:
			case <-quit:
				return
			}
			select {
			case jobs <- b:
			case <-quit:
				return
			}
		}
	}()
	err := j.write(w, sectionBatches, window, progress)
	close(quit)
	wg.Wait()
	j.stats.Signed = int(j.signed.Load())
	j.stats.Reused = int(j.reused.Load())
	j.stats.Signatures = int(j.nsigs.Load())
	j.stats.Kept = int(j.kept.Load())
	if j.pkgMgr != nil {
		j.stats.ThresholdMet = int(j.met.Load())
	}
	j.stats.DroppedRecords = j.dropRecs
	for k, n := range j.drops {
		j.stats.Dropped = append(j.stats.Dropped, Dropped{Key: k.key, Reason: k.reason, Signatures: n})
	}
	slices.SortFunc(j.stats.Dropped, func(a, b Dropped) int {
		if c := compareStrings(a.Key, b.Key); c != 0 {
			return c
		}
		return compareStrings(string(a.Reason), string(b.Reason))
	})
	return err
}

func (j *signJob) write(w *bufio.Writer, sectionBatches map[Section][]*batch, window chan struct{}, progress func(done, total int)) error {
	f := j.f
	type topKey struct {
		key string
		m   *member
	}
	var keys []topKey
	for i := range f.top {
		keys = append(keys, topKey{key: f.top[i].key, m: &f.top[i]})
	}
	keys = append(keys, topKey{key: string(Packages)}, topKey{key: "signatures"})
	if f.hasConda {
		keys = append(keys, topKey{key: string(PackagesConda)})
	}
	slices.SortFunc(keys, func(a, b topKey) int { return compareStrings(a.key, b.key) })

	done, total := 0, len(f.records)
	var scratch []byte
	w.WriteByte('{')
	for i, k := range keys {
		scratch = appendMemberKey(scratch[:0], k.key, 1, i == 0, j.compact)
		w.Write(scratch)
		switch {
		case k.m != nil:
			var err error
			if scratch, err = f.appendTopMember(scratch[:0], k.m, j.compact); err != nil {
				return err
			}
			w.Write(scratch)
		case k.key == "signatures":
			if err := j.writeSignatures(w); err != nil {
				return err
			}
		default:
			bs := sectionBatches[Section(k.key)]
			w.WriteByte('{')
			for _, b := range bs {
				<-b.done
				if b.err != nil {
					return b.err
				}
				// A batch is large: write it straight through rather than
				// copying it into the buffer first.
				if err := w.Flush(); err != nil {
					return err
				}
				if j.idx != nil {
					for i := b.lo; i < b.hi; i++ {
						j.idx.rec[i][0] += j.dw.n
					}
				}
				if _, err := j.out.Write(b.out); err != nil {
					return err
				}
				bp := b.out
				b.out = nil
				bufPool.Put(&bp)
				j.dropBefore(b.hi)
				<-window
				done += b.hi - b.lo
				if progress != nil {
					progress(done, total)
				}
			}
			if len(bs) > 0 && !j.compact {
				w.WriteString("\n  ")
			}
			w.WriteByte('}')
		}
	}
	if !j.compact {
		w.WriteByte('\n')
	}
	w.WriteByte('}')
	return nil
}

// writeSignatures writes the signatures object: one entry per record,
// sorted by file name across both sections. It runs after every record
// has been signed, since "signatures" sorts after both sections.
func (j *signJob) writeSignatures(w *bufio.Writer) error {
	f := j.f
	a, b := f.records[:f.nPkgs], f.records[f.nPkgs:]
	nk := len(j.keys)
	var buf []byte
	first := true
	emit := func(i int, also ...int) error {
		buf = appendMemberKey(buf[:0], f.records[i].Filename, 2, first, j.compact)
		first = false
		start := len(buf)
		if j.keep && j.keptMask[i] != 0 {
			buf = j.appendSigEntryKept(buf, i)
		} else {
			buf = appendSigEntry(buf, j.keys, j.sigs[i*nk*64:(i+1)*nk*64], j.compact)
		}
		if j.idx != nil {
			e := [2]int64{j.dw.n + int64(w.Buffered()+start), int64(len(buf) - start)}
			j.idx.sig[i] = e
			for _, k := range also {
				j.idx.sig[k] = e
			}
		}
		_, err := w.Write(buf)
		return err
	}
	w.WriteByte('{')
	i, k := 0, 0
	for i < len(a) || k < len(b) {
		var err error
		if i < len(a) && k < len(b) && a[i].Filename == b[k].Filename {
			// Identical records in both sections: one entry, as the
			// reference's signatures dict holds.
			err = emit(f.nPkgs+k, i)
			i++
			k++
		} else if k == len(b) || (i < len(a) && a[i].Filename < b[k].Filename) {
			err = emit(i)
			i++
		} else {
			err = emit(f.nPkgs + k)
			k++
		}
		if err != nil {
			return err
		}
	}
	if len(f.records) > 0 && !j.compact {
		w.WriteString("\n  ")
	}
	return w.WriteByte('}')
}

// setPkgMgr prepares threshold counting and, with keep, the keeping of
// other keys' signatures.
func (j *signJob) setPkgMgr(d *trust.Delegation, keep bool) error {
	if d == nil {
		if keep {
			return errors.New("repodata: keeping other keys' signatures needs the pkg_mgr delegation of key_mgr, to know which keys may sign")
		}
		return nil
	}
	if d.Threshold < 1 {
		return fmt.Errorf("repodata: pkg_mgr threshold %d: a threshold is at least 1", d.Threshold)
	}
	j.pkgMgr = d
	for _, k := range j.keys {
		if d.Has(k) {
			j.ownAuth++
		}
	}
	if !keep {
		return nil
	}
	j.keep = true
	for _, k := range d.Keys {
		if !slices.Contains(j.keys, k) && !slices.Contains(j.others, k) {
			j.others = append(j.others, k)
		}
	}
	if len(j.others) > 64 {
		return fmt.Errorf("repodata: key_mgr delegates pkg_mgr to %d keys; at most 64 other keys' signatures can be kept", len(j.others))
	}
	slices.SortFunc(j.others, func(a, b trust.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range j.others {
		j.otherHex = append(j.otherHex, k.String())
	}
	j.keptMask = make([]uint64, len(j.f.records))
	j.keptSigs = make([]byte, len(j.f.records)*len(j.others)*64)
	j.drops = map[dropKey]int{}
	return nil
}

// isSigner reports whether key (as written in a signatures entry) is one
// of the keys signing now.
func (j *signJob) isSigner(key []byte) bool {
	for _, h := range j.keyHex {
		if string(key) == h {
			return true
		}
	}
	return false
}

// keptCount is the number of other keys' signatures kept on record i.
func (j *signJob) keptCount(i int) int {
	if !j.keep {
		return 0
	}
	return bits.OnesCount64(j.keptMask[i])
}

func (j *signJob) addDrops(a *dropAcc) {
	if len(a.m) == 0 && a.recs == 0 {
		return
	}
	j.dropMu.Lock()
	defer j.dropMu.Unlock()
	if j.drops == nil {
		j.drops = map[dropKey]int{}
	}
	for k, n := range a.m {
		j.drops[k] += n
	}
	j.dropRecs += a.recs
}

// countDropped counts the signatures of the input by keys other than the
// signers that the output will not hold: with KeepOthers, those whose
// record is gone (keepOthers decides the rest record by record); without,
// all of them. It reads only the keys of each entry.
func (j *signJob) countDropped(workers int) error {
	f := j.f
	if len(f.sigs) == 0 {
		return nil
	}
	accs := make([]dropAcc, max(workers, 1))
	err := workpool.Run(workers, len(f.sigs), 256, func(w, lo, hi int) error {
		a := &accs[w]
		for _, e := range f.sigs[lo:hi] {
			reason := DropNotKept
			if !j.hasRecord(e.fn) {
				reason = DropNoRecord
			} else if j.keep {
				continue
			}
			lost := false
			err := eachSignature(e.raw, func(key, _ []byte) {
				if j.isSigner(key) {
					return
				}
				if a.m == nil {
					a.m = map[dropKey]int{}
				}
				a.m[dropKey{string(key), reason}]++
				lost = true
			})
			if err != nil {
				return fmt.Errorf("repodata: signatures of %s: %w", e.fn, err)
			}
			if lost {
				a.recs++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range accs {
		j.addDrops(&accs[i])
	}
	return nil
}

func (j *signJob) hasRecord(fn string) bool {
	if _, ok := j.f.Lookup(Packages, fn); ok {
		return true
	}
	_, ok := j.f.Lookup(PackagesConda, fn)
	return ok
}

// keepOthers keeps the valid signatures by other authorized keys that the
// input holds for record i, and counts the rest as dropped. It returns the
// record's canonical bytes, appended to canon, when it had to compute them.
func (j *signJob) keepOthers(i int, canon []byte, drops *dropAcc) ([]byte, bool, error) {
	r := j.f.records[i]
	e, found := j.f.signaturesOf(r.Filename)
	if !found {
		return canon, false, nil
	}
	// A file name in both sections (identical records) has one entry:
	// count its drops once.
	count := i < j.f.nPkgs
	if !count {
		_, inPkgs := j.f.Lookup(Packages, r.Filename)
		count = !inPkgs
	}
	haveCanon, lost := false, false
	var sig [64]byte
	var cerr error
	nOther := len(j.others)
	err := eachSignature(e.raw, func(key, sigHex []byte) {
		if cerr != nil || j.isSigner(key) {
			return
		}
		o := slices.Index(j.otherHex, string(key))
		reason := DropUnauthorized
		if o >= 0 {
			if !haveCanon {
				if canon, cerr = j.f.appendCanonical(canon, r); cerr != nil {
					return
				}
				haveCanon = true
			}
			if sigHex != nil && decodeLowerHex(sig[:], sigHex) && ed25519.Verify(j.others[o][:], canon, sig[:]) {
				if j.keptMask[i]&(1<<o) == 0 && count {
					j.kept.Add(1)
				}
				j.keptMask[i] |= 1 << o
				copy(j.keptSigs[(i*nOther+o)*64:], sig[:])
				return
			}
			reason = DropInvalid
		}
		if count {
			drops.m[dropKey{string(key), reason}]++
			lost = true
		}
	})
	if cerr != nil {
		return canon, false, cerr
	}
	if err != nil {
		return canon, false, fmt.Errorf("repodata: signatures of %s: %w", r.Filename, err)
	}
	if lost {
		drops.recs++
	}
	return canon, haveCanon, nil
}

// eachSignature calls fn with the key and the signature text of every
// entry of a signatures[filename] object; sig is nil for an entry that is
// not {"signature": string}. Entries as this package writes them are read
// without parsing.
func eachSignature(raw []byte, fn func(key, sig []byte)) error {
	if scanSignatures(raw, fn, true) {
		scanSignatures(raw, fn, false)
		return nil
	}
	v, err := canonjson.Parse(raw)
	if err != nil {
		return err
	}
	if v.Kind() != canonjson.Object {
		return errSigsNotObject
	}
	for _, m := range v.Members() {
		var sig []byte
		if m.Value.Kind() == canonjson.Object && m.Value.Len() == 1 {
			if sv, ok := m.Value.Get("signature"); ok && sv.Kind() == canonjson.String {
				sig = []byte(sv.Str())
			}
		}
		fn(m.Key, sig)
	}
	return nil
}

// scanSignatures reads raw as written by this package (indented or
// compact): {"<key>": {"signature": "<hex>"}, ...} with no escapes. With
// dry set it only checks the shape; otherwise it calls fn for each entry.
func scanSignatures(raw []byte, fn func(key, sig []byte), dry bool) bool {
	p := 0
	lit := func(s string) bool {
		for p < len(raw) && isSpace(raw[p]) {
			p++
		}
		if len(raw)-p < len(s) || string(raw[p:p+len(s)]) != s {
			return false
		}
		p += len(s)
		return true
	}
	str := func() ([]byte, bool) {
		if !lit(`"`) {
			return nil, false
		}
		end := bytes.IndexByte(raw[p:], '"')
		if end < 0 || bytes.IndexByte(raw[p:p+end], '\\') >= 0 {
			return nil, false
		}
		s := raw[p : p+end]
		p += end + 1
		return s, true
	}
	if !lit("{") {
		return false
	}
	if lit("}") {
		return p == len(raw)
	}
	for {
		key, ok := str()
		if !ok || !lit(":") || !lit("{") || !lit(`"signature"`) || !lit(":") {
			return false
		}
		sig, ok := str()
		if !ok || !lit("}") {
			return false
		}
		if !dry {
			fn(key, sig)
		}
		if lit(",") {
			continue
		}
		return lit("}") && p == len(raw)
	}
}

// appendSigEntryKept is appendSigEntry for record i with the kept
// signatures of other keys merged in key order.
func (j *signJob) appendSigEntryKept(dst []byte, i int) []byte {
	nk, no := len(j.keys), len(j.others)
	sigs := j.sigs[i*nk*64 : (i+1)*nk*64]
	kept := j.keptSigs[i*no*64 : (i+1)*no*64]
	mask := j.keptMask[i]
	var hexBuf [128]byte
	dst = append(dst, '{')
	first := true
	emit := func(key string, sig []byte) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if !j.compact {
			dst = append(dst, "\n      "...)
		}
		dst = append(dst, '"')
		dst = append(dst, key...)
		hex.Encode(hexBuf[:], sig)
		if j.compact {
			dst = append(dst, `":{"signature":"`...)
			dst = append(dst, hexBuf[:]...)
			dst = append(dst, `"}`...)
		} else {
			dst = append(dst, "\": {\n        \"signature\": \""...)
			dst = append(dst, hexBuf[:]...)
			dst = append(dst, "\"\n      }"...)
		}
	}
	k, o := 0, 0
	for k < nk || o < no {
		if o < no && mask&(1<<o) == 0 {
			o++
			continue
		}
		if k < nk && (o == no || j.keyHex[k] < j.otherHex[o]) {
			emit(j.keyHex[k], sigs[k*64:(k+1)*64])
			k++
		} else {
			emit(j.otherHex[o], kept[o*64:(o+1)*64])
			o++
		}
	}
	if !j.compact {
		dst = append(dst, "\n    "...)
	}
	return append(dst, '}')
}
