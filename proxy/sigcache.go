package proxy

import (
	"log/slog"
	"path/filepath"
	"sync/atomic"

	"github.com/condatrust/condatrust/repodata"
)

// sigCacheEntries bounds the signature cache: about two channels of
// conda-forge's size, some 40-80 MB.
const sigCacheEntries = 1 << 20

// sigCache is the repodata.SignatureCache of the proxy: a
// repodata.FileCache saved as CacheDir/sigcache and authenticated with
// HMAC-SHA256 under the key in TrustDir/proxy-sigcache.key (32 random
// bytes, mode 0600, outside the cache directory), so that whoever can
// write the cache directory cannot make a signature count. Without a
// usable key it is kept in memory only.
type sigCache struct {
	file   *repodata.FileCache // nil: not persisted
	mem    interface{ Len() int }
	c      repodata.SignatureCache
	hits   atomic.Int64
	misses atomic.Int64
}

func (c *sigCache) Has(key [32]byte) bool {
	if c.c.Has(key) {
		c.hits.Add(1)
		return true
	}
	c.misses.Add(1)
	return false
}

func (c *sigCache) Add(key [32]byte) { c.c.Add(key) }

var _ repodata.SignatureCache = (*sigCache)(nil)

func openSigCache(cacheDir, trustDir string, log *slog.Logger) (*sigCache, error) {
	key, err := repodata.CacheKey(filepath.Join(trustDir, "proxy-sigcache.key"))
	if err != nil {
		log.Warn("the signature cache is not persisted", "reason", err.Error())
		m := repodata.NewMemoryCache(sigCacheEntries)
		return &sigCache{mem: m, c: m}, nil
	}
	path := filepath.Join(cacheDir, "sigcache")
	fc, discarded, err := repodata.OpenFileCache(path, key, sigCacheEntries)
	if err != nil {
		return nil, err
	}
	if discarded != "" {
		log.Warn("signature cache discarded", "file", path, "reason", discarded)
	}
	return &sigCache{file: fc, mem: fc, c: fc}, nil
}

// save writes the cache when it changed since the last save.
func (c *sigCache) save() error {
	if c.file == nil {
		return nil
	}
	return c.file.Save()
}
