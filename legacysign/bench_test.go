package legacysign

import (
	"bytes"
	"crypto/rand"
	"testing"
)

const benchSize = 10 << 20 // a 10 MB package

func benchData(b *testing.B) []byte {
	b.Helper()
	data := make([]byte, benchSize)
	rand.Read(data)
	return data
}

// BenchmarkSign: hashing 10 MB and one RSA-2048 PSS signature.
func BenchmarkSign(b *testing.B) {
	sk := &SigningKey{Name: "Bench", Key: sharedTestKey(b)}
	data := benchData(b)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := sk.Sign(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify: parsing the .sig, hashing 10 MB and one PSS verification.
func BenchmarkVerify(b *testing.B) {
	key := sharedTestKey(b)
	sk := &SigningKey{Name: "Bench", Key: key}
	data := benchData(b)
	sig, err := sk.Sign(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	sigFile := sig.Marshal()
	v := &Verifier{Keys: KeyMap{"Bench": &key.PublicKey}, TrustedKeys: []string{"Bench"}}
	b.SetBytes(benchSize)
	for b.Loop() {
		if err := v.Verify(bytes.NewReader(data), sigFile); err != nil {
			b.Fatal(err)
		}
	}
}
