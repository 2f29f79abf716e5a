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
// Every byte of the file is read once, in order, and hashed; decompression
// does only what the metadata needs:
//
//   - .conda: only the info- member is decompressed. The zip directory is
//     found with random access and every byte so read is compared with the
//     sequential pass, so the metadata and the digests describe the same
//     file even if it is replaced while being read.
//   - .tar.bz2: decompression stops once the info/ files are known:
//     after info/index.json, at the first member outside info/, or as soon
//     as every file above has been seen; the rest of the file is only
//     hashed. info/index.json may be anywhere: until it is found, reading
//     goes on. conda-build puts the top-level info/ files first but sorts
//     info/recipe/ and info/test/ among the payload, so in this default mode
//     the recipe file of a conda-build .tar.bz2 is usually not returned, and
//     members after the stopping point are not checked. Set
//     [ReadOptions.FullScan] to read the whole tar, as conda-index does.
//
// The cost of a .tar.bz2 is at least one bzip2 block (up to 900 kB of
// output) even when info/ is first; a .conda costs little more than
// hashing. See bench_test.go.
//
// # Safety
//
// Archives are untrusted. Member names are normalised ("./info/x" is
// "info/x"); absolute names, ".." components, links that are absolute or
// lead out of the package (resolved the way the OS would, so chains of
// links cannot escape either), members below a link, device files,
// duplicate names (in the zip, in a tar, or across a .conda's two tars),
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
