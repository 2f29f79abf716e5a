package repodata

// A SignatureCache kept in a file between runs, authenticated with an
// HMAC so that whoever can write the cache's folder cannot make a
// signature count. Shared by the verifying proxy, verify-repodata --cache
// and the client.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/condatrust/condatrust/internal/atomicfile"
)

// fileCacheMagic starts a cache file. The file is
//
//	magic | count (8 bytes, big-endian) | count keys of 32 bytes | HMAC-SHA256
//
// with the HMAC over everything before it. (The words are those of the
// proxy, which wrote this format first; files it wrote stay valid.)
const fileCacheMagic = "condatrust proxy signature cache v1\n"

// FileCache is a [SignatureCache] held in memory (a [MemoryCache]) and
// saved to a file, authenticated with HMAC-SHA256 under a secret key that
// must be kept outside the cache's folder (see [CacheKey]). A file whose
// HMAC does not match, or that is damaged, is discarded whole, never
// partly used. Safe for concurrent use.
type FileCache struct {
	mem    *MemoryCache
	path   string
	key    []byte
	dirty  atomic.Bool
	hits   atomic.Int64
	misses atomic.Int64
	saveMu sync.Mutex
}

// OpenFileCache returns a cache of at most max keys saved at path under
// the HMAC key key (32 bytes), loaded from path when it exists. A file
// that fails the HMAC check or is damaged is not used: the cache starts
// empty and discarded says why (the file is replaced at the next
// [FileCache.Save]). The error is for I/O only.
func OpenFileCache(path string, key []byte, max int) (c *FileCache, discarded string, err error) {
	if len(key) != 32 {
		return nil, "", errors.New("repodata: a signature cache key is 32 bytes")
	}
	c = &FileCache{mem: NewMemoryCache(max), path: path, key: bytes.Clone(key)}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	keys, err := decodeFileCache(data, key)
	if err != nil {
		c.dirty.Store(true)
		return c, err.Error(), nil
	}
	c.mem.AddAll(keys)
	return c, "", nil
}

// Has reports whether key was added (see [SignatureCache]).
func (c *FileCache) Has(key [32]byte) bool {
	if c.mem.Has(key) {
		c.hits.Add(1)
		return true
	}
	c.misses.Add(1)
	return false
}

// Add records key.
func (c *FileCache) Add(key [32]byte) {
	c.mem.Add(key)
	c.dirty.Store(true)
}

// Len returns the number of keys held.
func (c *FileCache) Len() int { return c.mem.Len() }

// Stats returns the number of lookups that found their key and that did
// not, since the cache was opened.
func (c *FileCache) Stats() (hits, misses int64) { return c.hits.Load(), c.misses.Load() }

// Path returns the cache file's path.
func (c *FileCache) Path() string { return c.path }

// Save writes the cache to its file, atomically (mode 0600), when it
// changed since it was opened or last saved.
func (c *FileCache) Save() error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	if !c.dirty.Swap(false) {
		return nil
	}
	if err := atomicfile.WriteFile(c.path, encodeFileCache(c.mem.Keys(), c.key), 0o600); err != nil {
		c.dirty.Store(true)
		return err
	}
	return nil
}

func decodeFileCache(data, key []byte) ([][32]byte, error) {
	if len(data) < len(fileCacheMagic)+8+sha256.Size || string(data[:len(fileCacheMagic)]) != fileCacheMagic {
		return nil, errors.New("not a signature cache file")
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return nil, errors.New("its HMAC does not match the key: written by someone else")
	}
	rest := body[len(fileCacheMagic):]
	n := binary.BigEndian.Uint64(rest)
	rest = rest[8:]
	if uint64(len(rest))/32 != n || uint64(len(rest))%32 != 0 {
		return nil, errors.New("truncated")
	}
	keys := make([][32]byte, n)
	for i := range keys {
		copy(keys[i][:], rest[i*32:])
	}
	return keys, nil
}

func encodeFileCache(keys [][32]byte, key []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(fileCacheMagic) + 8 + 32*len(keys) + sha256.Size)
	buf.WriteString(fileCacheMagic)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(keys)))
	buf.Write(n[:])
	for i := range keys {
		buf.Write(keys[i][:])
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(buf.Bytes())
	buf.Write(mac.Sum(nil))
	return buf.Bytes()
}

// CacheKey reads the HMAC key of a [FileCache] from the file at path,
// creating it (32 random bytes, mode 0600, created only if absent, its
// folder 0700) when missing. A key file that is not a regular file, that
// others may read or write, or that is not 32 bytes is refused: keep it
// outside the cache's folder, where only its owner can write.
func CacheKey(path string) ([]byte, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteNew(path, key, 0o600); err != nil && !errors.Is(err, atomicfile.ErrExists) {
			return nil, err
		}
	}
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: not a regular file of mode 0600", path)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%s: not a 32-byte key", path)
	}
	return key, nil
}
