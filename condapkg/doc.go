// Package condapkg reads and writes conda package archives: the v1
// ".tar.bz2" format and the v2 ".conda" format (CEP 35), safely.
//
// # Reading for an indexer
//
// [ReadFile] (or [ReadAt], or [Read] for a stream) returns an [Info]: the
// raw bytes of info/index.json, the other info/ files conda-index uses
// (info/about.json, info/paths.json, info/run_exports.json, info/icon.png
// and the first recipe file among info/recipe/meta.yaml,
// info/recipe/meta.yaml.rendered and info/meta.yaml), and the archive's
// size, MD5 and SHA-256. The format and, for a .conda, the name of the
// info-<stem>.tar.zst member come from the file name, as in conda-index;
// [ParseFilename] rejects other names with [ErrNotPackage].
//
// Every byte of the file is read once, in order, and hashed, and the whole
// archive is decompressed and checked, because that is what an installer
// extracts:
//
//   - .conda: conda extracts the info- and pkg- members into one folder,
//     so an info/ file inside pkg-<stem>.tar.zst would replace, or be
//     replaced by, the metadata read from info-<stem>.tar.zst. Both members
//     are decoded; any info/ file (directory entries aside) in pkg- is
//     refused with [ErrDuplicate], as is any name present in both. The zip
//     directory is found with random access and every byte so read is
//     compared with the sequential pass, so the metadata and the digests
//     describe the same file even if it is replaced while being read.
//   - .tar.bz2: the whole tar is extracted by an installer and a later
//     member of the same name wins, so the tar is read to its end and a
//     second info/index.json (however spelled: "./info/index.json") or any
//     other repeated name is refused with [ErrDuplicate]. The info/index.json
//     returned is therefore the only one, the file an installer keeps.
//
// Reading everything has a cost, measured with BenchmarkRead and
// BenchmarkReadInfoOnly (bench_test.go; 120 packages per format, 2 cores,
// one run on a loaded machine): .conda 315 ms against 211 ms for the
// info- member only (hashing alone: 183 ms), since zstd is fast; .tar.bz2
// 15.6 s against 1.9 s (about 8x), since bzip2 decodes at about 10 MB/s
// of output per core (issue 14 replaced compress/bzip2 with the about
// twice as fast github.com/dsnet/compress/bzip2 on the read path). The
// full read is the default anyway: the indexer signs what it reads and reads each package once (its cache keeps the
// result), and conda-index decompresses most of a conda-build .tar.bz2
// too, whose info/recipe/ files are sorted among the payload.
//
// [ReadOptions.InfoOnly] restores the fast path for inspection: the pkg-
// member of a .conda is only hashed, and a .tar.bz2 is decompressed only
// until the info/ files are known: after info/index.json, at the first
// member outside info/, or as soon as every file above has been seen
// (info/index.json may be anywhere: until it is found, reading goes on).
// The rest is not checked, so what it returns must never be signed; in
// that mode the recipe file of a conda-build .tar.bz2 is usually not
// returned either. A .tar.bz2 costs at least one bzip2 block (up to 900
// kB of output) even when info/ is first.
//
// # Safety
//
// Archives are untrusted. Member names are normalised ("./info/x" is
// "info/x"); absolute names, ".." components, links that are absolute or
// lead out of the package (resolved the way the OS would, so chains of
// links cannot escape either), members below a link, device files,
// duplicate names (in the zip, in a tar, or across a .conda's two tars),
// info/ files in a .conda's pkg- member,
// oversized members and decompression beyond a budget are refused. Info
// files are capped by [ReadOptions.MaxFileSize] and all decompression by
// [ReadOptions.MaxDecompressed]. Failures are [*FormatError] values that
// name the package and the member, with a kind to test with [errors.Is]:
// [ErrUnsafePath], [ErrTooLarge], [ErrDuplicate], [ErrMissing],
// [ErrMalformed]. Reading never writes to disk. [Extract] unpacks a whole
// package with the same checks, through an [os.Root], so nothing can be
// created outside the target directory.
//
// # Writing
//
// [WriteTarBz2], [WriteConda] and [WriteFile] build packages that conda
// installs from an [fs.FS] (use [os.DirFS] for a directory), with info/
// first, sorted names, fixed owners and times: the same input always gives
// the same bytes. [Spec] builds a small package, index.json included, in
// memory, for tests and demos.
package condapkg
