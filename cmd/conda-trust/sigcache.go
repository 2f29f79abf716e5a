package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/repodata"
)

// sigCacheFile is the cache file's name in a --cache DIR, and
// sigCacheKeyFile the name of its HMAC key in the trust store.
const (
	sigCacheFile    = "signatures.cache"
	sigCacheKeyFile = "signature-cache.key"
	sigCacheEntries = 1 << 21 // some 2 million signatures: a file of up to 64 MB
)

const cacheFlagHelp = "keep the signatures that verified in DIR (a file authenticated by a key in the trust store), so that re-verifying records seen before skips their Ed25519 checks"

// cacheOpts is the --cache flag, shared by verify-repodata, fetch and
// verify-env.
type cacheOpts struct {
	cacheDir string
	fc       *repodata.FileCache
	note     string // why an existing cache file was not used
}

func (o *cacheOpts) addCache(fs *pflag.FlagSet) {
	fs.StringVar(&o.cacheDir, "cache", "", cacheFlagHelp)
}

// open opens the cache in --cache DIR, its key kept in trustDir (the
// trust store; "" for the default one), never inside DIR: whoever can
// write DIR must not be able to make a signature count. Nil without
// --cache.
func (o *cacheOpts) open(trustDir string) (*repodata.FileCache, error) {
	if o.cacheDir == "" {
		return nil, nil
	}
	if trustDir == "" {
		d, err := client.DefaultStoreDir()
		if err != nil {
			return nil, err
		}
		trustDir = d
	}
	keyPath := filepath.Join(trustDir, sigCacheKeyFile)
	absDir, err1 := filepath.Abs(o.cacheDir)
	absKey, err2 := filepath.Abs(keyPath)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("--cache %s: %v", o.cacheDir, err1)
	}
	if rel, err := filepath.Rel(absDir, absKey); err == nil && !strings.HasPrefix(rel, "..") {
		return nil, usageError("--cache %s holds the trust store (%s): the cache's key must be kept outside the cache folder; give another --cache DIR", o.cacheDir, trustDir)
	}
	key, err := repodata.CacheKey(keyPath)
	if err != nil {
		return nil, withHint(fmt.Errorf("the signature cache key: %w", err), "the key authenticates --cache DIR; it must be a file of 32 bytes that only you can read and write (mode 0600); remove it to make a new one (the cache is then discarded)")
	}
	if err := os.MkdirAll(o.cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("--cache: %w", err)
	}
	fc, discarded, err := repodata.OpenFileCache(filepath.Join(o.cacheDir, sigCacheFile), key, sigCacheEntries)
	if err != nil {
		return nil, fmt.Errorf("--cache: %w", err)
	}
	if discarded != "" {
		o.note = fmt.Sprintf("%s: not used (%s); starting an empty cache", fc.Path(), discarded)
	}
	o.fc = fc
	return fc, nil
}

// warn prints why an existing cache file was not used.
func (o *cacheOpts) warn(stderr io.Writer, quiet bool) {
	if o.note != "" && !quiet {
		fmt.Fprintf(stderr, "conda-trust: warning: --cache: %s\n", o.note)
	}
}

// save writes the cache back; a failure is a warning: the verdict stands.
func (o *cacheOpts) save(stderr io.Writer, quiet bool) {
	if o.fc == nil {
		return
	}
	if err := o.fc.Save(); err != nil && !quiet {
		fmt.Fprintf(stderr, "conda-trust: warning: --cache: could not save %s: %v\n", o.fc.Path(), err)
	}
}

// cacheJSON reports the cache's use in --json output.
type cacheJSON struct {
	File      string `json:"file"`
	Hits      int64  `json:"hits"`
	Misses    int64  `json:"misses"`
	Discarded string `json:"discarded,omitempty"`
}

func (o *cacheOpts) json() *cacheJSON {
	if o.fc == nil {
		return nil
	}
	h, m := o.fc.Stats()
	return &cacheJSON{File: o.fc.Path(), Hits: h, Misses: m, Discarded: o.note}
}
