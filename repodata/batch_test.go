package repodata

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"testing"

	"filippo.io/edwards25519"

	"github.com/condatrust/condatrust/internal/synth"
	"github.com/condatrust/condatrust/trust"
)

// l is the order of the prime-order subgroup, little-endian.
var lBytes = [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 31: 0x10}

// torsion returns the eight points of small order, the multiples of an
// order-8 point.
func torsion(t *testing.T) []*edwards25519.Point {
	t.Helper()
	p, err := new(edwards25519.Point).SetBytes(smallOrder[6][:])
	if err != nil {
		t.Fatal(err)
	}
	out := []*edwards25519.Point{edwards25519.NewIdentityPoint()}
	for i := 1; i < 8; i++ {
		out = append(out, new(edwards25519.Point).Add(out[i-1], p))
	}
	if new(edwards25519.Point).Add(out[7], p).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("not of order 8")
	}
	return out
}

// TestSmallOrderTable: the table is exactly the canonical encodings of the
// eight points of small order.
func TestSmallOrderTable(t *testing.T) {
	want := map[[32]byte]bool{}
	for _, p := range torsion(t) {
		want[[32]byte(p.Bytes())] = true
	}
	if len(want) != 8 {
		t.Fatalf("%d distinct torsion points", len(want))
	}
	for _, e := range smallOrder {
		if !want[e] {
			t.Errorf("%x is not a small-order point's canonical encoding", e)
		}
		delete(want, e)
	}
	if len(want) != 0 {
		t.Errorf("missing from the table: %v", want)
	}
}

// nonCanonical returns encodings that decode (in filippo.io/edwards25519,
// which accepts them) but are not canonical: y+p for small y, and x = 0
// with the sign bit set.
func nonCanonical() [][32]byte {
	var out [][32]byte
	for y := range 19 { // y + p < 2^255 for y < 19
		var b [32]byte
		b[0] = 0xed + byte(y)
		for i := 1; i < 31; i++ {
			b[i] = 0xff
		}
		b[31] = 0x7f
		out = append(out, b)
		b[31] |= 0x80
		out = append(out, b)
	}
	one := [32]byte{0: 1, 31: 0x80}
	minusOne := smallOrder[1]
	minusOne[31] |= 0x80
	return append(out, one, minusOne)
}

func TestCanonicalPoint(t *testing.T) {
	for _, b := range nonCanonical() {
		if canonicalPoint(&b) {
			t.Errorf("%x taken as canonical", b)
		}
		if p, err := new(edwards25519.Point).SetBytes(b[:]); err == nil && [32]byte(p.Bytes()) == b {
			t.Errorf("%x re-encodes to itself", b)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b [32]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		p, err := new(edwards25519.Point).SetBytes(b[:])
		if err != nil {
			continue
		}
		if got, want := canonicalPoint(&b), [32]byte(p.Bytes()) == b; got != want {
			t.Errorf("%x: canonicalPoint %v, re-encodes to itself %v", b, got, want)
		}
	}
}

// sigCase is one (key, message, signature) input of the differential test.
type sigCase struct {
	name string
	pub  trust.PublicKey
	msg  []byte
	sig  []byte
}

// scalarFromHash is what Ed25519 computes as k = H(R || A || M) mod L.
func scalarFromHash(r, a, msg []byte) *edwards25519.Scalar {
	h := sha512.New()
	h.Write(r)
	h.Write(a)
	h.Write(msg)
	s, _ := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	return s
}

// signWith makes a signature R, S = r + k*a with R = [r]B + T (T small
// order, possibly identity) for the key A = [a]B + TA: what only the
// holder of a can compute.
func signWith(a *edwards25519.Scalar, pub []byte, msg []byte, rt *edwards25519.Point, rnd *rand.Rand) []byte {
	var rb [64]byte
	for i := range rb {
		rb[i] = byte(rnd.Uint32())
	}
	r, _ := new(edwards25519.Scalar).SetUniformBytes(rb[:])
	R := new(edwards25519.Point).ScalarBaseMult(r)
	R.Add(R, rt)
	k := scalarFromHash(R.Bytes(), pub, msg)
	s := new(edwards25519.Scalar).MultiplyAdd(k, a, r)
	return append(R.Bytes(), s.Bytes()...)
}

// addL returns s + L as 32 little-endian bytes (s < 2^253 - L, else nil).
func addL(s []byte) []byte {
	out := make([]byte, 32)
	var c uint16
	for i := range 32 {
		c += uint16(s[i]) + uint16(lBytes[i])
		out[i] = byte(c)
		c >>= 8
	}
	if out[31]&0xe0 != 0 {
		return nil
	}
	return out
}

// diffCases builds inputs of every kind the pre-checks must route: valid,
// corrupted, non-canonical S, R and A, small-order R and A, keys with a
// torsion component, and R with a torsion component. ownerTorsion lists
// the names of cases that only the holder of the private key can make and
// on which the verdicts may differ (see the package documentation).
func diffCases(t *testing.T) (cases []sigCase, keys []trust.PublicKey, ownerTorsion map[string]bool) {
	rnd := rand.New(rand.NewPCG(3, 4))
	tor := torsion(t)
	ownerTorsion = map[string]bool{}
	seed := bytes.Repeat([]byte{7}, 32)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := trust.PublicKey(priv.Public().(ed25519.PublicKey))
	h := sha512.Sum512(seed)
	a, _ := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	keys = append(keys, pub)
	msg := func(i int) []byte { return fmt.Appendf(nil, `{"build":"h%d_0","name":"pkg%d"}`, i, i) }
	add := func(name string, p trust.PublicKey, m, s []byte) {
		cases = append(cases, sigCase{name, p, m, s})
	}
	for i := range 40 {
		m := msg(i)
		s := ed25519.Sign(priv, m)
		add(fmt.Sprintf("valid-%d", i), pub, m, s)
		c := bytes.Clone(s)
		c[rnd.IntN(64)] ^= 1 << rnd.IntN(8)
		add(fmt.Sprintf("bitflip-%d", i), pub, m, c)
		add(fmt.Sprintf("othermsg-%d", i), pub, msg(i+1000), s)
		if sl := addL(s[32:]); sl != nil {
			add(fmt.Sprintf("S+L-%d", i), pub, m, append(bytes.Clone(s[:32]), sl...))
		}
		hi := bytes.Clone(s)
		hi[63] |= 0x80
		add(fmt.Sprintf("S-high-bit-%d", i), pub, m, hi)
		// R with a torsion component, signed by the key holder.
		for j, tp := range tor[1:] {
			name := fmt.Sprintf("owner-torsion-R-%d-%d", i, j)
			add(name, pub, m, signWith(a, pub[:], m, tp, rnd))
			ownerTorsion[name] = true
		}
	}
	// Small-order and non-canonical R, with any S.
	var rs [][32]byte
	rs = append(rs, smallOrder[:]...)
	rs = append(rs, nonCanonical()...)
	for i, r := range rs {
		m := msg(2000 + i)
		s := ed25519.Sign(priv, m)
		add(fmt.Sprintf("bad-R-%d-%x", i, r[:4]), pub, m, append(r[:], s[32:]...))
	}
	// Small-order R, canonical or not, with S = k*a made by the key
	// holder: the cofactored equation holds for each, crypto/ed25519
	// accepts only the canonical identity. The pre-checks must route them.
	for i, r := range rs {
		if _, err := new(edwards25519.Point).SetBytes(r[:]); err != nil {
			continue
		}
		if i >= len(smallOrder) { // a non-canonical one: is it of small order?
			p, _ := new(edwards25519.Point).SetBytes(r[:])
			if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
				continue
			}
		}
		m := msg(2500 + i)
		k := scalarFromHash(r[:], pub[:], m)
		sv := new(edwards25519.Scalar).Multiply(k, a)
		add(fmt.Sprintf("owner-smallR-%d-%x", i, r[:4]), pub, m, append(r[:], sv.Bytes()...))
	}
	// R negated (its sign bit flipped): another point.
	for i := range 4 {
		m := msg(3000 + i)
		s := bytes.Clone(ed25519.Sign(priv, m))
		s[31] ^= 0x80
		add(fmt.Sprintf("R-negated-%d", i), pub, m, s)
	}
	// Keys of small order, non-canonical, with a torsion component.
	for i, so := range smallOrder {
		k := trust.PublicKey(so)
		keys = append(keys, k)
		m := msg(4000 + i)
		// With A and R of small order, S = 0 makes the cofactored
		// equation hold: [0]B - R - [k]A has order dividing 8.
		for _, r := range smallOrder {
			add(fmt.Sprintf("smallA-%d-R-%x", i, r[:2]), k, m, append(r[:], make([]byte, 32)...))
		}
	}
	for i, nc := range nonCanonical() {
		k := trust.PublicKey(nc)
		keys = append(keys, k)
		m := msg(5000 + i)
		add(fmt.Sprintf("noncanonA-%d", i), k, m, append(bytes.Clone(smallOrder[0][:]), make([]byte, 32)...))
	}
	// A = [a]B + T: signatures by its holder verify cofactored always,
	// cofactorless only when [k]T = 0.
	for j, tp := range tor[1:] {
		A := new(edwards25519.Point).ScalarBaseMult(a)
		A.Add(A, tp)
		k := trust.PublicKey(A.Bytes())
		keys = append(keys, k)
		for i := range 8 {
			m := msg(6000 + 10*j + i)
			var rb [64]byte
			rb[0] = byte(i + 1)
			r, _ := new(edwards25519.Scalar).SetUniformBytes(rb[:])
			R := new(edwards25519.Point).ScalarBaseMult(r)
			kk := scalarFromHash(R.Bytes(), k[:], m)
			s := new(edwards25519.Scalar).MultiplyAdd(kk, a, r)
			add(fmt.Sprintf("torsionA-%d-%d", j, i), k, m, append(R.Bytes(), s.Bytes()...))
		}
	}
	return cases, keys, ownerTorsion
}

// TestBatchDifferential: for every input, the verdict of batch
// verification with its fallback (as Verify uses it) equals
// crypto/ed25519's, batched alone, with valid signatures, and all
// together; except for signatures with a torsion component in R made by
// the key's holder, which the batch accepts (documented).
func TestBatchDifferential(t *testing.T) {
	cases, keys, owner := diffCases(t)
	verdict := func(set []sigCase) []bool {
		b := newBatch(keys, nil)
		took := make([]bool, len(set))
		out := make([]bool, len(set))
		for i, c := range set {
			took[i] = b.add(c.msg, c.pub, c.sig)
			if !took[i] {
				out[i] = ed25519.Verify(c.pub[:], c.msg, c.sig)
			}
		}
		if b.verify() {
			for i := range set {
				if took[i] {
					out[i] = true
				}
			}
			return out
		}
		for i, c := range set {
			out[i] = ed25519.Verify(c.pub[:], c.msg, c.sig)
		}
		return out
	}
	var valid []sigCase
	for _, c := range cases {
		if ed25519.Verify(c.pub[:], c.msg, c.sig) {
			valid = append(valid, c)
		}
	}
	nOwnerAccepted, nBatched := 0, 0
	for _, c := range cases {
		want := ed25519.Verify(c.pub[:], c.msg, c.sig)
		b := newBatch(keys, nil)
		if b.add(c.msg, c.pub, c.sig) {
			nBatched++
		}
		for _, set := range [][]sigCase{{c}, append([]sigCase{c}, valid[:5]...)} {
			got := verdict(set)[0]
			if owner[c.name] {
				if !got || want {
					t.Errorf("%s: batch %v, crypto/ed25519 %v; want true, false (torsion in R is only the key holder's to make)", c.name, got, want)
				}
				nOwnerAccepted++
				continue
			}
			if got != want {
				t.Errorf("%s: batch verdict %v, crypto/ed25519 %v", c.name, got, want)
			}
		}
	}
	// All together, shuffled, minus the key holder's torsion cases.
	var all []sigCase
	for _, c := range cases {
		if !owner[c.name] {
			all = append(all, c)
		}
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for i, got := range verdict(all) {
		if want := ed25519.Verify(all[i].pub[:], all[i].msg, all[i].sig); got != want {
			t.Errorf("%s (in one batch with all): batch %v, crypto/ed25519 %v", all[i].name, got, want)
		}
	}
	// The batch must be doing the work: the valid ones are batched and a
	// batch of them verifies; one bad signature makes it fail.
	if nBatched < 40 || nOwnerAccepted == 0 {
		t.Fatalf("batched %d, owner cases %d", nBatched, nOwnerAccepted)
	}
	b := newBatch(keys, nil)
	for _, c := range valid {
		b.add(c.msg, c.pub, c.sig)
	}
	if len(b.entries) < 40 || !b.verify() {
		t.Fatalf("a batch of %d valid signatures (%d taken) does not verify", len(valid), len(b.entries))
	}
	bad := valid[0]
	bad.msg = append(bytes.Clone(bad.msg), ' ')
	if !b.add(bad.msg, bad.pub, bad.sig) || b.verify() {
		t.Fatal("a batch with one bad signature verifies")
	}
}

// TestBatchKeyChecks: keys not canonical, of small order or with a torsion
// component are never batched; a normal key is.
func TestBatchKeyChecks(t *testing.T) {
	_, keys, _ := diffCases(t)
	for i, k := range keys {
		bk := newBatchKey(k)
		if want := i == 0; bk.ok != want {
			t.Errorf("key %d %s: batchable %v, want %v", i, hex.EncodeToString(k[:]), bk.ok, want)
		}
	}
}

// withoutBatch turns batch verification off for the rest of the test: for
// tests that count cache lookups or file reads, which a batch that fails
// and is verified again one by one makes twice.
func withoutBatch(t *testing.T) {
	noBatch = true
	t.Cleanup(func() { noBatch = false })
}

// TestVerifyBatchSameReport: Verify with batches and Verify one signature
// at a time give the same report (statuses, reasons, valid keys, kept
// bytes) on a file where some signatures are corrupted, some have S+L,
// and some are by a second key with a threshold of 2, with and without a
// cache.
func TestVerifyBatchSameReport(t *testing.T) {
	k1, k2 := testKey(t, "pkg_mgr-1"), testKey(t, "pkg_mgr-2")
	signed := []byte(signString(t, string(synth.Repodata(1500, "b")), true, k1, k2))
	// Corrupt every 97th signature (a hex digit), and give every 131st an
	// S+L (when it fits in 253 bits).
	sigRe := regexp.MustCompile(`"signature":"([0-9a-f]{128})"`)
	n := 0
	signed = sigRe.ReplaceAllFunc(signed, func(m []byte) []byte {
		n++
		sig, _ := hex.DecodeString(string(m[13 : 13+128]))
		switch {
		case n%97 == 0:
			sig[n%64] ^= 4
		case n%131 == 0:
			if sl := addL(sig[32:]); sl != nil {
				copy(sig[32:], sl)
			}
		}
		return fmt.Appendf(nil, `"signature":"%x"`, sig)
	})
	for _, threshold := range []int{1, 2} {
		for _, cached := range []bool{false, true} {
			d := delegation(threshold, k1, k2)
			run := func(batch bool) *Report {
				noBatch = !batch
				defer func() { noBatch = false }()
				f, err := Parse(signed)
				if err != nil {
					t.Fatal(err)
				}
				v := &Verifier{pkgMgr: d, Workers: 2, Keep: true}
				if cached {
					v.Cache = NewMemoryCache(10000)
				}
				rep, err := v.Verify(f)
				if err != nil {
					t.Fatal(err)
				}
				if cached { // again, from the cache
					if rep, err = v.Verify(f); err != nil {
						t.Fatal(err)
					}
				}
				return rep
			}
			one, batched := run(false), run(true)
			if one.Trusted == 0 || one.Untrusted == 0 {
				t.Fatalf("threshold %d: %d trusted, %d untrusted: the test needs both", threshold, one.Trusted, one.Untrusted)
			}
			if !reflect.DeepEqual(one.Results, batched.Results) || !reflect.DeepEqual(one.kept, batched.kept) {
				for i := range one.Results {
					if !reflect.DeepEqual(one.Results[i], batched.Results[i]) {
						t.Errorf("threshold %d, cache %v: %s: one by one %+v, batched %+v", threshold, cached, one.Results[i].Filename, one.Results[i], batched.Results[i])
						break
					}
				}
				t.Errorf("threshold %d, cache %v: reports differ", threshold, cached)
			}
		}
	}
}
