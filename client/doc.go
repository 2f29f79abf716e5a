// Package client is the user side of conda content trust: a trust store
// with one pinned root per channel, root and key_mgr updates from the
// channel, a package download that writes nothing unless every check
// passed, and an audit of installed environments.
//
// Where conda only warns, this package refuses: anything unsigned,
// expired, rolled back, signed by too few authorized keys, or whose bytes
// differ from the signed record. Every refusal is a
// [*trust.VerificationError] naming its rule (or a [*LegacySignatureError]
// for `conda sign` channels), so it matches [trust.ErrVerification];
// network, disk and size-limit problems never do.
//
// # Trust store
//
// A [Store] holds, per channel, the roots the user pinned or the client
// verified, and the last verified key_mgr. A channel is pinned with
// [Store.Add] from a root file the user obtained out of band; a root
// published inside the channel is never trusted on its own. The default
// location is [DefaultStoreDir].
//
// # Updating
//
// [Client.Update] walks <base>/N+1.root.json until the server has none,
// verifying each step against the previous root's keys and its own,
// storing each verified root, and then fetches and verifies key_mgr.json;
// its doc comment lists the rules in order. [Client.Load] gives the same
// state from the store alone, re-verified. Build the state once per
// operation and verify every record with it.
//
// # Fetching and auditing
//
// [Client.FetchPackage] verifies a package's record in repodata.json with
// [VerifyRecord], then streams the package into a temporary file, hashing
// as it goes, and renames it into place only when size and hashes match.
// [Client.VerifyEnv] checks each conda-meta/*.json of an environment
// against the signed record of its package.
//
// # I/O
//
// The client reaches channels only through a [Fetcher]: [NewFetcher] for
// file://, http:// and https://, or [MemoryFetcher] in tests. Every body
// is read through a size cap ([Limits]), and HTTP requests have connect,
// header and idle timeouts and an overall deadline per request
// ([HTTPOptions]). Package clienttest builds
// signed channels to test against.
package client
