// Package envaudit decides whether the files installed in a conda
// environment are those its packages' archives install: the rules of
// `conda-trust verify-env --files`, with no network and no policy.
//
// It imports only the standard library and condapkg (to read archives).
// Which archive to trust is the caller's business: package client hands
// it archives whose bytes verified against a signed record
// ([github.com/condatrust/condatrust/repodata.Expect]), from the pkgs cache or a verified download.
//
// # What an archive installs
//
// [ParsePaths] reads info/paths.json: each path with its type (file,
// symbolic link, empty directory), SHA-256 and size, and for a file built
// with the build prefix inside, the placeholder and whether it is text or
// binary. [Env.Audit] first checks that paths.json describes the archive
// it came in (every path a member of that type, with that digest and
// size), then compares each path with the prefix.
//
// # Prefix replacement
//
// conda rewrites files with a placeholder when it installs them;
// [Relocation] does the same, following conda/core/portability.py:
// text files have every occurrence replaced (and over-long or
// space-holding shebangs shortened to /usr/bin/env), binary files have
// each NUL-terminated string holding the placeholder rewritten and padded
// with NULs to its old length, Windows binaries only have a Python
// entry-point shebang rewritten. Each replacement is tried in UTF-8,
// UTF-16 and UTF-32, as conda does. The expected bytes of such a file are
// the relocated member; its digest is compared with the installed file.
//
// # Findings and errors
//
// [Env.Audit] returns a [Result] with one [Finding] per path that is
// [Modified], [Missing], [Unexpected] (listed in the package's conda-meta
// "files" but not installed by its archive) or [Unchecked] (unreadable).
// [Env.Unexpected] lists files of the prefix that no conda-meta record
// claims. Findings are verdicts; errors are not: an archive that cannot
// be read is an I/O or condapkg error, a malformed paths.json or
// conda-meta record a [*FormatError] matching [ErrMalformed], and a
// replacement conda itself would refuse matches [ErrRelocation] (it is
// reported as an unchecked file).
//
// # I/O
//
// The environment is an [fs.FS] ([Env.Files], os.DirFS(prefix) in real
// use) and the archive an [Archive] ([ArchiveFile] over condapkg.Walk),
// so tests can audit anything. Files are hashed as they stream; only
// files with a placeholder are held in memory, up to [Env.MaxRelocated].
// Package envtest builds packages with condapkg and installs them the way
// conda does, for tests.
package envaudit
