package repodata

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/workpool"
	"github.com/condatrust/condatrust/trust"
)

// Section names one of the two objects of repodata.json that hold package
// records.
type Section string

// The record sections. conda looks up a .tar.bz2 file in [Packages] and a
// .conda file in [PackagesConda].
const (
	Packages      Section = "packages"
	PackagesConda Section = "packages.conda"
)

// SectionFor returns the section conda looks up filename in, from its
// extension, and false for a name that is not a conda package.
func SectionFor(filename string) (Section, bool) {
	switch {
	case strings.HasSuffix(filename, ".tar.bz2"):
		return Packages, true
	case strings.HasSuffix(filename, ".conda"):
		return PackagesConda, true
	}
	return "", false
}

// Record is one package record: a value of "packages" or
// "packages.conda", kept as the raw bytes it has in the file. Nothing is
// decoded into typed fields, so numbers, unknown fields and every other
// detail stay exactly as served; what is signed and verified is the
// canonical form of those bytes.
type Record struct {
	Filename string
	Section  Section
	// Raw is the record's JSON as it appears in the file (any layout). It
	// aliases the file's bytes and must not be modified.
	Raw []byte
	off int // offset of Raw in the file, for error messages
}

// Value parses the record strictly (see canonjson.ParseUnique: a key
// that occurs twice is an error).
func (r Record) Value() (canonjson.Value, error) {
	v, err := canonjson.ParseUnique(r.Raw)
	if err != nil {
		return canonjson.Value{}, fmt.Errorf("record %s: %w", r.Filename, err)
	}
	if v.Kind() != canonjson.Object {
		return canonjson.Value{}, &trust.FormatError{Role: "repodata", Field: string(r.Section) + "." + r.Filename,
			Reason: fmt.Sprintf("a package record is a JSON object, found %s", v.Kind())}
	}
	return v, nil
}

// Canonical returns the bytes a pkg_mgr key signs for this record: its
// canonical serialization (content-trust spec §13.2).
func (r Record) Canonical() ([]byte, error) {
	v, err := r.Value()
	if err != nil {
		return nil, err
	}
	return canonjson.Marshal(v), nil
}

// member is a top-level member of the file other than the record
// sections and "signatures".
type member struct {
	key string
	off int
	raw []byte
}

// sigEntry is the raw value of signatures[filename].
type sigEntry struct {
	fn  string
	off int
	raw []byte
}

// File is a repodata.json split into its parts: the top-level members, the
// records of both sections (sorted by file name) and the raw "signatures"
// entries. A name that occurs twice (a top-level member, a record of one
// section, a signatures entry, or a key inside any of them) makes the
// document malformed: Python's json.load keeps the last, other readers the
// first, and a document read two ways cannot be verified one way.
// Records are parsed only when used, one at a time, so a file of hundreds
// of thousands of records costs little more memory than its bytes.
//
// [Parse] checks the structure of the whole document; each record's JSON is
// checked in full (strictly, see canonjson.Parse) when it is signed,
// verified or read with [Record.Value]. Malformed JSON anywhere is an
// error, never a silent change.
type File struct {
	data    []byte
	release func() error
	mapped  bool       // data is a file mapping whose pages may be dropped
	dropMu  sync.Mutex // guards dropped
	dropped int        // data[:dropped] was dropped from memory (page aligned)
	ordered bool       // records lie in the file in the order of records

	top      []member // sorted by key
	records  []Record // packages, then packages.conda, each sorted by name
	nPkgs    int      // records[:nPkgs] are in "packages"
	hasPkgs  bool     // the file has a "packages" member
	hasConda bool     // the file has a "packages.conda" member
	hasSigs  bool     // the file has a "signatures" member
	sigs     []sigEntry
}

// Parse splits a repodata.json document, on all cores when it is large.
// data must not be modified while the File is in use: records alias it.
func Parse(data []byte) (*File, error) {
	return parse(data, runtime.GOMAXPROCS(0), false)
}

// parse is Parse with a number of workers; mapped says data is a private
// file mapping whose pages may be released as they are read.
func parse(data []byte, workers int, mapped bool) (*File, error) {
	f := &File{data: data}
	s := &scanner{data: data}
	var pkgs, conda []Record
	chunks := speculate(data, workers, mapped)
	ci := 0
	seenTop := map[string]bool{}
	err := s.members(func(key string) error {
		if seenTop[key] {
			return &trust.FormatError{Role: "repodata", Field: key, Reason: "the top-level member occurs twice; a signed or verified document must name each member once"}
		}
		seenTop[key] = true
		switch key {
		case string(Packages), string(PackagesConda), "signatures":
			if s.pos >= len(data) || data[s.pos] != '{' {
				return &trust.FormatError{Role: "repodata", Field: key, Reason: "must be a JSON object"}
			}
		}
		switch key {
		case string(Packages), string(PackagesConda):
			sec := Section(key)
			var recs []Record
			if err := s.valueMembers(chunks, &ci, func(m rawMember) {
				recs = append(recs, Record{Filename: m.key, Section: sec, Raw: m.raw, off: m.off})
			}); err != nil {
				return err
			}
			if sec == Packages {
				pkgs, f.hasPkgs = recs, true
			} else {
				conda, f.hasConda = recs, true
			}
		case "signatures":
			var sigs []sigEntry
			if err := s.valueMembers(chunks, &ci, func(m rawMember) {
				sigs = append(sigs, sigEntry{fn: m.key, off: m.off, raw: m.raw})
			}); err != nil {
				return err
			}
			f.sigs, f.hasSigs = sigs, true
		default:
			off := s.pos
			raw, err := s.skipValue()
			if err != nil {
				return err
			}
			if err := canonjson.ValidUnique(raw); err != nil {
				return relocate(data, off, err)
			}
			f.top = append(f.top, member{key: key, off: off, raw: raw})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repodata: %w", err)
	}
	s.skipWS()
	if s.pos != len(data) {
		return nil, fmt.Errorf("repodata: %w", s.errorf("unexpected %s after the JSON value", s.describe()))
	}
	if !f.hasPkgs && !f.hasConda {
		return nil, &trust.FormatError{Role: "repodata", Field: "packages",
			Reason: `not a repodata.json: it has neither a "packages" nor a "packages.conda" object`}
	}
	f.top, _ = sortUnique(f.top, func(m member) string { return m.key }, "")
	if pkgs, err = sortUnique(pkgs, func(r Record) string { return r.Filename }, string(Packages)); err != nil {
		return nil, err
	}
	if conda, err = sortUnique(conda, func(r Record) string { return r.Filename }, string(PackagesConda)); err != nil {
		return nil, err
	}
	if f.sigs, err = sortUnique(f.sigs, func(e sigEntry) string { return e.fn }, "signatures"); err != nil {
		return nil, err
	}
	f.nPkgs = len(pkgs)
	f.records = append(pkgs, conda...)
	f.ordered = true
	for i := 1; i < len(f.records); i++ {
		if f.records[i].off < f.records[i-1].off {
			f.ordered = false
			break
		}
	}
	return f, nil
}

// dropSignatures releases the memory of the mapped "signatures" member
// (for a signer, which has checked it and discards it).
func (f *File) dropSignatures() {
	if !f.mapped || len(f.sigs) == 0 {
		return
	}
	const page = 1 << 16
	lo, hi := len(f.data), 0
	for _, e := range f.sigs {
		lo, hi = min(lo, e.off), max(hi, e.off+len(e.raw))
	}
	lo = (lo + page - 1) &^ (page - 1)
	hi &^= page - 1
	if lo < hi {
		dropPages(f.data[lo:hi])
	}
}

// dropRecordsBefore releases the memory of the mapped file up to the
// start of record i, when records lie in the file in order: a signer
// that has written records[:i] needs their bytes no more (reading them
// again stays correct, only slower). It keeps the peak memory of signing a
// large file near one window of it rather than the whole file.
// dropStep is the least that dropRecordsBefore lets go at once.
const dropStep = 4 << 20

func (f *File) dropRecordsBefore(i int) {
	if !f.mapped || !f.ordered || i <= 0 || i >= len(f.records) {
		return
	}
	const page = 1 << 16 // a multiple of every page size in use
	end := f.records[i].off &^ (page - 1)
	f.dropMu.Lock()
	defer f.dropMu.Unlock()
	// At least dropStep at a time: each madvise costs a TLB shootdown on
	// every core running this process, which on a busy VM is dear.
	if end-f.dropped >= dropStep {
		dropPages(f.data[f.dropped:end])
		f.dropped = end
	}
}

// sortUnique sorts s by key (byte order of UTF-8, which is code point
// order) and refuses a key that occurs twice, naming the section. Input
// already in strictly increasing order, as conda-index writes it, is
// returned as is.
func sortUnique[T any](s []T, key func(T) string, section string) ([]T, error) {
	sorted := true
	for i := 1; i < len(s); i++ {
		if key(s[i-1]) >= key(s[i]) {
			sorted = false
			break
		}
	}
	if sorted {
		return s, nil
	}
	slices.SortStableFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	for i := 1; i < len(s); i++ {
		if key(s[i-1]) == key(s[i]) {
			return nil, &trust.FormatError{Role: "repodata", Field: section + "." + key(s[i]),
				Reason: "the name occurs twice; a signed or verified document must name each record once"}
		}
	}
	return s, nil
}

// Open reads the repodata.json at path. On Unix systems the file is
// mapped into memory rather than read, so that its bytes do not count
// against the Go heap; Close releases it. The file must not be truncated
// or rewritten in place while it is open (replacing it by rename, as every
// conda-trust writer does, is fine).
func Open(path string) (*File, error) {
	data, release, mapped, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	f, err := parse(data, runtime.GOMAXPROCS(0), mapped)
	if err != nil {
		release()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.release, f.mapped = release, mapped
	if mapped {
		// Splitting touched every page. Let them go: records are read
		// again one at a time, from the page cache, when they are used,
		// and a signer lets them go again once written.
		dropPages(data)
	}
	return f, nil
}

// Close releases the memory of a File returned by [Open]. Records and
// anything else obtained from f must not be used afterwards. Close on a
// File from [Parse] does nothing.
func (f *File) Close() error {
	if f.release == nil {
		return nil
	}
	r := f.release
	f.release = nil
	return r()
}

// Len returns the number of records.
func (f *File) Len() int { return len(f.records) }

// Records returns every record: those of "packages", then those of
// "packages.conda", each sorted by file name. The slice must not be
// modified.
func (f *File) Records() []Record { return f.records }

func (f *File) section(sec Section) []Record {
	if sec == Packages {
		return f.records[:f.nPkgs]
	}
	return f.records[f.nPkgs:]
}

// Lookup returns the record filed under filename in section sec.
func (f *File) Lookup(sec Section, filename string) (Record, bool) {
	recs := f.section(sec)
	i, ok := slices.BinarySearchFunc(recs, filename, func(r Record, fn string) int { return strings.Compare(r.Filename, fn) })
	if !ok {
		return Record{}, false
	}
	return recs[i], true
}

// Record returns the record of a package file, looked up in the section
// its extension implies, as conda does.
func (f *File) Record(filename string) (Record, bool) {
	sec, ok := SectionFor(filename)
	if !ok {
		return Record{}, false
	}
	return f.Lookup(sec, filename)
}

// Member returns the parsed value of a top-level member other than the
// record sections and "signatures" (such as "info" or "repodata_version"),
// and false when the document has no such member. It is not signed: use
// it for what it tells, never for a trust decision.
func (f *File) Member(key string) (canonjson.Value, bool) {
	i, ok := slices.BinarySearchFunc(f.top, key, func(m member, k string) int { return strings.Compare(m.key, k) })
	if !ok {
		return canonjson.Value{}, false
	}
	v, err := canonjson.ParseUnique(f.top[i].raw)
	if err != nil { // checked by Parse; only a file changed underneath gets here
		return canonjson.Value{}, false
	}
	return v, true
}

// Info returns info.subdir and info.base_url (CEP 15), "" where absent
// or not strings. Neither is signed.
func (f *File) Info() (subdir, baseURL string) {
	v, ok := f.Member("info")
	if !ok {
		return "", ""
	}
	if sd, ok := v.Get("subdir"); ok && sd.Kind() == canonjson.String {
		subdir = sd.Str()
	}
	if b, ok := v.Get("base_url"); ok && b.Kind() == canonjson.String {
		baseURL = b.Str()
	}
	return subdir, baseURL
}

// HasSignatures reports whether the file has a top-level "signatures"
// member. Without one, every record is unsigned.
func (f *File) HasSignatures() bool { return f.hasSigs }

// signaturesOf returns the raw value of signatures[filename].
func (f *File) signaturesOf(filename string) (sigEntry, bool) {
	i, ok := slices.BinarySearchFunc(f.sigs, filename, func(e sigEntry, fn string) int { return strings.Compare(e.fn, fn) })
	if !ok {
		return sigEntry{}, false
	}
	return f.sigs[i], true
}

// Envelope returns the signable envelope of a record: its signatures
// (signatures[filename], or none) around the record. Signature entries of
// an unknown shape are kept and never count (content-trust spec §8). A
// signatures[filename] that is not an object is a format error.
func (f *File) Envelope(r Record) (*trust.Envelope, error) {
	v, err := f.parseRecord(r)
	if err != nil {
		return nil, err
	}
	env, err := f.envelope(r, v)
	if err == errSigsNotObject {
		return nil, &trust.FormatError{Role: "repodata", Field: "signatures." + r.Filename, Reason: "must be an object of signature entries"}
	}
	return env, err
}

// parseRecord is [Record.Value] with errors located in the whole file.
func (f *File) parseRecord(r Record) (canonjson.Value, error) {
	v, err := canonjson.ParseUnique(r.Raw)
	if err != nil {
		return canonjson.Value{}, fmt.Errorf("repodata: record %s: %w", r.Filename, relocate(f.data, r.off, err))
	}
	if v.Kind() != canonjson.Object {
		return canonjson.Value{}, &trust.FormatError{Role: "repodata", Field: string(r.Section) + "." + r.Filename,
			Reason: fmt.Sprintf("a package record is a JSON object, found %s", v.Kind())}
	}
	return v, nil
}

// appendCanonical appends the canonical bytes of record r to dst. Records
// written with sorted keys (conda-index's output) take canonjson's direct
// path, with no tree and no allocation; the bytes are the same as
// Marshal of parseRecord's value.
func (f *File) appendCanonical(dst []byte, r Record) ([]byte, error) {
	n := len(dst)
	out, err := canonjson.AppendCanonicalUnique(dst, r.Raw)
	if err != nil {
		return dst, fmt.Errorf("repodata: record %s: %w", r.Filename, relocate(f.data, r.off, err))
	}
	if out[n] != '{' {
		_, err := f.parseRecord(r) // for the same error as everywhere else
		return dst, err
	}
	return out, nil
}

// errSigsNotObject reports a signatures[filename] that is not an object.
var errSigsNotObject = errors.New("its signatures entry is not a JSON object of signature entries")

func (f *File) envelope(r Record, v canonjson.Value) (*trust.Envelope, error) {
	sigs := emptyObject
	if e, ok := f.signaturesOf(r.Filename); ok {
		sv, err := canonjson.ParseUnique(e.raw)
		if err != nil {
			return nil, fmt.Errorf("repodata: signatures of %s: %w", r.Filename, relocate(f.data, e.off, err))
		}
		if sv.Kind() != canonjson.Object {
			return nil, errSigsNotObject
		}
		sigs = sv
	}
	whole, err := canonjson.NewObject(map[string]canonjson.Value{"signatures": sigs, "signed": v})
	if err != nil {
		return nil, err
	}
	return trust.EnvelopeFromValue(whole)
}

// checkSignatures checks, on several goroutines, that every raw entry of
// the "signatures" member is strict JSON, so that an entry that is never
// looked at (its record is gone, or the file is being re-signed) cannot
// hide invalid input.
func (f *File) checkSignatures(workers int) error {
	return workpool.Run(workers, len(f.sigs), 256, func(_, lo, hi int) error {
		for _, e := range f.sigs[lo:hi] {
			if err := canonjson.ValidUnique(e.raw); err != nil {
				return fmt.Errorf("repodata: signatures of %s: %w", e.fn, relocate(f.data, e.off, err))
			}
		}
		return nil
	})
}

var emptyObject = func() canonjson.Value {
	v, err := canonjson.NewObject(nil)
	if err != nil {
		panic(err)
	}
	return v
}()
