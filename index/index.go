package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/storage"
)

// Output file names in a subdir.
const (
	RepodataFile             = "repodata.json"
	RepodataFromPackagesFile = "repodata_from_packages.json"
	// ZstSuffix is appended to an output's name for its zstd-compressed copy.
	ZstSuffix = ".zst"
)

// ErrNotChannel is returned by [Index] for a channel directory that does
// not exist, is not a directory, or is itself named like a subdir (a
// common slip: indexing channel/noarch instead of channel).
var ErrNotChannel = errors.New("not a channel directory")

// Options configure [Index]. The zero value indexes every subdir with one
// reader per CPU, writes compact repodata.json and repodata.json.zst, and
// signs nothing.
type Options struct {
	// Subdirs limits the run to these subdirs, which must be in
	// [KnownSubdirs] and are created when missing. noarch is always
	// indexed. Empty: every folder of the channel named in KnownSubdirs,
	// and noarch.
	Subdirs []string
	// Workers is how many packages are read at once; 0 means
	// runtime.GOMAXPROCS(0), or 4 times that for a store that is not a
	// local folder, whose reads wait on the network.
	Workers int
	// Signers sign every record of each repodata.json after patching, one
	// signature per signer (pkg_mgr keys; content-trust.md §13-14). The
	// unpatched repodata_from_packages.json is never signed.
	Signers []signer.Signer
	// NoZst turns off repodata.json.zst and repodata_from_packages.json.zst
	// and deletes stale copies, which clients would otherwise prefer.
	NoZst bool
	// NoCurrentRepodata turns off current_repodata.json (see
	// [CurrentRepodata]) and deletes a stale one with its .zst.
	NoCurrentRepodata bool
	// RunExports writes [RunExportsFile] in each subdir (CEP 12, as
	// conda-index --run-exports).
	RunExports bool
	// ChannelData writes [ChannelDataFile] at the top of the channel (as
	// conda-index --channeldata), built afresh from the subdirs of the run.
	ChannelData bool
	// Shards writes CEP 16 sharded repodata in each subdir (as conda-index
	// --write-shards): see the shards package.
	Shards bool
	// Layout is the JSON layout of the written files; default [Compact].
	Layout Layout
	// NoCache reads every package again, ignoring the cache (which is
	// rewritten).
	NoCache bool
	// CacheKey authenticates the cache (HMAC-SHA256 over each entry, its
	// file name and subdir): an entry that does not verify is not used,
	// and its package is read again. It must be secret from whoever can
	// write the channel folder, or they could change what gets signed by
	// editing SUBDIR/.cache/. At least [CacheKeySize] bytes. nil: the key
	// in [DefaultCacheKeyFile], created on first use; when it cannot be
	// had, the run neither uses nor writes a cache, with a warning.
	CacheKey []byte
	// ReadOptions are passed to [condapkg.ReadFile]; InfoOnly is refused.
	ReadOptions condapkg.ReadOptions
	// Progress, when set, is called after each package read, from one
	// goroutine at a time.
	Progress func(Progress)
}

// remoteReadsPerCPU is how many packages are read at once per CPU from a
// store that is not a local folder (a bucket), when [Options.Workers] is 0.
const remoteReadsPerCPU = 4

// Progress reports how far the reading of packages has come.
type Progress struct {
	Done, Total           int
	DoneBytes, TotalBytes int64
}

// Skipped is a package left out of the index, with the reason.
type Skipped struct {
	Subdir string `json:"subdir"`
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// SubdirResult describes what a run did in one subdir.
type SubdirResult struct {
	Subdir string `json:"subdir"`
	// Records is the number of records in repodata.json (after patching).
	Records int `json:"records"`
	// Read and Cached count the packages read from disk and taken from the
	// cache; Skipped those left out.
	Read    int `json:"read"`
	Cached  int `json:"cached"`
	Skipped int `json:"skipped"`
	// Patched is set when patch_instructions.json was applied; Removed
	// then lists the file names it removed.
	Patched bool     `json:"patched"`
	Removed []string `json:"removed,omitempty"`
	// Signed is the number of records signed (by each signer).
	Signed int `json:"signed"`
	// Written lists the output files rewritten, Unchanged those whose
	// content was already right, Deleted the stale ones removed (names
	// relative to the subdir).
	Written   []string `json:"written"`
	Unchanged []string `json:"unchanged"`
	Deleted   []string `json:"deleted,omitempty"`
	// Shards is the number of shards in repodata_shards.msgpack.zst
	// (with [Options.Shards]); shard files already on disk are not listed
	// in Unchanged.
	Shards int `json:"shards,omitempty"`
}

// Result summarizes a run of [Index].
type Result struct {
	Subdirs []SubdirResult
	// Read and Cached count packages read from disk and taken from the
	// cache, over all subdirs; BytesRead is the size of those read.
	Read, Cached int
	BytesRead    int64
	// Skipped lists the packages left out, with reasons.
	Skipped []Skipped
	// Written, Unchanged and Deleted list the channel-wide files
	// (channeldata.json), relative to the channel folder, as
	// [SubdirResult] does for a subdir's.
	Written, Unchanged, Deleted []string
	// Warnings are problems that did not stop the run.
	Warnings []string
	Elapsed  time.Duration
}

// Partial reports whether some packages were left out of the index.
func (r *Result) Partial() bool { return len(r.Skipped) > 0 }

// pkgFile is one package file of a subdir and, after reading, its record.
type pkgFile struct {
	sub        *subdirState
	name, path string // path is the store's name: SUBDIR/FILE
	size       int64
	etag       string
	hasSig     bool
	entry      cacheEntry
	record     canonjson.Value
	fromCache  bool
	cacheable  bool
	err        error
}

type subdirState struct {
	// ctx is the run's; st the channel's store.
	ctx context.Context
	st  storage.Store
	// name is the subdir (its folder's name in the store); path is its
	// location, for messages.
	name, path string
	// listed holds the subdir's objects, from its one listing.
	listed map[string]storage.Object
	files  []*pkgFile
	cache  map[string]cacheEntry
	patch  *PatchInstructions
	res    SubdirResult
	// zstIn and zstOut are the last output compressed and its .zst.
	zstIn, zstOut []byte
	// patched is the final index, kept for channeldata.json.
	patched *Repodata
}

// Index indexes the channel in channelDir: for each subdir it reads the
// new or changed .conda and .tar.bz2 packages (all others come from the
// cache in SUBDIR/.cache/), builds their records as conda-index does (see
// [Record]), writes repodata_from_packages.json, applies
// patch_instructions.json when the subdir has one (see
// [PatchInstructions.Apply]), signs the patched records with
// opts.Signers, and writes repodata.json, with zstd copies of both.
//
// A record gets "sig": "." when a FILE.sig file is next to the package
// (the legacy `conda sign` flow, legacy-sign.md §6).
//
// A package that cannot be read, or whose info/index.json does not describe
// its file name and folder (see the package documentation), is left out
// and listed in [Result.Skipped]; the run goes on ([Result.Partial]). Errors that make
// the output untrustworthy (an invalid patch_instructions.json, a signing
// or write failure) stop the run with an error; patch files are checked
// before anything is written. Every file is written atomically, and only
// when its content changes, so unchanged files keep their modification
// time.
func Index(ctx context.Context, channelDir string, opts Options) (*Result, error) {
	st, err := os.Stat(channelDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotChannel, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrNotChannel, channelDir)
	}
	if abs, err := filepath.Abs(channelDir); err == nil && IsKnownSubdir(filepath.Base(abs)) {
		return nil, fmt.Errorf("%w: %s is named like a subdir; give the channel folder that contains it", ErrNotChannel, channelDir)
	}
	return IndexStore(ctx, storage.NewFolder(channelDir), opts)
}

// IndexStore is [Index] for a channel in any [storage.Store]: a folder
// ([storage.Folder]) or a bucket (storage/s3store). It lists each subdir
// once, reads only the packages that are new or whose size or ETag
// changed (each streamed once), and writes each output with one
// [storage.Store.Put], each .zst copy before its file,
// repodata_from_packages.json before repodata.json, and what derives from
// repodata.json (current_repodata.json, run_exports.json, shards) after
// it, so that a client never sees a repodata whose .zst is older, nor one
// naming a package that was not listed (the packages are in the store
// before the run). A run that stops leaves every output either old or new.
func IndexStore(ctx context.Context, st storage.Store, opts Options) (*Result, error) {
	start := time.Now()
	if opts.ReadOptions.InfoOnly {
		return nil, errors.New("index: ReadOptions.InfoOnly is not allowed: the indexer reads whole archives, so that what it signs is what installs")
	}
	res := &Result{}
	key, warning, err := cacheKey(opts)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
	subs, err := prepare(ctx, st, opts, key, res)
	if err != nil {
		return nil, err
	}
	if err := readPackages(ctx, subs, opts, res); err != nil {
		return nil, err
	}
	for _, s := range subs {
		if err := finishSubdir(ctx, s, opts, key, res); err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		res.Subdirs = append(res.Subdirs, s.res)
	}
	if opts.ChannelData {
		if err := writeChannelData(ctx, st, subs, opts, res); err != nil {
			return nil, fmt.Errorf("%s: %w", st.Location(""), err)
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// prepare lists the subdirs and their packages, loads caches and patch
// instructions, and decides which packages to read.
func prepare(ctx context.Context, st storage.Store, opts Options, key []byte, res *Result) ([]*subdirState, error) {
	names, err := subdirNames(ctx, st, opts.Subdirs)
	if err != nil {
		return nil, err
	}
	var subs []*subdirState
	for _, name := range names {
		s := &subdirState{ctx: ctx, st: st, name: name, path: st.Location(name)}
		s.res.Subdir = name
		if err := s.list(ctx, res); err != nil {
			return nil, err
		}
		if _, ok := s.listed[PatchInstructionsFile]; ok {
			data, err := s.get(PatchInstructionsFile)
			switch {
			case err == nil:
				if s.patch, err = ParsePatchInstructions(data); err != nil {
					return nil, fmt.Errorf("%s: %w", s.location(PatchInstructionsFile), err)
				}
			case !errors.Is(err, fs.ErrNotExist):
				return nil, err
			}
		}
		if !opts.NoCache && key != nil {
			var warning string
			s.cache, warning = loadStoreCache(ctx, st, s.name, s.name, key)
			if warning != "" {
				res.Warnings = append(res.Warnings, warning)
			}
		}
		subs = append(subs, s)
	}
	return subs, nil
}

func subdirNames(ctx context.Context, st storage.Store, want []string) ([]string, error) {
	names := []string{"noarch"}
	if len(want) > 0 {
		for _, s := range want {
			if !IsKnownSubdir(s) {
				return nil, fmt.Errorf("subdir %q is not a conda platform (known: %s)", s, strings.Join(KnownSubdirs, ", "))
			}
			names = append(names, s)
		}
	} else {
		objs, err := st.List(ctx, "")
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if o.Dir && IsKnownSubdir(o.Name) {
				names = append(names, o.Name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// location names the subdir's file name for messages.
func (s *subdirState) location(name string) string { return s.st.Location(storage.Join(s.name, name)) }

// localPath is the file name's path when the channel is a folder, else "".
func (s *subdirState) localPath(name string) string {
	if f, ok := s.st.(*storage.Folder); ok {
		return f.Path(storage.Join(s.name, name))
	}
	return ""
}

// get reads the subdir's file name whole.
func (s *subdirState) get(name string) ([]byte, error) {
	return storage.ReadAll(s.ctx, s.st, storage.Join(s.name, name))
}

// put writes the subdir's file name whole: every file the indexer writes
// goes through here (or through the Store for the cache).
func (s *subdirState) put(name string, data []byte) error {
	return s.st.Put(s.ctx, storage.Join(s.name, name), data)
}

// list lists the subdir once: its package files, their .sig files, and
// the other objects, kept in s.listed.
func (s *subdirState) list(ctx context.Context, res *Result) error {
	objs, err := s.st.List(ctx, s.name)
	if err != nil {
		return err
	}
	s.listed = make(map[string]storage.Object, len(objs))
	for _, o := range objs {
		if !o.Dir {
			s.listed[o.Name] = o
		}
	}
	for _, o := range objs {
		name := o.Name
		if _, _, err := condapkg.ParseFilename(name); err != nil {
			continue
		}
		if o.Dir {
			o.Err = errors.New("not a regular file")
		}
		if o.Err != nil {
			s.skip(res, name, o.Err)
			continue
		}
		_, sig := s.listed[name+".sig"]
		s.files = append(s.files, &pkgFile{sub: s, name: name, path: storage.Join(s.name, name), size: o.Size,
			etag: o.ETag, hasSig: sig})
	}
	return nil
}

func (s *subdirState) skip(res *Result, name string, err error) {
	reason := err.Error()
	reason = strings.TrimPrefix(reason, "condapkg: ")
	reason = strings.TrimPrefix(reason, name+": ")
	reason = strings.TrimPrefix(reason, s.location(name)+": ")
	res.Skipped = append(res.Skipped, Skipped{Subdir: s.name, File: name, Reason: reason})
	s.res.Skipped++
}

// readPackages takes unchanged packages from the caches and reads the
// others on all workers, largest first.
func readPackages(ctx context.Context, subs []*subdirState, opts Options, res *Result) error {
	var todo []*pkgFile
	var total int64
	for _, s := range subs {
		for _, f := range s.files {
			if e, ok := s.cache[f.name]; ok && e.Size == f.size && e.ETag == f.etag && f.etag != "" {
				f.entry, f.fromCache, f.cacheable = e, true, true
				continue
			}
			todo = append(todo, f)
			total += f.size
		}
	}
	if len(todo) == 0 {
		return nil
	}
	slices.SortStableFunc(todo, func(a, b *pkgFile) int {
		switch {
		case a.size > b.size:
			return -1
		case a.size < b.size:
			return 1
		}
		return 0
	})
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
		if _, local := subs[0].st.(*storage.Folder); !local {
			// Each read of a remote store waits on the network first.
			workers *= remoteReadsPerCPU
		}
	}
	workers = min(workers, len(todo))
	jobs := make(chan *pkgFile)
	done := make(chan *pkgFile)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				f.read(ctx, opts.ReadOptions)
				done <- f
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, f := range todo {
			select {
			case jobs <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	p := Progress{Total: len(todo), TotalBytes: total}
	for f := range done {
		p.Done++
		p.DoneBytes += f.size
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res.BytesRead = total
	return nil
}

// read reads the package, streamed once through the store, and builds its
// record. The result may be cached only when what was read has the size
// and ETag the package was listed with, so that a file replaced during
// the run is read again next time.
func (f *pkgFile) read(ctx context.Context, ro condapkg.ReadOptions) {
	r, err := f.sub.st.Open(ctx, f.path)
	if err != nil {
		f.err = err
		return
	}
	defer r.Close()
	etag := r.ETag()
	info, err := condapkg.ReadAt(r, r.Size(), f.name, ro)
	if err != nil {
		f.err = err
		return
	}
	if r.ETag() != etag {
		f.err = fmt.Errorf("%s: file changed while being read", f.name)
		return
	}
	f.entry = cacheEntry{Size: info.Size, ETag: etag, MD5: info.MD5, SHA256: info.SHA256,
		IndexJSON: info.IndexJSON, RunExports: info.Files["info/run_exports.json"],
		About: info.Files["info/about.json"], PostInstall: postInstallFlags(info.Files["info/paths.json"])}
	if f.record, err = Record(info.IndexJSON, info.Size, info.MD5, info.SHA256); err != nil {
		f.err = err
		return
	}
	if f.err = checkBinding(f.sub.name, f.name, f.record); f.err != nil {
		return
	}
	f.cacheable = info.Size == f.size && etag == f.etag && f.etag != ""
}

// finishSubdir builds, patches, signs and writes the index of one subdir,
// then saves its cache, authenticated with key (nil: no cache).
func finishSubdir(ctx context.Context, s *subdirState, opts Options, key []byte, res *Result) error {
	unpatched := NewRepodata(s.name)
	newCache := make(map[string]cacheEntry, len(s.files))
	cacheChanged := false
	// Records of cached packages are built on all cores.
	parallel((len(s.files)+255)/256, func(c int) {
		for _, f := range s.files[c*256 : min(len(s.files), (c+1)*256)] {
			if f.fromCache {
				e := f.entry
				f.record, f.err = Record(e.IndexJSON, e.Size, e.MD5, e.SHA256)
				if f.err == nil {
					f.err = checkBinding(s.name, f.name, f.record)
				}
			}
		}
	})
	for _, f := range s.files {
		if f.fromCache {
			if f.err != nil {
				s.skip(res, f.name, f.err)
				cacheChanged = true
				continue
			}
			s.res.Cached++
			res.Cached++
		} else {
			if f.err != nil {
				s.skip(res, f.name, f.err)
				continue
			}
			s.res.Read++
			res.Read++
			cacheChanged = true
		}
		if f.cacheable {
			newCache[f.name] = f.entry
		}
		rec := f.record
		if f.hasSig {
			var err error
			if rec, err = rec.With("sig", canonjson.MustString(".")); err != nil {
				return err
			}
		}
		if err := unpatched.Add(f.name, rec); err != nil {
			return err
		}
	}
	if len(newCache) != len(s.cache) {
		cacheChanged = true
	}

	patched := unpatched.Clone()
	if s.patch != nil {
		var err error
		if patched, err = s.patch.Apply(unpatched); err != nil {
			return fmt.Errorf("%s: %w", PatchInstructionsFile, err)
		}
		s.res.Patched = true
		s.res.Removed = slices.Clone(patched.Removed)
	}
	s.res.Records = patched.Len()

	// The cache is saved while the outputs are built and written; it only
	// has to be on disk when the run ends.
	cacheErr := make(chan error, 1)
	if key != nil && (cacheChanged || opts.NoCache) {
		go func() { cacheErr <- saveStoreCache(ctx, s.st, s.name, s.name, key, newCache) }()
	} else {
		cacheErr <- nil
	}
	waitCache := func() error {
		if err := <-cacheErr; err != nil {
			return fmt.Errorf("saving the cache: %w", err)
		}
		return nil
	}

	unsignedOut, err := unpatched.Marshal(opts.Layout)
	if err != nil {
		return fmt.Errorf("%s: %w", RepodataFromPackagesFile, err)
	}
	out := unsignedOut
	if s.patch != nil {
		if out, err = patched.Marshal(opts.Layout); err != nil {
			return fmt.Errorf("%s: %w", RepodataFile, err)
		}
	}
	// The repodata.json of the last run: compared with the new one, and
	// its signatures reused for unchanged records.
	previous, err := s.previous(RepodataFile)
	if err != nil {
		return err
	}
	if len(opts.Signers) > 0 {
		// Sign after patching (content-trust.md §13.2), every record as it
		// appears in repodata.json; the .zst is made from the signed bytes.
		var stats *repodata.SignStats
		out, stats, err = signRepodata(out, previous, s.localPath(RepodataFile), opts.Signers, opts.Layout)
		if err != nil {
			return fmt.Errorf("signing %s: %w", RepodataFile, err)
		}
		s.res.Signed = stats.Records
		if stats.PreviousRejected != "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: previous signatures not reused (%s); every record was signed again",
				s.location(RepodataFile), stats.PreviousRejected))
		}
	}
	oldUnsigned, err := s.previous(RepodataFromPackagesFile)
	if err != nil {
		return err
	}
	if _, err := s.writeOutputFrom(RepodataFromPackagesFile, unsignedOut, oldUnsigned, opts.NoZst); err != nil {
		return err
	}
	old, err := s.writeOutputFrom(RepodataFile, out, previous, opts.NoZst)
	if err != nil {
		return err
	}
	if len(opts.Signers) == 0 && old != nil {
		if f, err := repodata.Parse(old); err == nil && f.HasSignatures() {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s was signed and is now rewritten without signatures: index with the pkg_mgr key to sign it again",
				s.location(RepodataFile)))
		}
	}
	if err := s.writeExtras(patched, out, opts, res); err != nil {
		return err
	}
	for _, stale := range []string{RepodataFile + ".bz2", RepodataFromPackagesFile + ".bz2"} {
		if err := s.deleteStale(stale); err != nil {
			return err
		}
	}
	return waitCache()
}

// previous returns the subdir's file name as the last run wrote it, nil
// when it was not listed.
func (s *subdirState) previous(name string) ([]byte, error) {
	if o, ok := s.listed[name]; !ok || o.Err != nil {
		return nil, nil // missing, or not a file it can read: replaced
	}
	data, err := s.get(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// writeOutput writes one output (a name relative to the subdir) and its
// zstd copy, each only when its content differs from what the store
// holds: every output of the indexer is written here. It returns the
// previous content when it was replaced.
func (s *subdirState) writeOutput(name string, data []byte, noZst bool) (replaced []byte, err error) {
	old, err := s.previous(name)
	if err != nil {
		return nil, err
	}
	return s.writeOutputFrom(name, data, old, noZst)
}

// writeOutputFrom is writeOutput with the output's present content, old
// (nil when missing), already read.
func (s *subdirState) writeOutputFrom(name string, data, old []byte, noZst bool) (replaced []byte, err error) {
	changed := old == nil || !bytes.Equal(old, data)
	zname := name + ZstSuffix
	if noZst {
		if err := s.deleteStale(zname); err != nil {
			return nil, err
		}
	} else {
		zchanged := changed
		if !zchanged {
			zchanged = !s.zstMatches(zname, data)
		}
		if zchanged {
			comp, err := s.compress(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.location(zname), err)
			}
			if err := s.put(zname, comp); err != nil {
				return nil, err
			}
			s.res.Written = append(s.res.Written, zname)
		} else {
			s.res.Unchanged = append(s.res.Unchanged, zname)
		}
	}
	// The plain file is replaced after its compressed copy: a client that
	// sees the new repodata.json also finds the new .zst.
	if changed {
		if err := s.put(name, data); err != nil {
			return nil, err
		}
		s.res.Written = append(s.res.Written, name)
		return old, nil
	}
	s.res.Unchanged = append(s.res.Unchanged, name)
	return nil, nil
}

// zstMatches reports whether the subdir's file name (a .zst) was listed
// and decompresses to exactly want.
func (s *subdirState) zstMatches(name string, want []byte) bool {
	if _, ok := s.listed[name]; !ok {
		return false
	}
	r, err := s.st.Open(s.ctx, storage.Join(s.name, name))
	if err != nil {
		return false
	}
	defer r.Close()
	return zstMatches(r, want)
}

// compress returns the zstd copy of data, reusing the last one when data
// is the same (repodata.json equals repodata_from_packages.json when
// nothing is patched or signed).
func (s *subdirState) compress(data []byte) ([]byte, error) {
	if s.zstIn != nil && bytes.Equal(s.zstIn, data) {
		return s.zstOut, nil
	}
	comp, err := compressZst(data)
	if err != nil {
		return nil, err
	}
	s.zstIn, s.zstOut = data, comp
	return comp, nil
}

// deleteStale deletes the subdir's file name if it was listed.
func (s *subdirState) deleteStale(name string) error {
	if _, ok := s.listed[name]; !ok {
		return nil
	}
	if err := s.st.Delete(s.ctx, storage.Join(s.name, name)); err != nil {
		return fmt.Errorf("removing the stale %s: %w", s.location(name), err)
	}
	s.res.Deleted = append(s.res.Deleted, name)
	return nil
}
