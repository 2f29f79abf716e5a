// Package repodata signs and verifies the package records of a conda
// repodata.json with content-trust pkg_mgr keys (metadata spec 0.6.0,
// content-trust spec §13 and §14), at the scale of conda-forge: hundreds
// of thousands of records, hundreds of megabytes.
//
// # Reading
//
// [Parse] (or [Open], which maps the file into memory) splits a
// repodata.json into its top-level members, the records of "packages"
// (.tar.bz2) and "packages.conda" (.conda), and the raw entries of
// "signatures". A [Record] keeps its raw bytes: nothing is decoded into
// typed fields, so numbers, unknown fields and every other detail stay
// exactly as served. What is signed and verified is the canonical form of
// those bytes (canonjson), computed one record at a time on all cores.
// Duplicate names resolve as Python's json.load resolves them: the last
// one wins. Input that is not strict JSON is an error, never a silent
// change.
//
// Splitting a large file runs on all cores: workers start at guessed
// record boundaries in the middle of the file, and the sequential walk
// adopts a worker's records only when it reaches that exact boundary
// itself, so the result is the sequential one (tests compare the two,
// errors included). The scanner finds the end of each record 64 bytes at
// a time with word-wide bit tricks and leaves every byte inside the record
// to canonjson.
//
// Memory: [Open] maps the file instead of reading it onto the heap, and
// lets the kernel take back the pages once they are split and again once
// a signer has written the records they hold, so signing or verifying a
// file needs about its size in memory at most (measured: 0.9x for signing,
// about 1x for verifying; see docs/performance-repodata.md).
//
// # Signing
//
// [Sign] signs every record with every given key and writes
// signatures[filename][pubkey] = {"signature": hex}. Its default output is
// byte for byte what conda-content-trust's sign-artifacts writes: the
// whole document in canonical form. With [SignOptions.Compact] it writes
// the sorted compact JSON of conda-index instead; verification depends
// only on each record's canonical bytes, so both verify alike. The output
// is derived from the very bytes that were signed, by re-indenting or
// removing layout whitespace, and streamed in order while workers sign
// ahead, so memory stays close to the size of the input. [WriteSigned]
// writes a file atomically.
//
// # Incremental signing
//
// Ed25519 is deterministic: the signature of unchanged bytes by the same
// key is the same signature. Re-signing a channel after a few packages were
// added should therefore not sign everything again. With
// [SignOptions.Previous] set to the signed file written last time, a
// record whose raw bytes equal, apart from JSON whitespace outside
// strings, the bytes of the record of the same name in Previous has the
// same canonical form, so Previous's signatures of it by the given keys are
// exactly what signing would produce, and they are copied. The comparison
// is a byte scan; no record is parsed and no cryptography is done for
// unchanged records. New and changed records are signed; records that are
// gone lose their signatures; signatures by keys not given are dropped.
// The output equals a full re-sign. Records are compared as written: one
// whose keys come in another order than the canonical one (conda-index
// sorts them) is simply signed again.
//
// This trusts Previous to be this signer's own output (in either layout),
// and that trust is checked, not assumed: before any reuse, a random sample
// of the records that would be reused (64 of them) is checked in full:
// re-canonicalized, re-rendered and every reused signature verified. A
// previous file written by another tool, or whose signatures do not verify,
// fails the sample and is then not used at all
// ([SignStats.PreviousRejected]); one signed by other keys has nothing to
// reuse; one with the very bytes of the input is refused, since it proves
// nothing about what changed. What a sample cannot catch is a single record
// edited in the previous file together with a copied-in signature: the
// record's content still equals the input's (or it would not be reused),
// so the worst outcome is a signature that fails verification for everyone,
// never one that makes something trusted that the key did not sign. An
// attacker who can write the input can do worse by editing the input, which
// the signer signs. Verifying every reused signature would cost about twice
// as much as signing the record again, so a previous file that is not
// trusted should simply not be given: a full sign is then the cheaper check.
//
// Finding the records of Previous means splitting it, which for a large
// file is a good part of an incremental run. With [SignOptions.WriteIndex],
// [WriteSigned] also writes a signing index next to its output (path +
// [IndexSuffix]; [SignWithIndex] returns it to callers that write the
// bytes themselves): the name, section and offsets of each record and of
// its signatures entry in the output, and a digest of the whole output
// (SHA-256 over the SHA-256 of each 4 MiB, hashed on all cores).
// [OpenPrevious] uses the index when its digest matches the file, and
// otherwise (no index, or damaged, or the file changed since) splits the
// file as [Open] does and says why. The index is trusted with offsets
// only: what is reused is decided exactly as without it, by comparing the
// new record's bytes with the bytes the index points at, and by the
// sample check. An index edited to point elsewhere, even with a matching
// digest, can only make records compare unequal (signed again), make the
// sample fail (nothing reused), or attach to a record a signature copied
// from elsewhere in the previous file, which fails verification; the
// output bytes of every record are still the input's.
//
// Without an earlier signed file there is no cheap evidence that a record
// did not change (a repodata patch edits records in place and keeps their
// names), so signatures already present in the input are never reused.
//
// # Verification
//
// A [Verifier] checks records against the pkg_mgr delegation of a key_mgr
// document (its keys and threshold), counting distinct authorized keys
// with a valid raw signature over the record's canonical bytes, as
// trust.CheckThreshold does. Each record is [Trusted], [Untrusted] (with
// the reason) or [Unsigned]. Malformed signature entries, keys that are
// not lowercase hex and keys not delegated are ignored, never an error.
// A file without a "signatures" member has every record unsigned.
// [Verifier.Verify] checks a whole file on all cores, verifying the
// signatures of 128 records at a time as one batch (below);
// [Verifier.VerifyRecord] and everything else use ed25519.Verify.
//
// # Batch verification
//
// The verdict on every signature is crypto/ed25519's (ed25519.Verify, as
// the reference's OpenSSL) for anything that someone without the private
// key can produce. ed25519.Verify accepts (R, S) by key A over M when S is
// canonical (S < L), A decodes (non-canonical encodings of A accepted),
// and the canonical encoding of [S]B - [k]A, k = SHA-512(R || A || M) mod
// L, equals the 32 bytes of R: the cofactorless equation R = [S]B - [k]A,
// with R's encoding canonical. A batch checks, for n signatures at once,
//
//	[8]( [-Σ z_i S_i]B + Σ [z_i]R_i + Σ_A [Σ_{i by A} z_i k_i]A ) = 0
//
// with independent random 128-bit z_i (from crypto/rand): the cofactored
// equation of ZIP-215 and of batch verifiers such as ed25519consensus,
// with the terms of one key merged, so that a batch of signatures by one
// key costs about one 128-bit scalar multiplication per signature instead
// of a 256-bit double one. If any signature fails its own cofactored
// equation the batch passes with probability at most 2^-128.
//
// A signature enters a batch only if it passes pre-checks that exclude
// everything on which the two equations, or the two decodings, can
// differ; any other is verified on its own with ed25519.Verify:
//
//   - S is canonical (S < L, so also the top three bits are clear);
//   - R's encoding is canonical (y < p, and no sign bit on x = 0), since
//     ed25519.Verify compares R's bytes with a canonical encoding, and R
//     is not one of the eight points of small order;
//   - A, checked once per key of the delegation, has a canonical encoding,
//     is not of small order, and has no torsion component ([L]A = 0):
//     A = [a]B for some a. A key that fails never enters a batch.
//
// Why a batch's "all valid" is then the verdict of ed25519.Verify for
// each: with A torsion-free, [S]B - [k]A is in the prime-order subgroup.
// Write R = R0 + T with R0 in that subgroup and T of small order. The
// cofactored equation holds iff [S]B - [k]A - R0 = T' for some small-order
// T'; both sides then lie in subgroups that meet only at the identity, so
// it holds iff [S]B - [k]A = R0, whatever T. The cofactorless one holds iff
// moreover T = 0 (R's encoding being canonical, byte equality is point
// equality). So the two verdicts differ exactly on signatures whose R has
// a torsion component T != 0 and whose S satisfies [S]B = R0 + [k]A, with
// k hashed from R's bytes. Making one is making a Schnorr signature on the
// prime-order part: choose r, set R = [r]B + T, and S = r + k a mod L,
// which needs a. Without a, producing such an S for a k that is a hash of
// R is exactly forging an Ed25519 signature under the cofactored equation
// (the standard unforgeability argument of Schnorr signatures in the
// random-oracle model, which is unaffected by T being hashed along with
// R0), and honest signers never produce one (their R is [r]B), so it is
// never a replay of a real signature either. Hence, for anyone without the
// private key, a batch accepts exactly what ed25519.Verify accepts, up to
// the 2^-128 above. The holder of a key can make signatures that a batch
// accepts and ed25519.Verify refuses (R with torsion, and S as above):
// such a record is one the key holder signed, so it becomes trusted only
// by the will of someone who could have signed it normally; but other
// verifiers (conda-content-trust) would refuse it. Small-order and
// non-canonical R are refused by the pre-checks even when the key holder
// made them, as are keys with a torsion component (whose holder's honest
// signatures verify cofactorlessly only for some messages). The
// differential tests (TestBatchDifferential) build each of these cases.
//
// While a worker collects a batch, it computes each record's result as if
// the batched signatures verified. If the batch then fails, those results
// are discarded and the batch's records are verified again one signature
// at a time with ed25519.Verify, which names the bad ones (and the next
// chunks of that worker are verified one by one, more of them after each
// failure in a row, so that a file full of bad signatures costs little
// more than before). The second pass reads the records again; its results
// are complete on their own. The result of Verify is therefore that of
// verifying every signature with ed25519.Verify (TestVerifyBatchSameReport
// compares whole reports). A signature cache ([Verifier.Cache]) is
// consulted first and learns a batched signature only once its batch
// verified.
//
// Establishing trust in the key_mgr itself (against a root, and its
// expiry) is the trust package's job: see the example.
//
// # Re-verifying, and serving only what is trusted
//
// A server that verifies a channel's repodata again and again (a
// verifying proxy) sets [Verifier.Cache] to a [SignatureCache] such as
// [NewMemoryCache]: a signature that verified once, over the same
// canonical bytes and by the same key ([SignatureKey]), is not verified
// again. Only that Ed25519 verification is skipped; which keys count,
// the threshold and the binding are decided on every run, so a key_mgr
// rotation takes effect at once. A cache kept on disk must be
// authenticated (an HMAC): a forged entry makes a forged signature by an
// authorized key count. [FileCache] is such a cache: a MemoryCache saved
// to a file with an HMAC-SHA256 under a key from [CacheKey], kept outside
// the cache's folder; the proxy, verify-repodata --cache and the client
// use it. With [Verifier.Keep], the report retains the
// verified bytes of the trusted records, and [WriteTrusted] writes a
// repodata.json of those records only, with the signatures that counted,
// which verifies again to the same records.
//
// # Re-verifying with a previous report
//
// A cache still canonicalizes and hashes every record on every run. A
// server that keeps the Report of its last verification (made with Keep)
// sets it as [Verifier.Previous], and a record whose bytes did not change
// is not verified again at all: its result, and the bytes WriteTrusted
// writes for it, are taken from that report ([Report.Reused] counts them).
// A record's result depends only on its own raw bytes, on its raw
// "signatures" entry (or on there being none, or no "signatures" member at
// all), on its file name and section, and on the Verifier's delegation and
// subdir; so if all of these are the same, so is the result, whatever it
// was: trusted, untrusted or unsigned. Nothing is normalized: a record or
// entry that differs by a byte, even in whitespace, is verified again.
//
// Each Report made with Keep holds, per record, a SHA-256 digest (32
// bytes) over the record's bytes and its signatures entry's bytes, with a
// domain prefix and lengths so that no two pairs hash alike; records are
// matched by section and file name, and a record is reused when the
// digests are equal. The bytes are copied out of the file first, and the
// copy is both what is hashed and, when the digests differ, what is
// verified: a mapped file rewritten meanwhile cannot make one set of bytes
// be compared and another verified. The delegation (the exact pkg_mgr keys,
// in order, and the threshold) and the effective subdir are stored in the
// report; when either differs, after a key_mgr rotation or a threshold
// change for instance, Previous is ignored as a whole
// ([Report.PreviousIgnored] says why). Trusting Previous is trusting this
// process's own earlier verification, held in its memory: a Report cannot
// be made or changed outside this package. The signature cache is not
// consulted for reused records, so with a bounded cache their entries
// may age out; they are needed again only if Previous is ever ignored.
//
// # Artifacts
//
// [Verifier.VerifyArtifact] checks a downloaded package file: its record
// must be trusted, then the file's size, SHA-256 and (where the record has
// one) MD5 must equal the signed record's.
package repodata
