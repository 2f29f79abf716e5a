package repodata

import (
	"math/rand/v2"
	"testing"
)

// refContainerEnd is the obvious byte-by-byte version of containerEnd.
func refContainerEnd(d []byte, start int) int {
	end, _, _, _ := blockSlow(d[start:], 0, 0, false)
	if end < 0 {
		return -1
	}
	return start + end
}

// TestContainerEnd compares the block scanner with the byte loop on
// random strings of JSON-ish bytes, which put quotes, escapes and brackets
// at every offset of a 64-byte block.
func TestContainerEnd(t *testing.T) {
	alphabet := []byte(`{}[]"\ab, :`)
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200000 {
		size := 1 + r.IntN(300)
		d := make([]byte, size)
		d[0] = "{["[r.IntN(2)]
		for i := 1; i < size; i++ {
			if r.IntN(4) == 0 {
				d[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				d[i] = 'x'
			}
		}
		if got, want := containerEnd(d, 0), refContainerEnd(d, 0); got != want {
			t.Fatalf("case %d: %q: got %d, want %d", n, d, got, want)
		}
	}
}
