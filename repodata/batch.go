package repodata

// Batch verification of Ed25519 signatures: see the package documentation,
// "Batch verification", for when a batch's "all valid" is trusted and why
// the verdict is then crypto/ed25519's.

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"

	"filippo.io/edwards25519"

	"github.com/condatrust/condatrust/trust"
)

// smallOrder lists the canonical encodings of the eight points of small
// order (the torsion subgroup). A non-canonical encoding is refused before
// this list is consulted, so the list is complete (TestSmallOrderTable).
var smallOrder = [8][32]byte{
	{0x01}, // identity
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // order 2
	{},         // order 4, x > 0
	{31: 0x80}, // order 4, x < 0
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x85},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0xfa},
}

// canonicalPoint reports whether b is the canonical encoding of a field
// element y (y < p = 2^255-19) with a sign bit that is not set on x = 0
// (y = 1 or y = p-1, the only y with x = 0). It does not check that b
// decodes to a point.
func canonicalPoint(b *[32]byte) bool {
	if b[31]&0x7f == 0x7f && b[0] >= 0xed {
		all := true
		for _, c := range b[1:31] {
			all = all && c == 0xff
		}
		if all {
			return false // y >= p
		}
	}
	if b[31]&0x80 != 0 {
		// x = 0 with the sign bit set: y = 1 or y = p-1.
		rest := true
		for _, c := range b[1:31] {
			rest = rest && c == 0
		}
		if rest && b[0] == 1 && b[31] == 0x80 {
			return false
		}
		rest = true
		for _, c := range b[1:31] {
			rest = rest && c == 0xff
		}
		if rest && b[0] == 0xec && b[31] == 0xff {
			return false
		}
	}
	return true
}

func isSmallOrder(b *[32]byte) bool {
	for i := range smallOrder {
		if *b == smallOrder[i] {
			return true
		}
	}
	return false
}

// batchKey is a public key checked for batch verification: its encoding
// is canonical, it is not of small order and it has no torsion component
// ([L]A is the identity). Keys that fail are never batched.
type batchKey struct {
	pub trust.PublicKey
	ok  bool
	pt  edwards25519.Point
}

func newBatchKey(pub trust.PublicKey) batchKey {
	k := batchKey{pub: pub}
	b := [32]byte(pub)
	if !canonicalPoint(&b) || isSmallOrder(&b) {
		return k
	}
	if _, err := k.pt.SetBytes(pub[:]); err != nil {
		return k
	}
	// [L]A = [L-1]A + A, and L-1 is the scalar -1 (as an integer below L).
	minusOne := new(edwards25519.Scalar).Negate(scalarOne)
	p := new(edwards25519.Point).ScalarMult(minusOne, &k.pt)
	p.Add(p, &k.pt)
	k.ok = p.Equal(edwards25519.NewIdentityPoint()) == 1
	return k
}

var scalarOne = func() *edwards25519.Scalar {
	s, _ := new(edwards25519.Scalar).SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
	return s
}()

// batchEntry is one signature held for batch verification.
type batchEntry struct {
	key  int                // index into batch.keys
	r    edwards25519.Point // R, decoded
	s, k edwards25519.Scalar
}

// batch collects signatures that passed the pre-checks and verifies them
// together. Not safe for concurrent use: one per worker.
type sigBatch struct {
	keys    []batchKey
	entries []batchEntry
	// cache keys of the entries, added to cache once the batch verified
	cache     SignatureCache
	cacheKeys [][32]byte

	// scratch for verify
	scalars []*edwards25519.Scalar
	points  []*edwards25519.Point
	svals   []edwards25519.Scalar
	z       []byte
}

func newBatch(keys []trust.PublicKey, cache SignatureCache) *sigBatch {
	b := &sigBatch{cache: cache}
	for _, k := range keys {
		b.keys = append(b.keys, newBatchKey(k))
	}
	return b
}

func (b *sigBatch) reset() {
	b.entries = b.entries[:0]
	b.cacheKeys = b.cacheKeys[:0]
}

// add takes sig by pub over msg into the batch if it passes the
// pre-checks, and reports whether it did. A signature not taken must be
// verified on its own, with ed25519.Verify.
func (b *sigBatch) add(msg []byte, pub trust.PublicKey, sig []byte) bool {
	ki := -1
	for i := range b.keys {
		if b.keys[i].pub == pub {
			ki = i
			break
		}
	}
	if ki < 0 || !b.keys[ki].ok || len(sig) != ed25519.SignatureSize {
		return false
	}
	r := [32]byte(sig[:32])
	if !canonicalPoint(&r) || isSmallOrder(&r) {
		return false
	}
	b.entries = append(b.entries, batchEntry{key: ki})
	e := &b.entries[len(b.entries)-1]
	if _, err := e.s.SetCanonicalBytes(sig[32:]); err != nil {
		b.entries = b.entries[:len(b.entries)-1]
		return false
	}
	if _, err := e.r.SetBytes(sig[:32]); err != nil {
		b.entries = b.entries[:len(b.entries)-1]
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub[:])
	h.Write(msg)
	var d [64]byte
	e.k.SetUniformBytes(h.Sum(d[:0]))
	return true
}

// verify reports whether every entry satisfies the cofactored equation
// [8]([S]B - R - [k]A) = 0, checking the random linear combination
//
//	[8]( [-Σ z_i S_i]B + Σ [z_i]R_i + Σ_keys [Σ_{i by A} z_i k_i]A ) = 0
//
// with independent uniformly random 128-bit z_i: if any entry fails its
// own equation, the sum is the identity with probability at most 2^-128.
// The terms of one key are merged into one, so a batch costs about one
// 128-bit multiplication per signature. An empty batch verifies.
func (b *sigBatch) verify() bool {
	n := len(b.entries)
	if n == 0 {
		return true
	}
	m := 1 + n + len(b.keys)
	if cap(b.svals) < m {
		b.svals = make([]edwards25519.Scalar, m)
		b.scalars = make([]*edwards25519.Scalar, m)
		b.points = make([]*edwards25519.Point, m)
	}
	svals, scalars, points := b.svals[:m], b.scalars[:m], b.points[:m]
	for i := range svals {
		svals[i] = edwards25519.Scalar{}
		scalars[i] = &svals[i]
	}
	if cap(b.z) < 16*n {
		b.z = make([]byte, 16*n)
	}
	z := b.z[:16*n]
	if _, err := rand.Read(z); err != nil {
		return false
	}
	bcoeff, rcoeff, acoeff := scalars[0], scalars[1:1+n], scalars[1+n:]
	points[0] = edwards25519.NewGeneratorPoint()
	var buf [32]byte
	var t edwards25519.Scalar
	for i := range b.entries {
		e := &b.entries[i]
		copy(buf[:16], z[16*i:16*i+16])
		if _, err := rcoeff[i].SetCanonicalBytes(buf[:]); err != nil {
			return false
		}
		points[1+i] = &e.r
		bcoeff.MultiplyAdd(rcoeff[i], &e.s, bcoeff)
		t.Multiply(rcoeff[i], &e.k)
		acoeff[e.key].Add(acoeff[e.key], &t)
	}
	bcoeff.Negate(bcoeff)
	for i := range b.keys {
		points[1+n+i] = &b.keys[i].pt
		if !b.keys[i].ok {
			points[1+n+i] = edwards25519.NewIdentityPoint() // its coefficient is zero
		}
	}
	check := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	check.MultByCofactor(check)
	return check.Equal(edwards25519.NewIdentityPoint()) == 1
}

// commit adds the cache keys of a batch that verified to the cache.
func (b *sigBatch) commit() {
	if b.cache == nil {
		return
	}
	for _, k := range b.cacheKeys {
		b.cache.Add(k)
	}
}

// batchMemo is the trust.SignatureMemo a worker uses while it collects a
// batch: a signature the cache holds verified; one that passes the
// pre-checks is taken into the batch and reported verified, provisionally
// (the results of a chunk whose batch fails are discarded and computed
// again without the batch); any other is verified by the caller with
// ed25519.Verify.
type batchMemo struct{ b *sigBatch }

func (m batchMemo) Verified(data []byte, k trust.PublicKey, sig []byte) bool {
	var key [32]byte
	if m.b.cache != nil {
		key = SignatureKey(data, k, sig)
		if m.b.cache.Has(key) {
			return true
		}
	}
	if !m.b.add(data, k, sig) {
		return false
	}
	if m.b.cache != nil {
		m.b.cacheKeys = append(m.b.cacheKeys, key)
	}
	return true
}

func (m batchMemo) AddVerified(data []byte, k trust.PublicKey, sig []byte) {
	if m.b.cache != nil {
		m.b.cache.Add(SignatureKey(data, k, sig))
	}
}

// verifyBatchSize is the number of records verified as one batch (and the chunk
// of records a worker takes at a time).
const verifyBatchSize = 128

// noBatch turns batch verification off (tests compare both paths).
var noBatch = false

// verifyChunk verifies records lo..hi-1 with verifyAt. With batch
// verification, signatures that pass the pre-checks are collected while the
// records are verified as if they were valid, then verified together; if
// the batch fails, the chunk's results are thrown away and the records are
// verified again one signature at a time with ed25519.Verify, which names
// the bad ones. After a failure the worker verifies its next chunks one by
// one (more of them after each failure in a row), so a file full of bad
// signatures costs little more than without batches.
func (v *Verifier) verifyChunk(f *File, lo, hi int, subdir string, b *recordBuf, rep *Report, prev *previousMatch) error {
	plain := func() error {
		b.memo = nil
		for i := lo; i < hi; i++ {
			if err := v.verifyAt(f, i, subdir, b, rep, prev); err != nil {
				return err
			}
		}
		return nil
	}
	if noBatch || b.skip > 0 {
		b.skip = max(b.skip-1, 0)
		return plain()
	}
	if b.batch == nil {
		b.batch = newBatch(v.pkgMgr.Keys, v.Cache)
	}
	b.batch.reset()
	b.memo = batchMemo{b.batch}
	reused := b.reused
	for i := lo; i < hi; i++ {
		if err := v.verifyAt(f, i, subdir, b, rep, prev); err != nil {
			return err
		}
	}
	if b.batch.verify() {
		b.batch.commit()
		b.fails = 0
		return nil
	}
	// Some signature in the batch does not verify: start again.
	b.reused = reused
	if rep.kept != nil {
		clear(rep.kept[lo:hi])
	}
	b.fails = min(b.fails+1, 6)
	b.skip = 1<<b.fails - 1
	return plain()
}
