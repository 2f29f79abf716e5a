package trust

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strings"
)

// PublicKey is a raw Ed25519 public key. In content-trust metadata a key is
// its own identifier, written as 64 lowercase hex characters.
type PublicKey [ed25519.PublicKeySize]byte

// String returns the 64 lowercase hex characters of k.
func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }

// Short returns the first 8 hex characters of k followed by "…", for
// messages.
func (k PublicKey) Short() string { return k.String()[:8] + "…" }

// IsCanonicalKeyHex reports whether s is exactly 64 lowercase hex
// characters, the only form of key identifier the reference accepts.
func IsCanonicalKeyHex(s string) bool {
	return len(s) == 64 && isLowerHex(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ParsePublicKey parses a key identifier as it appears in metadata: 64
// lowercase hex characters. Upper-case hex is refused, as the reference
// refuses it.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	if !IsCanonicalKeyHex(s) {
		return k, fmt.Errorf("public key %q is not 64 lowercase hex characters", abbreviate(s))
	}
	hex.Decode(k[:], []byte(s))
	return k, nil
}

// ParsePublicKeyLenient parses a public key typed by a user or read from a
// .pub file: 64 hex characters in either case, with surrounding
// whitespace.
func ParsePublicKeyLenient(s string) (PublicKey, error) {
	return ParsePublicKey(strings.ToLower(strings.TrimSpace(s)))
}

func abbreviate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
