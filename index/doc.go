// Package index turns a folder of conda packages into a channel index:
// repodata.json per subdir, as conda-index writes it, optionally signed
// for conda content trust.
//
// # Records
//
// [Record] builds a package's record as conda-index does: the package's
// info/index.json minus [DropKeys] (arch, platform and other build-machine
// keys), plus "md5", "sha256" and "size" of the archive. Records are
// [canonjson.Value]s built from the raw index.json bytes, never from Go
// maps or structs, so every key and every number survives exactly: a
// signature over a record is a signature over what conda reads.
//
// A record must describe the file it is filed under, checked with
// [repodata.CheckBinding] against the file name and the subdir folder:
// name-version-build plus the extension is the file name, and the
// index.json's "subdir", when present, is the folder's name. File names
// and folders are not signed, so a package uploaded as evil-1.0-0.tar.bz2
// whose index.json says numpy 99.0 would otherwise get a signed numpy
// record, valid wherever it is re-filed under numpy's name. Such a package
// is skipped (see Failures), whether read from disk or from the cache. For
// the same reason a patch may not set any of [BoundKeys].
//
// # Files
//
// [Index] writes, for each subdir (noarch always, and each folder named
// in [KnownSubdirs]):
//
//   - repodata_from_packages.json: the records as built from the packages;
//   - repodata.json: the same after the subdir's patch_instructions.json
//     (see [PatchInstructions.Apply]), signed when [Options.Signers] are
//     given, after patching;
//   - current_repodata.json: the newest version of each package and what
//     their dependencies need, as conda-index selects them (see
//     [CurrentRepodata]), signed like repodata.json; off with
//     [Options.NoCurrentRepodata];
//   - with [Options.RunExports], run_exports.json (CEP 12); with
//     [Options.Shards], sharded repodata (CEP 16) from the records and
//     signatures of repodata.json (see the shards package); with
//     [Options.ChannelData], channeldata.json at the top of the channel;
//   - a zstd copy of each JSON file but channeldata.json (.zst), made from
//     the final bytes.
//
// Both layouts of conda-index are available (see [Layout]): compact by
// default, or indented. Files are written atomically (temporary file,
// fsync, rename) and only when their content changes, so unchanged files
// keep their modification times and HTTP validators.
//
// # Incremental runs
//
// Each subdir has a cache, SUBDIR/.cache/condatrust-index.gob, holding per
// package file name the size, ETag ([storage.Object.ETag]: a file's
// modification time and size, an S3 object's ETag), checksums and
// info/index.json. A package whose name, size and ETag are unchanged is not
// read again; any other is. Each subdir is listed once per run, and that
// listing alone decides what is read, compared or deleted. The outputs are always
// regenerated in full from the cache, never patched in place, and a
// damaged cache is ignored (with a warning) and rebuilt.
//
// The cache sits in the served folder, so whoever can write there could
// edit a package's depends in it while the package's bytes, size and time
// stay the same, and have the edit signed. Each entry therefore carries an
// HMAC-SHA256 over the subdir, the file name and every field, under a key
// kept outside the channel folder: [Options.CacheKey], or by default the
// file [DefaultCacheKeyFile] (32 random bytes, created 0600 on first use
// and never printed; see [LoadCacheKey]). An entry that does not verify is
// dropped and its package read again, with one warning per subdir. When
// the default key cannot be had, no cache is used or written.
//
// # Storage
//
// [Index] works on a local folder; [IndexStore] on any [storage.Store],
// such as a bucket of S3-compatible storage (storage/s3store). Every read
// and write goes through the Store: packages are streamed once each (a
// reader hashes while it decompresses, with no local copy), and every
// output is written whole by one [storage.Store.Put], the .zst copies and
// repodata_from_packages.json before repodata.json, so that a client
// reading repodata.json finds a matching .zst, and an interrupted run
// leaves the previous repodata.json in place (docs/s3.md).
//
// # Failures
//
// A package that cannot be read (corrupt, truncated, unsafe member paths,
// missing, invalid or repeated index.json, an info/ file in a .conda's pkg-
// part) or whose index.json does not describe its file name and folder is
// left out of the index and listed in [Result.Skipped] with the reason;
// the others are indexed, and [Result.Partial] says the index is
// incomplete. Packages are read whole (see the condapkg package), so the
// index.json read is the one an installer keeps. An invalid
// patch_instructions.json, including one that sets one of [BoundKeys],
// stops the run before anything is written.
package index
