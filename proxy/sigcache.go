package proxy

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
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/repodata"
)

// sigCacheEntries bounds the signature cache: about two channels of
// conda-forge's size, some 40-80 MB.
const sigCacheEntries = 1 << 20

// sigCacheMagic starts the cache file. The file is
//
//	magic | count (8 bytes, big-endian) | count keys of 32 bytes | HMAC-SHA256
//
// with the HMAC over everything before it, under the key in
// TrustDir/proxy-sigcache.key (32 random bytes, mode 0600, outside the
// cache directory). A file that fails the check is discarded whole.
const sigCacheMagic = "condatrust proxy signature cache v1\n"

// sigCache is the repodata.SignatureCache of the proxy: a
// repodata.MemoryCache, saved under CacheDir and authenticated so that
// whoever can write the cache directory cannot make a signature count.
type sigCache struct {
	mem    *repodata.MemoryCache
	path   string
	hmac   []byte // nil: not persisted
	dirty  atomic.Bool
	hits   atomic.Int64
	misses atomic.Int64
	saveMu sync.Mutex
	log    *slog.Logger
}

func (c *sigCache) Has(key [32]byte) bool {
	if c.mem.Has(key) {
		c.hits.Add(1)
		return true
	}
	c.misses.Add(1)
	return false
}

func (c *sigCache) Add(key [32]byte) {
	c.mem.Add(key)
	c.dirty.Store(true)
}

var _ repodata.SignatureCache = (*sigCache)(nil)

func openSigCache(cacheDir, trustDir string, log *slog.Logger) (*sigCache, error) {
	c := &sigCache{mem: repodata.NewMemoryCache(sigCacheEntries), path: filepath.Join(cacheDir, "sigcache"), log: log}
	key, err := hmacKey(filepath.Join(trustDir, "proxy-sigcache.key"))
	if err != nil {
		log.Warn("the signature cache is not persisted", "reason", err.Error())
		return c, nil
	}
	c.hmac = key
	data, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := decodeSigCache(data, key)
	if err != nil {
		log.Warn("signature cache discarded", "file", c.path, "reason", err.Error())
		return c, nil
	}
	c.mem.AddAll(keys)
	return c, nil
}

// hmacKey reads the key file, creating it (0600, create-only) when
// missing. A key file that others may read or write is not used.
func hmacKey(path string) ([]byte, error) {
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

func decodeSigCache(data, key []byte) ([][32]byte, error) {
	if len(data) < len(sigCacheMagic)+8+sha256.Size || string(data[:len(sigCacheMagic)]) != sigCacheMagic {
		return nil, errors.New("not a signature cache file")
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return nil, errors.New("its HMAC does not match the key: written by someone else")
	}
	rest := body[len(sigCacheMagic):]
	n := binary.BigEndian.Uint64(rest)
	rest = rest[8:]
	if uint64(len(rest)) != n*32 {
		return nil, errors.New("truncated")
	}
	keys := make([][32]byte, n)
	for i := range keys {
		copy(keys[i][:], rest[i*32:])
	}
	return keys, nil
}

func encodeSigCache(keys [][32]byte, key []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(sigCacheMagic) + 8 + 32*len(keys) + sha256.Size)
	buf.WriteString(sigCacheMagic)
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

// save writes the cache when it changed since the last save.
func (c *sigCache) save() error {
	if c.hmac == nil {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	if !c.dirty.Swap(false) {
		return nil
	}
	if err := atomicfile.WriteFile(c.path, encodeSigCache(c.mem.Keys(), c.hmac), 0o600); err != nil {
		c.dirty.Store(true)
		return err
	}
	return nil
}
