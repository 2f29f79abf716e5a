package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
)

func mustKey(t *testing.T, s string) PublicKey {
	t.Helper()
	k, err := ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The identity point accepts a constant signature for every message: this
// is the attack CheckPublicKey exists to stop.
func TestIdentityKeyForgesEverything(t *testing.T) {
	identity := "01" + "00000000000000000000000000000000000000000000000000000000000000"
	k := mustKey(t, identity)
	sig := make([]byte, 64)
	sig[0] = 1 // R = identity, S = 0
	for _, msg := range []string{"", "anything", "a record nobody signed"} {
		if !ed25519.Verify(k[:], []byte(msg), sig) {
			t.Fatalf("premise: the forged signature does not verify for %q", msg)
		}
	}
	err := CheckPublicKey(k)
	var ve *VerificationError
	if !errors.As(err, &ve) || ve.Rule != RuleWeakKey {
		t.Fatalf("CheckPublicKey(identity) = %v, want rule %s", err, RuleWeakKey)
	}
}

func TestCheckPublicKey(t *testing.T) {
	weak := map[string]string{
		"identity":                 "0100000000000000000000000000000000000000000000000000000000000000",
		"order 2 (y = p-1)":        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"order 4 (y = 0)":          "0000000000000000000000000000000000000000000000000000000000000000",
		"order 4 (y = 0, -x)":      "0000000000000000000000000000000000000000000000000000000000000080",
		"non-canonical y = p":      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"non-canonical y = p+1":    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"non-canonical -0 (y = 1)": "0100000000000000000000000000000000000000000000000000000000000080",
		"not on the curve (y = 2)": "0200000000000000000000000000000000000000000000000000000000000000",
	}
	for name, h := range weak {
		if err := CheckPublicKey(mustKey(t, h)); !errors.Is(err, ErrVerification) {
			t.Errorf("%s: CheckPublicKey = %v, want a weak-key refusal", name, err)
		}
	}
	// The points of order 8: 2P has y = 0, so x^2 = -y^2 and, on the
	// curve, d y^4 + 2 y^2 - 1 = 0: y^2 = (-1 ± sqrt(1+d)) / d.
	c := curve()
	found := 0
	s := new(big.Int).ModSqrt(new(big.Int).Add(c.d, big.NewInt(1)), c.p)
	for _, sg := range []int64{1, -1} {
		num := new(big.Int).Add(big.NewInt(-1), new(big.Int).Mul(big.NewInt(sg), s))
		y2 := new(big.Int).Mul(num, new(big.Int).ModInverse(c.d, c.p))
		y2.Mod(y2, c.p)
		y := new(big.Int).ModSqrt(y2, c.p)
		if y == nil {
			continue
		}
		for _, yy := range []*big.Int{y, new(big.Int).Sub(c.p, y)} {
			for _, signBit := range []byte{0, 0x80} {
				var k PublicKey
				be := yy.FillBytes(make([]byte, 32))
				for i := range k {
					k[i] = be[31-i]
				}
				k[31] |= signBit
				found++
				if err := CheckPublicKey(k); !errors.Is(err, ErrVerification) {
					t.Errorf("order-8 point %s: CheckPublicKey = %v, want a weak-key refusal", k, err)
				}
			}
		}
	}
	if found != 4 {
		t.Fatalf("found %d encodings of order-8 points, want the 4 points of order 8 (2 values of y, 2 signs of x)", found)
	}
	for i := range 200 {
		seed := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		var k PublicKey
		copy(k[:], pub)
		if err := CheckPublicKey(k); err != nil {
			t.Fatalf("real key %s refused: %v", hex.EncodeToString(pub), err)
		}
	}
}

// FuzzCheckPublicKey: the point decoder never panics, and a key it
// accepts never takes the constant forgery (R = identity, S = 0) that
// every small-order key takes.
func FuzzCheckPublicKey(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(append([]byte{1}, make([]byte, 31)...))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	f.Add([]byte(pub))
	forged := append([]byte{1}, make([]byte, 63)...)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 32 {
			return
		}
		var k PublicKey
		copy(k[:], b)
		if CheckPublicKey(k) == nil && ed25519.Verify(k[:], []byte("any message"), forged) {
			t.Fatalf("accepted key %s takes the constant forgery", k)
		}
	})
}
