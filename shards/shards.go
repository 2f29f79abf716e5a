// Package shards writes sharded repodata (CEP 16) as conda-index
// --write-shards does: per subdir, one zstd-compressed msgpack shard per
// package name, named by the SHA-256 of its compressed bytes, and an index,
// repodata_shards.msgpack.zst, mapping each name to that hash. Clients
// (pixi, rattler; conda from 26.5 on request) read it before
// repodata.json.
//
// # Records and signatures
//
// A shard holds the records of one name exactly as repodata.json has them,
// except that "md5" and "sha256" are raw bytes (CEP 16), plus, as
// conda-index writes and CEP 21 describes, "run_exports": the package's
// info/run_exports.json ({} when it has none). Shards built from a signed
// repodata.json carry that file's signatures of their records in a
// top-level "signatures" map, in repodata.json's form
// (signatures[filename][public key] = {"signature": hex}). A signature
// covers the record as repodata.json has it: to check one, drop
// "run_exports", write md5 and sha256 back as lower-case hex and verify
// the canonical JSON of the rest. run_exports is not signed, as
// run_exports.json is not.
//
// The package does no I/O: [Build] returns the bytes of every file, and
// the caller writes them (the indexer with atomic writes, a server from
// memory).
package shards

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/repodata"
)

const (
	// IndexFile is the name of the shard index in a subdir.
	IndexFile = "repodata_shards.msgpack.zst"
	// Dir is the folder of the shards in a subdir; the index names it as
	// its shards_base_url, "./shards/".
	Dir = "shards"
	// Suffix ends every shard's file name, after the hex SHA-256.
	Suffix = ".msgpack.zst"
)

// Shard is the content of one shard: the records of one package name.
type Shard struct {
	Name string
	// Packages and PackagesConda map file names to records, as in
	// repodata.json (hex md5 and sha256; they are written as bytes).
	Packages, PackagesConda map[string]canonjson.Value
	// Removed lists file names of this name removed by patches; the key
	// is left out when empty, as conda-index does.
	Removed []string
	// Signatures maps file names to their repodata.json signature
	// entries; the key is left out when empty.
	Signatures map[string]canonjson.Value
}

// Encode returns the shard's msgpack bytes (not compressed): a map of
// "packages", "packages.conda", then "removed" and "signatures" when not
// empty.
func (s *Shard) Encode() ([]byte, error) {
	n := 2
	if len(s.Removed) > 0 {
		n++
	}
	if len(s.Signatures) > 0 {
		n++
	}
	b := appendMapHeader(nil, n)
	var err error
	for _, sec := range []struct {
		key  string
		recs map[string]canonjson.Value
	}{{"packages", s.Packages}, {"packages.conda", s.PackagesConda}} {
		b = appendStr(b, sec.key)
		b = appendMapHeader(b, len(sec.recs))
		for _, fn := range slices.Sorted(maps.Keys(sec.recs)) {
			b = appendStr(b, fn)
			if b, err = appendRecord(b, sec.recs[fn]); err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
		}
	}
	if len(s.Removed) > 0 {
		b = appendStr(b, "removed")
		removed := slices.Sorted(slices.Values(s.Removed))
		b = appendArrayHeader(b, len(removed))
		for _, fn := range removed {
			b = appendStr(b, fn)
		}
	}
	if len(s.Signatures) > 0 {
		b = appendStr(b, "signatures")
		b = appendMapHeader(b, len(s.Signatures))
		for _, fn := range slices.Sorted(maps.Keys(s.Signatures)) {
			b = appendStr(b, fn)
			if b, err = appendValue(b, s.Signatures[fn]); err != nil {
				return nil, fmt.Errorf("signatures of %s: %w", fn, err)
			}
		}
	}
	return b, nil
}

// appendRecord appends a record with md5 and sha256 as raw bytes.
func appendRecord(b []byte, rec canonjson.Value) ([]byte, error) {
	if rec.Kind() != canonjson.Object {
		return nil, fmt.Errorf("record is a JSON %s, not an object", rec.Kind())
	}
	ms := rec.Members()
	b = appendMapHeader(b, len(ms))
	for _, m := range ms {
		k := string(m.Key)
		b = appendStr(b, k)
		if (k == "md5" || k == "sha256") && m.Value.Kind() == canonjson.String {
			raw, err := hex.DecodeString(m.Value.Str())
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not hex", k, m.Value.Str())
			}
			b = appendBin(b, raw)
			continue
		}
		var err error
		if b, err = appendValue(b, m.Value); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return b, nil
}

// File is one written file of a [Set]: a shard's compressed bytes and
// their SHA-256.
type File struct {
	SHA256 [32]byte
	Data   []byte
}

// Name returns the shard's file name, relative to the shards folder.
func (f File) Name() string { return hex.EncodeToString(f.SHA256[:]) + Suffix }

// Set is the sharded repodata of one subdir, ready to write.
type Set struct {
	// Index is the compressed bytes of repodata_shards.msgpack.zst.
	Index []byte
	// Shards maps package names to their shard files.
	Shards map[string]File
}

// Build compresses and hashes every shard and builds the index of subdir:
// {"version": 1, "info": {"base_url": "", "shards_base_url": "./shards/",
// "subdir": subdir}, "shards": {name: sha256}}. The bytes depend only on
// the shards (no creation time is written), so an unchanged subdir gives
// the same files.
func Build(subdir string, shards []*Shard) (*Set, error) {
	set := &Set{Shards: make(map[string]File, len(shards))}
	files := make([]File, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, s := range shards {
		if _, dup := set.Shards[s.Name]; dup {
			return nil, fmt.Errorf("shards: two shards named %q", s.Name)
		}
		set.Shards[s.Name] = File{}
	}
	for i, s := range shards {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			raw, err := s.Encode()
			if err != nil {
				errs[i] = fmt.Errorf("shard %s: %w", s.Name, err)
				return
			}
			comp := compress(raw)
			files[i] = File{SHA256: sha256.Sum256(comp), Data: comp}
		}()
	}
	wg.Wait()
	for i, s := range shards {
		if errs[i] != nil {
			return nil, errs[i]
		}
		set.Shards[s.Name] = files[i]
	}
	b := appendMapHeader(nil, 3)
	b = appendStr(b, "version")
	b = appendInt(b, 1)
	b = appendStr(b, "info")
	b = appendMapHeader(b, 3)
	b = appendStr(b, "base_url")
	b = appendStr(b, "")
	b = appendStr(b, "shards_base_url")
	b = appendStr(b, "./"+Dir+"/")
	b = appendStr(b, "subdir")
	b = appendStr(b, subdir)
	b = appendStr(b, "shards")
	b = appendMapHeader(b, len(set.Shards))
	for _, name := range slices.Sorted(maps.Keys(set.Shards)) {
		h := set.Shards[name].SHA256
		b = appendStr(b, name)
		b = appendBin(b, h[:])
	}
	set.Index = compress(b)
	return set, nil
}

var (
	encOnce sync.Once
	enc     *zstd.Encoder
)

// compress returns data as one zstd frame (default level, with a
// checksum); the same input always gives the same bytes.
func compress(data []byte) []byte {
	encOnce.Do(func() {
		var err error
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
		if err != nil {
			panic(err) // only for invalid options
		}
	})
	return enc.EncodeAll(data, make([]byte, 0, len(data)/3+64))
}

// Decompress returns the content of a zstd file of at most maxSize bytes
// decompressed.
func Decompress(data []byte, maxSize int) ([]byte, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(maxSize)))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	return dec.DecodeAll(data, nil)
}

// FromRepodata splits a repodata.json into one shard per package name,
// with each record's signatures (when f is signed) and, when runExports
// is not nil, "run_exports" set to runExports(filename) in every record.
// Names of packages in "removed" get a shard too, with only their
// removed file names.
func FromRepodata(f *repodata.File, runExports func(filename string) canonjson.Value) ([]*Shard, error) {
	byName := map[string]*Shard{}
	get := func(name string) *Shard {
		s := byName[name]
		if s == nil {
			s = &Shard{Name: name, Packages: map[string]canonjson.Value{}, PackagesConda: map[string]canonjson.Value{}}
			byName[name] = s
		}
		return s
	}
	for _, r := range f.Records() {
		env, err := f.Envelope(r)
		if err != nil {
			return nil, err
		}
		v := env.Signed
		sigs, _ := env.Value().Get("signatures")
		nv, ok := v.Get("name")
		if !ok || nv.Kind() != canonjson.String {
			return nil, fmt.Errorf("record %s: no \"name\" string", r.Filename)
		}
		if runExports != nil {
			if v, err = v.With("run_exports", runExports(r.Filename)); err != nil {
				return nil, err
			}
		}
		s := get(nv.Str())
		if r.Section == repodata.PackagesConda {
			s.PackagesConda[r.Filename] = v
		} else {
			s.Packages[r.Filename] = v
		}
		if sigs.Kind() == canonjson.Object && sigs.Len() > 0 {
			if s.Signatures == nil {
				s.Signatures = map[string]canonjson.Value{}
			}
			s.Signatures[r.Filename] = sigs
		}
	}
	if rm, ok := f.Member("removed"); ok && rm.Kind() == canonjson.Array {
		for i := range rm.Len() {
			e := rm.Index(i)
			if e.Kind() != canonjson.String {
				continue
			}
			if name, ok := nameOf(e.Str()); ok {
				s := get(name)
				s.Removed = append(s.Removed, e.Str())
			}
		}
	}
	out := make([]*Shard, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return out, nil
}

// nameOf returns the package name of a file name NAME-VERSION-BUILD.EXT.
func nameOf(fn string) (string, bool) {
	stem, ok := strings.CutSuffix(fn, ".conda")
	if !ok {
		if stem, ok = strings.CutSuffix(fn, ".tar.bz2"); !ok {
			return "", false
		}
	}
	i := strings.LastIndexByte(stem, '-')
	if i <= 0 {
		return "", false
	}
	j := strings.LastIndexByte(stem[:i], '-')
	if j <= 0 {
		return "", false
	}
	return stem[:j], true
}
