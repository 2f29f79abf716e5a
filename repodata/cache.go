package repodata

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/condatrust/condatrust/trust"
)

// SignatureCache remembers signatures that verified, so that a record seen
// before is not verified again. Implementations must be safe for concurrent use.
//
// Set one as [Verifier.Cache]. A hit skips exactly one thing: the Ed25519
// verification of one signature by a key the key_mgr authorizes, over the
// very canonical bytes of the record being verified (the key,
// [SignatureKey], covers those bytes, the public key and the signature).
// Everything else is decided again on every run: which keys the current
// key_mgr authorizes, the threshold, that the keys are distinct, the
// shape of each entry, the record's binding to its file name, section
// and subdir, and unsigned records. So a key removed from key_mgr stops
// counting at once, whatever the cache holds.
//
// A cache is still trusted to tell the truth about what verified: a
// forged entry (the key of a signature that does not verify, by an
// authorized key, over a record an attacker chose) makes that forged
// signature count. A cache that is persisted (see [MemoryCache.Keys] and
// [MemoryCache.AddAll]) must therefore be protected like a key: written
// only by the process that verified, and authenticated when read back,
// for example with an HMAC-SHA256 over the whole file under a secret key
// kept outside the cache's directory. A cache file that fails the check
// must be discarded, not partly used.
type SignatureCache interface {
	Has(key [32]byte) bool // the signature identified by key verified before
	Add(key [32]byte)      // the signature identified by key verified
}

// signatureKeyDomain separates cache keys from every other SHA-256 this
// module or a caller computes.
const signatureKeyDomain = "condatrust repodata verified-signature v1\x00"

// SignatureKey returns the cache key of a raw Ed25519 signature sig by pub
// over canonical, the canonical bytes of a record (what the signature
// signs). It is exported so that caches and tests agree on the key: it is
// SHA-256 over a domain-separation prefix and the three values, each
// variable-length one preceded by its length (8 bytes, big-endian), so no
// two different triples hash the same input.
func SignatureKey(canonical []byte, pub trust.PublicKey, sig []byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte(signatureKeyDomain))
	binary.BigEndian.PutUint64(n[:], uint64(len(canonical)))
	h.Write(n[:])
	h.Write(canonical)
	h.Write(pub[:])
	binary.BigEndian.PutUint64(n[:], uint64(len(sig)))
	h.Write(n[:])
	h.Write(sig)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// cacheMemo lets trust.CheckSignatures consult a SignatureCache.
type cacheMemo struct{ c SignatureCache }

func (m cacheMemo) Verified(data []byte, k trust.PublicKey, sig []byte) bool {
	return m.c.Has(SignatureKey(data, k, sig))
}

func (m cacheMemo) AddVerified(data []byte, k trust.PublicKey, sig []byte) {
	m.c.Add(SignatureKey(data, k, sig))
}

// MemoryCache is a [SignatureCache] in memory, bounded to a number of
// entries, safe for concurrent use. It approximates least-recently-used
// eviction with two generations (per shard): new keys go into the current
// generation; when it is full it becomes the old one and the previous old
// generation is dropped; a key found in the old generation moves back to
// the current one while that has room. Only Add evicts: looking keys up
// never drops one, so a re-verification whose signatures are all held
// finds every one of them, and a cache of max keys holds the signatures
// of a repodata file of up to about max signatures (give some room:
// shards fill unevenly) from one verification to the next.
type MemoryCache struct {
	shards []cacheShard
}

type cacheShard struct {
	mu       sync.Mutex
	gen      int // the most keys one generation holds
	cur, old map[[32]byte]struct{}
	_        [32]byte // a shard per 64-byte cache line
}

// NewMemoryCache returns an empty cache holding at most max keys (at
// least 2; a smaller max is taken as 2). A key takes about 40 bytes of
// map storage, so a cache for 600,000 signatures (two full channels of
// conda-forge's size) costs some 25-50 MB.
func NewMemoryCache(max int) *MemoryCache {
	if max < 2 {
		max = 2
	}
	// Shards spread the lock over keys (uniform: they are SHA-256
	// outputs); each shard holds at least 4096 keys, so a small cache is
	// one shard and evicts in the order its keys came.
	n := 1
	for n < 64 && max/(2*n) >= 4096 {
		n *= 2
	}
	c := &MemoryCache{shards: make([]cacheShard, n)}
	for i := range c.shards {
		// Shard i holds at most 2*gen keys; together at most max.
		per := max / n
		if i < max%n {
			per++
		}
		c.shards[i].gen = per / 2
		c.shards[i].cur = map[[32]byte]struct{}{}
	}
	return c
}

func (c *MemoryCache) shard(key [32]byte) *cacheShard {
	return &c.shards[int(key[0])%len(c.shards)]
}

// Has reports whether key was added and not evicted since. A key found
// in the old generation moves to the current one if it has room (a
// lookup never starts a new generation, which would evict).
func (c *MemoryCache) Has(key [32]byte) bool {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cur[key]; ok {
		return true
	}
	if _, ok := s.old[key]; !ok {
		return false
	}
	if len(s.cur) < s.gen {
		delete(s.old, key)
		s.cur[key] = struct{}{}
	}
	return true
}

// Add records key.
func (c *MemoryCache) Add(key [32]byte) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cur[key]; ok {
		return
	}
	delete(s.old, key)
	s.add(key)
}

// add puts key (in neither generation) into the current one, starting a
// new generation first when it is full.
func (s *cacheShard) add(key [32]byte) {
	if len(s.cur) >= s.gen {
		s.old, s.cur = s.cur, make(map[[32]byte]struct{}, s.gen)
	}
	s.cur[key] = struct{}{}
}

// Len returns the number of keys held.
func (c *MemoryCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.old)
		s.mu.Unlock()
	}
	return n
}

// Keys returns every key held, for persisting the cache: per shard, the
// old generation before the current one, so that [MemoryCache.AddAll] of
// the result into a cache of the same size keeps the same keys and
// evicts the older first. The order is otherwise unspecified. See
// [SignatureCache] for how a persisted cache must be protected.
func (c *MemoryCache) Keys() [][32]byte {
	var out [][32]byte
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k := range s.old {
			out = append(out, k)
		}
		for k := range s.cur {
			out = append(out, k)
		}
		s.mu.Unlock()
	}
	return out
}

// AddAll adds keys in order, as [MemoryCache.Add] does one at a time.
func (c *MemoryCache) AddAll(keys [][32]byte) {
	for _, k := range keys {
		c.Add(k)
	}
}
