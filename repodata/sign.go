package repodata

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/atomicfile"
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
		stats: &SignStats{Records: len(f.records)},
	}
	for k, key := range keys {
		j.keyHex = append(j.keyHex, key.String())
		j.allKeys |= 1 << k
	}
	if err := j.checkSigners(); err != nil {
		return nil, err
	}
	if err := f.checkSignatures(workers); err != nil {
		return nil, err
	}
	f.dropSignatures()
	if opts.Previous != nil {
		if err := j.usePrevious(opts.Previous); err != nil {
			return nil, err
		}
	}
	j.out = w
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := j.run(bw, workers, opts.Progress); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
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
	err := atomicfile.Write(path, perm, func(w io.Writer) error {
		var err error
		stats, err = Sign(w, f, opts)
		return err
	})
	if err != nil {
		return nil, err
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

	signed, reused, nsigs atomic.Int64
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
	nk := len(j.keys)
	for i := b.lo; i < b.hi; i++ {
		r := j.f.records[i]
		sigs := j.sigs[i*nk*64 : (i+1)*nk*64]
		out = appendMemberKey(out, r.Filename, 2, b.first && i == b.lo, j.compact)
		have, prev, ok := j.reusable(i, sigs)
		if ok && have == j.allKeys {
			out = j.renderReused(out, prev)
			j.reused.Add(1)
			continue
		}
		var err error
		canon, err = j.f.appendCanonical(canon[:0], r)
		if err != nil {
			b.err = err
			break
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
			v, err := canonjson.ParseUnique(k.m.raw)
			if err != nil {
				return relocate(f.data, k.m.off, err)
			}
			scratch = canonjson.AppendIndent(scratch[:0], v, 1)
			if j.compact {
				scratch = appendCompact(scratch[:0:0], scratch)
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
	emit := func(i int) error {
		buf = appendMemberKey(buf[:0], f.records[i].Filename, 2, first, j.compact)
		first = false
		buf = appendSigEntry(buf, j.keys, j.sigs[i*nk*64:(i+1)*nk*64], j.compact)
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
			err = emit(f.nPkgs + k)
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
