package attest

import (
	"encoding/base64"
	"testing"
)

func mustBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// flipBase64 flips one bit in the middle of base64-encoded bytes.
func flipBase64(t *testing.T, s string) string {
	t.Helper()
	b := mustBase64(t, s)
	b[len(b)/2] ^= 0x01
	return base64Std(b)
}
