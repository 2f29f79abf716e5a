// Package pkgcache is the package cache of the verifying conda proxy: a
// content-addressed folder of package files, each of which passed
// [repodata.ByteCheck] against a verified record before it was stored.
//
// The proxy asks for a package only when the current verified repodata
// holds its record, and hands over the record's [repodata.Expect]. The
// cache never decides what a package should be; it only stores bytes that
// the record's check accepted and serves them again.
//
// # Layout
//
// A package is stored under Dir/sha256/ab/abcdef..., named by the
// lowercase hex SHA-256 the record gives, so two records of the same
// bytes share one file and a file's name says what it must contain.
// Downloads go to a temporary file next to the target, named as
// internal/atomicfile names its own (".NAME.condatrust-tmp-PID-RANDOM"),
// and are renamed into place only after [repodata.ByteCheck.Verify]
// passes. They are not fsynced: a file a crash left short under its name
// is found when the cache is opened again, since every file found at
// [Open] is re-hashed on first use. A refused
// or failed download therefore never enters the cache, and the next
// [Cache.Get] downloads again. The temporary files are not registered with
// atomicfile's signal handling (atomicfile.Write records every file it
// commits for the life of the process, which a server writing one file
// per package should not do); a process killed mid-download leaves its
// file, and [Open] removes temporary files whose process is gone (or which
// are older than a day), as atomicfile's next write in that folder would.
//
// # Sharing, limits and cancellation
//
// Concurrent Get calls for one sha256 share one download. At most
// MaxConcurrentDownloads downloads run at once; waiting for a slot honours
// the context. The download runs on its own context (the first caller's
// values, not its cancellation): a caller whose request ends returns at
// once, and the download is cancelled only when no caller waits for it any
// more. Timeouts of the upstream request are the [Fetcher]'s business (the
// proxy's HTTP client); the cache stops reading at the first byte past the
// record's size, so an endless body costs at most one read buffer more.
//
// # Eviction
//
// With MaxBytes set, the least recently used entries (by last Get, held in
// memory; after a restart, by file modification time) are evicted when a
// new entry takes the total past the bound. The most recently used entry
// (the one just added or served) is never evicted, nor one that a Get is
// about to open (it is pinned until its
// handle is open). A handle already returned stays readable after its
// file is evicted, since on Unix an unlinked file lives on while open:
// eviction never cuts a response short. (On systems that refuse to remove
// an open file, the entry stays until a later eviction succeeds.)
// [Cache.Get] opens the file itself and [Entry.Open] hands over that
// handle, so nothing can evict the file between the two calls. An entry
// larger than MaxBytes is kept until another entry is used. Downloads in
// progress are not counted in the bound.
//
// # Threats and the first-use check
//
// The cache trusts its own writes: a file renamed into place by this
// process was verified on its way in, and a hit only re-checks its size on
// the open handle (cheap, and enough against truncation or a crash).
//
// Files found at [Open] are another matter. The folder may have been
// written by an earlier version, restored from a backup, or — in a bad
// deployment — be writable by another user, who could plant a file with
// the right name and the wrong content. Open therefore indexes such files
// as unverified (name must be 64 lowercase hex in the right shard, only
// regular files, size recorded) and the first Get of each re-hashes it
// through the record's [repodata.ByteCheck], the same check a download
// passes; a file that fails is removed (counted in [Stats].Discarded) and
// downloaded again. This costs one read of each file once per process,
// spread over its first uses instead of a full re-hash at startup, and
// needs no key. An HMAC index (a key held by the proxy, a MAC per file)
// would save that read, but adds a key to keep and still trusts the file
// between the check and the read. Neither protects against someone who
// can write the folder while the proxy runs: they could change a file
// after it was checked. The folder is created with mode 0700, and must be
// writable by the proxy's user only.
//
// Files that are not named as packages are neither indexed nor served nor
// removed (except the leftovers above).
package pkgcache
