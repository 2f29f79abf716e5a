// Package proxy is a verifying HTTP proxy for conda channels: conda,
// mamba and pixi point at http://LISTEN/NAME/... and get only what
// verified against the channel's pinned content-trust root. It is a leaf:
// it uses the client, repodata and trust packages and decides nothing
// they do not already decide.
//
//	srv, err := proxy.New(proxy.Config{
//		Channels: []proxy.Channel{{Name: "conda-forge", URL: "https://conda.example.org/conda-forge"}},
//		TrustDir: trustDir, CacheDir: cacheDir,
//	})
//	...
//	err = srv.Serve(ctx, listener) // until ctx is done, then a graceful shutdown
//
// # Channels and trust
//
// Each [Channel] maps NAME to an upstream (http://, https://, file:// or a
// local folder) that must be pinned in the trust store ([client.Store])
// unless it is a legacy conda sign channel (below);
// [New] refuses one that is not, with an error matching
// [client.ErrNotPinned]. New loads each channel's stored trust
// ([client.Client.Load]); at most every [Config.Refresh] (default 60s)
// the root chain and key_mgr are updated with [client.Client.Update],
// exactly as `conda-trust update` does. A refusal there (a skipped root
// version, a key_mgr rollback, expired metadata, ...) closes the channel:
// every repodata, package and metadata request of it is answered 502 with
// the rule, and /healthz answers 503, until an update succeeds. A network
// failure keeps the last verified trust while it has not expired.
//
// # What is served
//
// NAME/SUBDIR/repodata.json, repodata.json.zst and current_repodata.json
// (where the upstream has it): the upstream document (repodata.json.zst
// is tried first, as conda does) is fetched with conditional requests
// (If-None-Match, If-Modified-Since), at most [Config.MaxRepodata] bytes
// before and after decoding, at most every Refresh. A due refresh runs in
// the background, one per document: requests (package downloads
// included) keep getting the current verified view meanwhile, and wait
// for the refresh only when there is no view they may be given: before
// the first one, after an error, past StaleFor, or when the trust the
// view was verified under expired or was replaced. The body is streamed
// (decoded on the fly) into a file of the process's private folder
// CACHE_DIR/repodata/PID-RANDOM (mode 0700, removed at shutdown, and
// at start when its process is gone) and memory-mapped with
// [repodata.Open]: the document is never held in the heap whole. Every record is
// verified with [repodata.Verifier.Verify] (signature threshold of the
// key_mgr's pkg_mgr keys, and the record's binding to its file name,
// section and subdir), with a [repodata.SignatureCache] so that unchanged
// records cost a hash lookup. The answer is [repodata.WriteTrusted]'s
// document: only trusted records, each with the signatures that counted,
// so a client with its own content-trust check still verifies it. The
// document's info.base_url (CEP 15) is removed, so clients download
// packages through the proxy; the proxy itself downloads from it when
// [repodata.ResolveBaseURL] accepts it. The document is written to a
// file of its own and served from it (sendfile); the .zst form is
// compressed from it into another file at the first request for it.
// A view's files and mapping are released once no request uses it.
// Responses carry an ETag and honour If-None-Match,
// If-Modified-Since, Range and HEAD.
//
// With [Config.OnUntrusted] "drop" (the default) untrusted and unsigned
// records are left out, each logged on one line (channel, file, record,
// rule, key, reason) and counted; with "refuse" a document holding any is
// answered 502 as a whole. When the upstream fails (network, HTTP error,
// stall, reset, too large, redirect to another host), the last verified
// document is served, with a Warning header, for at most [Config.StaleFor]
// (default 24h) after the upstream last confirmed it, and only while the
// trust it was verified under has not expired; after that, 502 or 504.
// Nothing the proxy did not verify is ever served.
//
// NAME/SUBDIR/NAME-VERSION-BUILD.conda and .tar.bz2: only when the current
// verified repodata.json of SUBDIR holds the record. Its record is
// checked with [repodata.Verifier.VerifyPackageRecord] (so it has a size
// and sha256), the bytes are downloaded through the package cache
// (package pkgcache: at most the record's size is read, and size, sha256
// and md5 must match before the file enters the cache; concurrent
// requests share one download; LRU bounded by [Config.CacheMax]), and
// served with http.ServeContent (Range, HEAD, If-None-Match on the
// sha256 ETag). A package whose record was dropped is answered 403 with
// the record's rule; one with no record, 404; bytes that do not match,
// 502 with rule artifact-hash (nothing is cached, so the next request
// downloads again).
//
// NAME/N.root.json and NAME/key_mgr.json: the verified files of the trust
// store, so that conda's own signature checks keep working behind the
// proxy.
//
// SUBDIR/repodata_shards.msgpack.zst and SUBDIR/shards/SHA256.msgpack.zst
// (CEP 16, read first by pixi): shards built by the indexer's shard writer
// (package shards) from the verified repodata.json view, only trusted
// records with their signatures; never the upstream's shards, which carry
// no signatures and are never requested. A legacy channel gets 404.
//
// Everything else is 404 and never reaches the upstream:
//
//   - channeldata.json, index.html, repodata.json.bz2, repodata.jlap,
//     repodata_from_packages.json: unsigned documents no install needs.
//   - .sig (legacy conda sign) of a content-trust channel, and
//     attestation sidecars: content trust does not use them.
//   - Paths not of the shape NAME/FILE or NAME/SUBDIR/FILE with a known
//     subdir (index.KnownSubdirs) and a conda package file name.
//
// # Legacy conda sign channels
//
// A [Channel] with Legacy set is served under the RSA `conda sign` rules
// (package legacysign) instead of content trust. Which rules apply is
// configuration, never the channel's content: a channel pinned for content
// trust is refused as Legacy by [New], and a content-trust channel whose
// records lost their signatures is refused as usual (rule unsigned), never
// verified by the weaker rules, whatever [Config.LegacyKeys] holds.
//
// A legacy channel is not pinned and has no trust state; /healthz counts
// it as ready and names it with its keys. Its repodata is not signed, so
// it is served as fetched (size-capped, parsed strictly with
// [repodata.Parse], info.base_url removed) with the header
// X-Conda-Trust-Verified: no (legacy conda sign channel: packages are
// verified, repodata is not). Only packages are protected: each needs
// SUBDIR/FILE.sig (fetched from next to the package, whatever the
// record's "sig" says) naming a key trusted for the channel
// ([Channel].TrustedKeys, and what [Config.LegacyChannelKeys] allows for
// the package) and installed in [Config.LegacyKeys], checked before any
// package byte is fetched, then a valid RSASSA-PSS signature over the
// package's SHA-256 ([client.LegacyPolicy]). A record with a size and
// sha256: the signature is checked over its sha256 and the package cache
// admits only bytes of that size and sha256 (and md5). A record without
// (conda-build 1.x wrote md5 only): the package is downloaded into
// CACHE_DIR/legacy-partial, checked against the size and md5 the record
// gives, and the signature checked over the SHA-256 of those bytes, before
// it enters the cache keyed by it. The refusals (signature invalid,
// missing or malformed, key not installed, key not trusted) are answered
// 403 with rule legacy-signature, counted and logged as content-trust
// refusals; bytes that do not match the record, 502 with rule
// artifact-hash. A verdict holds for [Config.Refresh]; then the .sig is
// checked again (the bytes come from the cache). NAME/SUBDIR/FILE.sig is
// served only once FILE verified with it (the very bytes that verified);
// N.root.json and key_mgr.json are 404.
//
// # Status codes
//
// Error answers are text/plain with one line, "conda-trust proxy: " and
// the reason; a refusal adds "refused (RULE): " and the header
// X-Conda-Trust-Rule: RULE.
//
//	200, 206, 304  served (stale repodata adds a Warning header)
//	403  the package's record is in the upstream repodata but was refused,
//	     or a legacy channel's package has no valid conda sign signature
//	404  not served by the proxy, not in the verified repodata, or not upstream
//	405  a method other than GET and HEAD
//	502  the upstream answered something that did not verify, or failed,
//	     with no verified copy to serve
//	503  /healthz: some channel's trust is not loaded, refused or expired
//	504  the upstream did not answer in time, with no verified copy to serve
//
// # Operating
//
// /healthz answers 200 when every channel has a verified, unexpired
// trust state (a line per legacy channel follows "ok"), and 503 with the
// reasons otherwise. /metrics serves the
// Prometheus metrics condatrust_proxy_requests_total{route,code},
// refusals_total{channel,rule}, package_cache_total{result},
// bytes_served_total{route}, upstream_errors_total{channel,kind},
// verification_seconds{channel}, records{channel,subdir,status} and
// signature_cache_total{result}, with Go and process metrics when the
// proxy has its own registry.
//
// The signature cache (verified signatures, keyed by
// [repodata.SignatureKey]) is kept in memory and saved every five minutes
// and at shutdown to CACHE_DIR/sigcache, authenticated with HMAC-SHA256
// under a random key in TRUST_DIR/proxy-sigcache.key (mode 0600, outside
// the cache directory): whoever can write the cache directory cannot make
// a signature count. A file that fails the check is discarded.
//
// Limits: [Config.Timeout] bounds connecting, waiting for headers and
// every wait for body bytes from the upstream; [Config.Deadline] one whole
// upstream request; redirects are followed only within the upstream's
// host (or to [Config.AllowRedirectHosts]) and never from https to http;
// [Config.MaxConcurrentDownloads] upstream package downloads and
// [Config.MaxConns] client connections at once.
package proxy
