package repodata

// Incremental signing: reusing the signatures of SignOptions.Previous for
// records that did not change. See the package documentation for why a
// byte comparison is enough, and checkSample for what is checked before
// Previous is trusted at all.

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/trust"
)

// sampleSize is how many reusable records of Previous are checked in full
// (parsed, re-rendered and their signatures verified) before the rest are
// reused on the strength of a byte comparison.
const sampleSize = 64

// usePrevious prepares the reuse of prev's signatures (see
// SignOptions.Previous): it matches the records of the file being signed
// with their namesakes in prev and checks a sample of those that would be
// reused. If prev is the input itself or fails the sample, nothing is
// reused and the reason goes to the stats.
func (j *signJob) usePrevious(prev *File) error {
	if len(prev.data) == len(j.f.data) && bytes.Equal(prev.data, j.f.data) {
		// The input itself (opened twice): its signatures prove nothing
		// about its records.
		j.stats.PreviousRejected = "it has the same bytes as the file being signed, so it says nothing about which records changed"
		return nil
	}
	j.prev = prev
	j.prevIdx = matchRecords(j.f, prev)
	why, err := j.checkSample()
	if err != nil {
		return err
	}
	if why != "" {
		j.stats.PreviousRejected = why
		j.prev, j.prevIdx = nil, nil
	}
	return nil
}

// matchRecords returns, for every record of f, the index of the record
// with the same section and file name in prev, or -1.
func matchRecords(f, prev *File) []int32 {
	idx := make([]int32, len(f.records))
	for s, sec := range []Section{Packages, PackagesConda} {
		a, b := f.section(sec), prev.section(sec)
		base, pbase := 0, 0
		if s == 1 {
			base, pbase = f.nPkgs, prev.nPkgs
		}
		k := 0
		for i := range a {
			for k < len(b) && b[k].Filename < a[i].Filename {
				k++
			}
			if k < len(b) && b[k].Filename == a[i].Filename {
				idx[base+i] = int32(pbase + k)
			} else {
				idx[base+i] = -1
			}
		}
	}
	return idx
}

// reusable reports whether record i is unchanged from its namesake in
// Previous, and which keys' signatures Previous holds for it (bit k for
// key k; decoded into out). It does no cryptography and, for files in the
// layouts this package writes, no parsing: see the package documentation.
func (j *signJob) reusable(i int, out []byte) (have uint64, prev Record, ok bool) {
	if j.prev == nil || j.prevIdx[i] < 0 {
		return 0, Record{}, false
	}
	r := j.f.records[i]
	prev = j.prev.records[j.prevIdx[i]]
	if !bytes.Equal(r.Raw, prev.Raw) && !sameIgnoringSpace(r.Raw, prev.Raw) {
		return 0, Record{}, false
	}
	e, found := j.prev.signaturesOf(r.Filename)
	if !found {
		return 0, Record{}, false
	}
	have, ok = fastRawSigs(e.raw, j.keyHex, out)
	if !ok {
		have = slowRawSigs(e.raw, j.keys, out)
	}
	return have, prev, have != 0
}

// fastRawSigs reads a signatures value written as this package writes it
// (indented or compact): an object of raw entries
// {"<64 lowercase hex>": {"signature": "<128 lowercase hex>"}, ...}. For
// each entry by one of keys it decodes the signature into out and sets the
// key's bit; a later duplicate wins, as in Python. It returns false as
// soon as anything else appears, and the caller falls back to a full
// parse.
func fastRawSigs(raw []byte, keys []string, out []byte) (have uint64, ok bool) {
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
	if !lit("{") {
		return 0, false
	}
	if lit("}") {
		return 0, p == len(raw)
	}
	for {
		if !lit(`"`) || len(raw)-p < 65 || raw[p+64] != '"' {
			return 0, false
		}
		key := raw[p : p+64]
		p += 65
		if !lit(":") || !lit("{") || !lit(`"signature"`) || !lit(":") || !lit(`"`) || len(raw)-p < 129 || raw[p+128] != '"' {
			return 0, false
		}
		sig := raw[p : p+128]
		p += 129
		if !lit("}") {
			return 0, false
		}
		for k, want := range keys {
			if string(key) == want {
				if !decodeLowerHex(out[k*64:(k+1)*64], sig) {
					return 0, false
				}
				have |= 1 << k
			}
		}
		if lit(",") {
			continue
		}
		if lit("}") {
			return have, p == len(raw)
		}
		return 0, false
	}
}

// slowRawSigs is fastRawSigs for any layout, through canonjson. Entries of
// any other shape do not count.
func slowRawSigs(raw []byte, keys []trust.PublicKey, out []byte) (have uint64) {
	v, err := canonjson.Parse(raw)
	if err != nil {
		return 0
	}
	for k, key := range keys {
		entry, ok := v.Get(key.String())
		if !ok || entry.Kind() != canonjson.Object || entry.Len() != 1 {
			continue
		}
		sv, ok := entry.Get("signature")
		if !ok || sv.Kind() != canonjson.String || !decodeLowerHex(out[k*64:(k+1)*64], []byte(sv.Str())) {
			continue
		}
		have |= 1 << k
	}
	return have
}

var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range []byte("0123456789abcdef") {
		t[c] = byte(i)
	}
	return t
}()

// decodeLowerHex decodes 2*len(dst) lowercase hex characters into dst.
func decodeLowerHex(dst, src []byte) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := hexValue[src[2*i]], hexValue[src[2*i+1]]
		if hi|lo == 0xff {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// renderReused appends the output form of an unchanged record from the
// bytes Previous has for it.
//
// Previous is this signer's output (the sample check confirms it), so a
// record in the wanted layout is copied as is; one in the other layout
// (Previous written with the other Compact setting) is converted.
func (j *signJob) renderReused(dst []byte, prev Record) []byte {
	indented := bytes.IndexByte(prev.Raw, '\n') >= 0
	switch {
	case j.compact && indented:
		return appendCompact(dst, prev.Raw)
	case !j.compact && !indented && len(prev.Raw) > 2:
		return appendIndented(dst, prev.Raw, 2)
	}
	return append(dst, prev.Raw...)
}

// checkSample checks a random sample of the records that would be reused
// in full: the reused layout must equal the canonical rendering and every
// reused signature must verify. It returns why Previous is unusable, or
// "" if the sample passed. A previous file written by another tool, in
// another layout or with other keys fails here rather than producing
// output that differs from a full re-sign.
func (j *signJob) checkSample() (string, error) {
	n := len(j.f.records)
	if n == 0 {
		return "", nil
	}
	sigs := make([]byte, len(j.keys)*64)
	var canon, a, b []byte
	// Distinct records, in random order: all of them for a small file,
	// up to 4*sampleSize random picks for a large one.
	var order []int
	if n <= 8*sampleSize {
		order = rand.Perm(n)
	} else {
		seen := map[int]bool{}
		for len(order) < 4*sampleSize {
			if i := rand.IntN(n); !seen[i] {
				seen[i] = true
				order = append(order, i)
			}
		}
	}
	for _, i := range order {
		if j.stats.Sampled == sampleSize {
			break
		}
		have, prev, ok := j.reusable(i, sigs)
		if !ok {
			continue
		}
		j.stats.Sampled++
		v, err := j.f.parseRecord(j.f.records[i])
		if err != nil {
			return "", err
		}
		canon = canonjson.AppendIndent(canon[:0], v, 0)
		a = j.renderCanonical(a[:0], canon)
		b = j.renderReused(b[:0], prev)
		if !bytes.Equal(a, b) {
			return fmt.Sprintf("its record %s is not in the canonical layout this signer writes (was it written by another tool?)", prev.Filename), nil
		}
		for k, key := range j.keys {
			if have&(1<<k) != 0 && !ed25519.Verify(key[:], canon, sigs[k*64:(k+1)*64]) {
				return fmt.Sprintf("its signature of %s by key %s does not verify", prev.Filename, key.Short()), nil
			}
		}
	}
	return "", nil
}
