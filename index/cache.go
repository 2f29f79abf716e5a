package index

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/storage"
)

// CacheDir and CacheFile locate the incremental cache of a subdir:
// SUBDIR/.cache/condatrust-index.gob. The .cache folder is the one
// conda-index uses for its own cache.db; neither is meant to be served.
const (
	CacheDir  = ".cache"
	CacheFile = "condatrust-index.gob"
)

// CacheKeySize is the size of the key file [LoadCacheKey] creates and
// accepts, and the least size of [Options.CacheKey].
const CacheKeySize = 32

// cacheVersion changes whenever the meaning of a cached entry changes, so
// that an old cache is discarded rather than trusted. Version 2 entries
// carry a MAC; version 3 adds about.json and the paths.json flags;
// version 4 entries are keyed by size and ETag (a file's modification
// time and size, an S3 object's ETag), not by modification time.
const cacheVersion = 4

// cacheMagic starts the file so that a stray file is not decoded.
const cacheMagic = "condatrust-index-cache\n"

// cacheMACDomain starts the input of every entry's MAC.
const cacheMACDomain = "condatrust index cache entry v4\x00"

// cacheEntry is what is kept of one package between runs: everything a
// record is built from, and a MAC over it.
type cacheEntry struct {
	Size       int64
	ETag       string // storage.Object.ETag of the package read
	MD5        string
	SHA256     string
	IndexJSON  []byte
	RunExports []byte // info/run_exports.json, nil when absent
	About      []byte // info/about.json, nil when absent
	// PostInstall holds what info/paths.json says, for channeldata.json
	// (see postInstallFlags).
	PostInstall uint8
	// MAC is HMAC-SHA256, under the cache key, of the subdir, the file
	// name and every field above (see entryMAC).
	MAC []byte
}

type cacheData struct {
	Version int
	Entries map[string]cacheEntry
}

// entryMAC authenticates e as the entry of filename in subdir. Every
// field is length-prefixed, so no two entries share an input.
func entryMAC(key []byte, subdir, filename string, e cacheEntry) []byte {
	m := hmac.New(sha256.New, key)
	var n [8]byte
	num := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		m.Write(n[:])
	}
	field := func(b []byte) {
		num(uint64(len(b)))
		m.Write(b)
	}
	m.Write([]byte(cacheMACDomain))
	field([]byte(subdir))
	field([]byte(filename))
	num(uint64(e.Size))
	field([]byte(e.ETag))
	field([]byte(e.MD5))
	field([]byte(e.SHA256))
	field(e.IndexJSON)
	field(e.RunExports)
	field(e.About)
	num(uint64(e.PostInstall))
	return m.Sum(nil)
}

// loadCache reads the cache of a subdir and keeps the entries whose MAC
// verifies under key. A missing cache is empty; an unreadable or foreign
// one is empty too, with a warning, since the cache is only an
// optimisation: everything will be read again. Entries that do not verify
// (edited by someone without the key, or written with another key) are
// dropped, with one warning for the subdir.
func loadCache(subdirPath, subdir string, key []byte) (map[string]cacheEntry, string) {
	return loadStoreCache(context.Background(), storage.NewFolder(subdirPath), "", subdir, key)
}

// loadStoreCache is loadCache for the subdir folder dir of the store st.
func loadStoreCache(ctx context.Context, st storage.Store, dir, subdir string, key []byte) (map[string]cacheEntry, string) {
	name := storage.Join(dir, CacheDir, CacheFile)
	path := st.Location(name)
	data, err := storage.ReadAll(ctx, st, name)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]cacheEntry{}, ""
	}
	if err != nil {
		return map[string]cacheEntry{}, fmt.Sprintf("%s: %v; reading every package again", path, err)
	}
	rest, ok := bytes.CutPrefix(data, []byte(cacheMagic))
	var c cacheData
	if ok {
		err = gob.NewDecoder(bytes.NewReader(rest)).Decode(&c)
	}
	switch {
	case !ok || err != nil:
		return map[string]cacheEntry{}, fmt.Sprintf("%s: not a readable cache (%v); reading every package again", path, err)
	case c.Version != cacheVersion:
		return map[string]cacheEntry{}, ""
	case c.Entries == nil:
		return map[string]cacheEntry{}, ""
	}
	bad := 0
	for fn, e := range c.Entries {
		if !hmac.Equal(e.MAC, entryMAC(key, subdir, fn, e)) {
			delete(c.Entries, fn)
			bad++
		}
	}
	switch bad {
	case 0:
		return c.Entries, ""
	case 1:
		return c.Entries, fmt.Sprintf("%s: 1 entry not authenticated by the cache key (edited, or written with another key): those packages were read again", path)
	}
	return c.Entries, fmt.Sprintf("%s: %d entries not authenticated by the cache key (edited, or written with another key): those packages were read again", path, bad)
}

// saveCache writes the cache of a subdir atomically, each entry with its
// MAC under key.
func saveCache(subdirPath, subdir string, key []byte, entries map[string]cacheEntry) error {
	return saveStoreCache(context.Background(), storage.NewFolder(subdirPath), "", subdir, key, entries)
}

// saveStoreCache is saveCache for the subdir folder dir of the store st.
func saveStoreCache(ctx context.Context, st storage.Store, dir, subdir string, key []byte, entries map[string]cacheEntry) error {
	signed := make(map[string]cacheEntry, len(entries))
	for fn, e := range entries {
		e.MAC = entryMAC(key, subdir, fn, e)
		signed[fn] = e
	}
	var buf bytes.Buffer
	buf.WriteString(cacheMagic)
	if err := gob.NewEncoder(&buf).Encode(cacheData{Version: cacheVersion, Entries: signed}); err != nil {
		return err
	}
	return st.Put(ctx, storage.Join(dir, CacheDir, CacheFile), buf.Bytes())
}

// DefaultCacheKeyFile returns the cache key file used when
// [Options.CacheKey] is nil: condatrust/index-cache.key in the user's
// configuration directory ([os.UserConfigDir]), outside every channel
// folder.
func DefaultCacheKeyFile() (string, error) {
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cfg, "condatrust", "index-cache.key"), nil
}

// LoadCacheKey returns the cache key in the file at path, which must hold
// exactly [CacheKeySize] bytes. When the file does not exist, it is
// created, mode 0600, with that many random bytes, without ever replacing
// a file (two runs creating it at once read the same key); its folder must
// exist. The key is never printed.
func LoadCacheKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, CacheKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		err = atomicfile.WriteNew(path, key, 0o600)
		if errors.Is(err, atomicfile.ErrExists) {
			key, err = os.ReadFile(path)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(key) != CacheKeySize {
		return nil, fmt.Errorf("%s: %d bytes, not a cache key: a cache key file holds exactly %d random bytes; give another file, or delete this one if it is an old cache key, and a new one is made", path, len(key), CacheKeySize)
	}
	return key, nil
}

// cacheKey returns the key that authenticates the caches of this run:
// opts.CacheKey, or the one in [DefaultCacheKeyFile], created (with its
// folder, below an existing configuration directory's parent) on first
// use. A default key that cannot be had is a warning, not an error: the
// run then neither uses nor writes a cache.
func cacheKey(opts Options) (key []byte, warning string, err error) {
	if opts.CacheKey != nil {
		if len(opts.CacheKey) < CacheKeySize {
			return nil, "", fmt.Errorf("index: Options.CacheKey is %d bytes; give at least %d random bytes", len(opts.CacheKey), CacheKeySize)
		}
		return opts.CacheKey, "", nil
	}
	path, err := DefaultCacheKeyFile()
	if err == nil {
		// Mkdir, not MkdirAll: the configuration folder and ours are made,
		// but never a missing home folder.
		for _, d := range []string{filepath.Dir(filepath.Dir(path)), filepath.Dir(path)} {
			if err = os.Mkdir(d, 0o700); errors.Is(err, fs.ErrExist) {
				err = nil
			}
			if err != nil {
				break
			}
		}
	}
	if err == nil {
		key, err = LoadCacheKey(path)
	}
	if err != nil {
		return nil, fmt.Sprintf("no cache key (%v): the caches in SUBDIR/%s were neither used nor updated and every package was read; give a key file with --cache-key FILE", err, CacheDir), nil
	}
	return key, "", nil
}
