package repodata

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// countingCache is a MemoryCache that counts lookups and additions.
type countingCache struct {
	*MemoryCache
	hits, misses, adds atomic.Int64
}

func newCountingCache(max int) *countingCache {
	return &countingCache{MemoryCache: NewMemoryCache(max)}
}

func (c *countingCache) Has(k [32]byte) bool {
	ok := c.MemoryCache.Has(k)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return ok
}

func (c *countingCache) Add(k [32]byte) {
	c.adds.Add(1)
	c.MemoryCache.Add(k)
}

func (c *countingCache) counts() string {
	return fmt.Sprintf("hits %d, misses %d, adds %d", c.hits.Load(), c.misses.Load(), c.adds.Load())
}

// liarCache claims that every signature verified: what a forged cache
// file would do at worst.
type liarCache struct{}

func (liarCache) Has([32]byte) bool { return true }
func (liarCache) Add([32]byte)      {}

// cacheInput has three records in both sections, all bound to their
// names.
const cacheInput = `{"info":{"subdir":"noarch"},"packages":{
"a-1.0-0.tar.bz2":{"build":"0","build_number":0,"depends":[],"name":"a","size":1,"subdir":"noarch","version":"1.0"},
"b-2.0-0.tar.bz2":{"build":"0","build_number":0,"depends":["a"],"name":"b","size":2,"subdir":"noarch","version":"2.0"}},
"packages.conda":{
"c-3.0-0.conda":{"build":"0","build_number":0,"depends":[],"name":"c","size":3,"subdir":"noarch","version":"3.0"}},
"removed":[],"repodata_version":1}`

func delegation(threshold int, keys ...signer.Signer) trust.Delegation {
	d := trust.Delegation{Threshold: threshold}
	for _, k := range keys {
		d.Keys = append(d.Keys, k.Public())
	}
	return d
}

func verifyWith(t *testing.T, data string, d trust.Delegation, c SignatureCache) *Report {
	t.Helper()
	f, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := (&Verifier{pkgMgr: d, Cache: c, Workers: 2}).Verify(f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func statuses(rep *Report) string {
	var s []string
	for _, r := range rep.Results {
		s = append(s, r.Filename+"="+r.Status.String())
	}
	return strings.Join(s, " ")
}

func TestSignatureKeyDistinguishes(t *testing.T) {
	k1, k2 := testKey(t, "pkg_mgr-1").Public(), testKey(t, "pkg_mgr-2").Public()
	canon, sig := []byte(`{"a": 1}`), bytes.Repeat([]byte{7}, 64)
	base := SignatureKey(canon, k1, sig)
	if base != SignatureKey(bytes.Clone(canon), k1, bytes.Clone(sig)) {
		t.Fatal("the key depends on more than the bytes")
	}
	sig2 := bytes.Clone(sig)
	sig2[63] ^= 1
	for name, other := range map[string][32]byte{
		"record byte": SignatureKey([]byte(`{"a": 2}`), k1, sig),
		"public key":  SignatureKey(canon, k2, sig),
		"signature":   SignatureKey(canon, k1, sig2),
		// Moving bytes between the record and the signature changes the
		// lengths, which are part of the input.
		"boundary": SignatureKey(append(bytes.Clone(canon), sig[0]), k1, sig[1:]),
	} {
		if other == base {
			t.Errorf("a changed %s gives the same key", name)
		}
	}
	// Domain-separated: not the plain hash of the concatenation.
	if base == sha256.Sum256(append(append(bytes.Clone(canon), k1[:]...), sig...)) {
		t.Error("the key is the undomained hash")
	}
}

func TestCacheHitMiss(t *testing.T) {
	k1 := testKey(t, "pkg_mgr-1")
	d := delegation(1, k1)
	signed := signString(t, cacheInput, true, k1)
	c := newCountingCache(1000)

	rep := verifyWith(t, signed, d, c)
	if rep.Trusted != 3 || c.hits.Load() != 0 || c.misses.Load() != 3 || c.adds.Load() != 3 {
		t.Fatalf("cold: %s; %s", statuses(rep), c.counts())
	}
	rep = verifyWith(t, signed, d, c)
	if rep.Trusted != 3 || c.hits.Load() != 3 || c.adds.Load() != 3 {
		t.Fatalf("warm: %s; %s", statuses(rep), c.counts())
	}
	// The layout is not what is keyed: the canonical bytes are.
	rep = verifyWith(t, signString(t, cacheInput, false, k1), d, c)
	if rep.Trusted != 3 || c.hits.Load() != 6 || c.adds.Load() != 3 {
		t.Fatalf("other layout: %s; %s", statuses(rep), c.counts())
	}
	// Same results with and without a cache, reasons included.
	plain := verifyWith(t, signed, d, nil)
	for i := range plain.Results {
		if a, b := plain.Results[i], rep.Results[i]; a.Status != b.Status || a.Reason != b.Reason || len(a.Valid) != len(b.Valid) {
			t.Errorf("%s: %+v with a cache, %+v without", a.Filename, b, a)
		}
	}
}

// A record changed by one byte, keeping its old signature, misses the
// cache, is verified, and fails.
func TestCacheChangedRecordMisses(t *testing.T) {
	withoutBatch(t) // counts lookups and reads: see withoutBatch
	k1 := testKey(t, "pkg_mgr-1")
	d := delegation(1, k1)
	signed := signString(t, cacheInput, true, k1)
	c := newCountingCache(1000)
	verifyWith(t, signed, d, c)
	changed := mustReplace(t, signed, `"size":2`, `"size":9`)
	rep := verifyWith(t, changed, d, c)
	if c.misses.Load() != 4 || c.hits.Load() != 2 || c.adds.Load() != 3 {
		t.Errorf("%s", c.counts())
	}
	if rep.Trusted != 2 || rep.Results[1].Status != Untrusted || rep.Results[1].Rule != trust.RuleThreshold {
		t.Errorf("a changed record: %s (%s)", statuses(rep), rep.Results[1].Reason)
	}
}

// A signature by another key over the same record misses; and a cached
// signature by a key the current key_mgr no longer authorizes does not
// count.
func TestCacheDifferentKey(t *testing.T) {
	k1, k2 := testKey(t, "pkg_mgr-1"), testKey(t, "pkg_mgr-2")
	c := newCountingCache(1000)
	verifyWith(t, signString(t, cacheInput, true, k1), delegation(1, k1, k2), c)
	rep := verifyWith(t, signString(t, cacheInput, true, k2), delegation(1, k1, k2), c)
	if rep.Trusted != 3 || c.hits.Load() != 0 || c.misses.Load() != 6 || c.adds.Load() != 6 {
		t.Errorf("another key: %s; %s", statuses(rep), c.counts())
	}
	// key_mgr rotated: k1 is no longer a pkg_mgr key. Its signatures are
	// all in the cache; none counts, and the cache is not even asked.
	before := c.hits.Load() + c.misses.Load()
	rep = verifyWith(t, signString(t, cacheInput, true, k1), delegation(1, k2), c)
	if rep.Trusted != 0 || rep.Untrusted != 3 {
		t.Errorf("an undelegated key counted through the cache: %s", statuses(rep))
	}
	if n := c.hits.Load() + c.misses.Load(); n != before {
		t.Errorf("the cache was asked about an unauthorized key's signature %d times", n-before)
	}
	// Threshold 2 with k1 and k2 both delegated, each signature cached:
	// one signature by k2 alone does not meet it.
	rep = verifyWith(t, signString(t, cacheInput, true, k2), delegation(2, k1, k2), c)
	if rep.Trusted != 0 {
		t.Errorf("threshold 2 met by one cached signature: %s", statuses(rep))
	}
}

// The worst a cache can do is claim that a signature by an authorized key
// verified. It never makes an unauthorized key, a malformed entry, a
// second entry, a misfiled record or an unsigned one count.
func TestCacheCannotAuthorize(t *testing.T) {
	k1, k2, attacker := testKey(t, "pkg_mgr-1"), testKey(t, "pkg_mgr-2"), testKey(t, "attacker")
	byAttacker := signString(t, cacheInput, true, attacker)
	for name, c := range map[string]SignatureCache{"liar": liarCache{}, "honest": NewMemoryCache(1000)} {
		t.Run(name, func(t *testing.T) {
			// Warm the honest cache with the attacker's valid signatures:
			// a cache holds facts about signatures, not about keys.
			verifyWith(t, byAttacker, delegation(1, attacker), c)
			if rep := verifyWith(t, byAttacker, delegation(1, k1), c); rep.Trusted != 0 {
				t.Errorf("an undelegated key's signatures counted: %s", statuses(rep))
			}
			// A threshold of two needs two distinct authorized keys.
			if rep := verifyWith(t, signString(t, cacheInput, true, k1), delegation(2, k1, k2), c); rep.Trusted != 0 {
				t.Errorf("threshold 2 met by one key: %s", statuses(rep))
			}
			// Malformed entries by authorized keys never count.
			bad := fmt.Sprintf(`"signatures":{"a-1.0-0.tar.bz2":{%q:{"signature":"zz"}},"b-2.0-0.tar.bz2":{%q:{"signature":%q,"extra":1}}}`,
				k1.Public(), k1.Public(), strings.Repeat("0", 128))
			malformed := strings.Replace(cacheInput, `"removed":[]`, bad+`,"removed":[]`, 1)
			if rep := verifyWith(t, malformed, delegation(1, k1), c); rep.Trusted != 0 || rep.Untrusted != 2 || rep.Unsigned != 1 {
				t.Errorf("malformed entries: %s", statuses(rep))
			}
			// Binding: a validly signed record filed under another name.
			signed := signString(t, cacheInput, true, k1)
			misfiled := mustReplace(t, signed, `"b-2.0-0.tar.bz2":{"build"`, `"z-2.0-0.tar.bz2":{"build"`)
			misfiled = strings.Replace(misfiled, `"b-2.0-0.tar.bz2":{"`+k1.Public().String(), `"z-2.0-0.tar.bz2":{"`+k1.Public().String(), 1)
			rep := verifyWith(t, misfiled, delegation(1, k1), c)
			if r := rep.Results[1]; r.Filename != "z-2.0-0.tar.bz2" || r.Status != Untrusted || r.Rule != trust.RuleRecordMismatch {
				t.Errorf("misfiled record: %s %s %s", r.Filename, r.Status, r.Reason)
			}
			if rep := verifyWith(t, cacheInput, delegation(1, k1), c); rep.Unsigned != 3 {
				t.Errorf("unsigned records: %s", statuses(rep))
			}
		})
	}
	// What the liar does achieve, and why a persisted cache needs an HMAC:
	// a signature that does not verify, by an authorized key, counts.
	forged := strings.Replace(signString(t, cacheInput, true, k1), `"size":2`, `"size":9`, 1)
	if rep := verifyWith(t, forged, delegation(1, k1), liarCache{}); rep.Trusted != 3 {
		t.Errorf("the liar test is vacuous: %s", statuses(rep))
	}
	if rep := verifyWith(t, forged, delegation(1, k1), nil); rep.Trusted != 2 {
		t.Errorf("without a cache: %s", statuses(rep))
	}
}

func TestMemoryCacheEviction(t *testing.T) {
	key := func(i int) [32]byte { return sha256.Sum256([]byte(fmt.Sprint(i))) }
	for _, size := range []int{0, 1, 2, 3, 100, 40_000} {
		c := NewMemoryCache(size)
		bound := max(size, 2)
		hot := key(-1)
		c.Add(hot)
		for i := range 5 * bound {
			c.Add(key(i))
			if !c.Has(hot) && bound >= 4 { // a generation of one key has no room to move it
				t.Fatalf("max %d: a key used all the time was evicted after %d additions", size, i)
			}
			if n := c.Len(); n > bound {
				t.Fatalf("max %d: holds %d keys", size, n)
			}
		}
		// The most recent additions are held: at least a generation's
		// worth, half the bound. (Looked up in Keys: Has would move them.)
		held := map[[32]byte]bool{}
		for _, k := range c.Keys() {
			held[k] = true
		}
		for i := 5*bound - bound/4; i < 5*bound; i++ {
			if !held[key(i)] {
				t.Fatalf("max %d: recent key %d evicted", size, i)
			}
		}
		if !held[key(5*bound-1)] || (!held[hot] && bound >= 4) {
			t.Fatalf("max %d: the last key or the hot one is not held", size)
		}
		if bound >= 100 && held[key(0)] {
			t.Errorf("max %d: the first key is still held", size)
		}
		// Persisting: the keys go into a cache of the same size whole.
		keys := c.Keys()
		if len(keys) != c.Len() {
			t.Fatalf("Keys returned %d, Len %d", len(keys), c.Len())
		}
		d := NewMemoryCache(size)
		d.AddAll(keys)
		if d.Len() != len(keys) {
			t.Errorf("max %d: AddAll of %d keys holds %d", size, len(keys), d.Len())
		}
		for _, k := range d.Keys() {
			if !held[k] {
				t.Fatalf("max %d: AddAll holds a key it was not given", size)
			}
		}
	}
}

func TestMemoryCacheConcurrent(t *testing.T) {
	c := NewMemoryCache(50_000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20_000 {
				k := sha256.Sum256([]byte(fmt.Sprint(g%4, i)))
				c.Add(k)
				c.Has(k)
				if i%5000 == 0 {
					c.Len()
					c.Keys()
				}
			}
		}()
	}
	wg.Wait()
	if n := c.Len(); n > 50_000 {
		t.Errorf("holds %d", n)
	}
}

// Verifications sharing one cache at once, each on several workers.
func TestVerifyCacheConcurrent(t *testing.T) {
	k1 := testKey(t, "pkg_mgr-1")
	var b strings.Builder
	b.WriteString(`{"info":{"subdir":"noarch"},"packages":{`)
	for i := range 300 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"p%03d-1-0.tar.bz2":{"build":"0","name":"p%03d","version":"1"}`, i, i)
	}
	b.WriteString(`}}`)
	signed := signString(t, b.String(), true, k1)
	c := newCountingCache(1000)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := Parse([]byte(signed))
			if err != nil {
				t.Error(err)
				return
			}
			rep, err := (&Verifier{pkgMgr: delegation(1, k1), Cache: c, Workers: 3}).Verify(f)
			if err != nil || rep.Trusted != 300 {
				t.Errorf("%v %s", err, statuses(rep))
			}
		}()
	}
	wg.Wait()
	if c.hits.Load()+c.misses.Load() != 1200 || c.Len() != 300 {
		t.Errorf("%s, holds %d", c.counts(), c.Len())
	}
}

// A cache of max keys holds a working set of max signatures from one
// verification to the next: lookups never evict.
func TestMemoryCacheHoldsWorkingSet(t *testing.T) {
	key := func(i int) [32]byte { return sha256.Sum256([]byte(fmt.Sprint(i))) }
	for _, size := range []int{300, 1000, 100_000} {
		c := newCountingCache(size)
		// Some unrelated keys first, so generations are mixed.
		for i := range size / 3 {
			c.Add(key(-1 - i))
		}
		working := size / 2
		for round := range 4 {
			for i := range working {
				if !c.Has(key(i)) {
					c.Add(key(i))
				}
			}
			if round > 0 && c.misses.Load() != int64(working) {
				t.Fatalf("max %d, round %d: %s", size, round, c.counts())
			}
		}
	}
}

// Every entry of "signatures" must be valid JSON, whether its record is
// there (read by the verifier) or not (checked before).
func TestVerifyRefusesInvalidSignatureEntries(t *testing.T) {
	k1 := testKey(t, "pkg_mgr-1")
	signed := signString(t, cacheInput, true, k1)
	for name, doc := range map[string]string{
		"of a record":      strings.Replace(signed, `"a-1.0-0.tar.bz2":{"`+k1.Public().String(), `"a-1.0-0.tar.bz2":{"x":1,"x":2,"`+k1.Public().String(), 1),
		"of no record":     strings.Replace(signed, `"signatures":{`, `"signatures":{"gone-1-0.conda":{"x":1,"x":2},`, 1),
		"escaped, invalid": strings.Replace(signed, `"signatures":{`, `"signatures":{"gone-1-0.conda":{"\x01":{}},`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			f, err := Parse([]byte(doc))
			if err != nil {
				t.Fatalf("Parse refused it already: %v", err)
			}
			for _, c := range []SignatureCache{nil, NewMemoryCache(10)} {
				if _, err := (&Verifier{pkgMgr: delegation(1, k1), Cache: c}).Verify(f); err == nil || !strings.Contains(err.Error(), "signatures of") {
					t.Errorf("Verify: %v", err)
				}
			}
		})
	}
}
