package trust

import "crypto/sha1"

// sha1Sum is used only to compute OpenPGP v4 fingerprints, which are
// defined as SHA-1; it plays no part in any security decision.
func sha1Sum(b []byte) [20]byte { return sha1.Sum(b) }
