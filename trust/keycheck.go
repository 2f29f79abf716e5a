package trust

import (
	"fmt"
	"math/big"
	"sync"
)

// Ed25519 curve constants for the public key check: the field prime
// p = 2^255 - 19 and the curve constant d = -121665/121666 mod p.
var curve = sync.OnceValue(func() (c struct{ p, d *big.Int }) {
	c.p = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	inv := new(big.Int).ModInverse(big.NewInt(121666), c.p)
	c.d = new(big.Int).Mul(big.NewInt(-121665), inv)
	c.d.Mod(c.d, c.p)
	return c
})

// CheckPublicKey refuses a public key for which signatures can be made
// without a private key, or which verifiers disagree about:
//
//   - an encoding that is not canonical (the y coordinate is not below
//     the field prime, or x is zero and the sign bit is set): Go's
//     crypto/ed25519 accepts such encodings, other implementations do not;
//   - a point that is not on the curve;
//   - a point of small order (the identity and the seven other points of
//     order dividing 8). For the identity, for example, the constant
//     "signature" R = identity, S = 0 verifies for every message.
//
// Every key read from metadata, a key file or a command line goes through
// it. It returns a *VerificationError with rule [RuleWeakKey].
func CheckPublicKey(k PublicKey) error {
	if why := weakness(k); why != "" {
		return &VerificationError{Role: "public key " + k.Short(), Rule: RuleWeakKey, Key: k.String(),
			Detail: fmt.Sprintf("refused: %s; signatures by such a key prove nothing", why)}
	}
	return nil
}

// weakness says why k is not a safe Ed25519 public key, or "" if it is.
func weakness(k PublicKey) string {
	c := curve()
	p := c.p
	var le [32]byte
	for i := range le {
		le[i] = k[31-i] // big.Int wants big-endian
	}
	sign := le[0] >> 7
	le[0] &= 0x7f
	y := new(big.Int).SetBytes(le[:])
	if y.Cmp(p) >= 0 {
		return "not a canonical encoding (y is not below the field prime)"
	}
	// x^2 = (y^2 - 1) / (d y^2 + 1)
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, p)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	u.Mod(u, p)
	v := new(big.Int).Mul(c.d, y2)
	v.Add(v, big.NewInt(1))
	v.Mod(v, p)
	x2 := new(big.Int).Mul(u, new(big.Int).ModInverse(v, p))
	x2.Mod(x2, p)
	x := new(big.Int).ModSqrt(x2, p)
	if x == nil {
		return "not a point on the Ed25519 curve"
	}
	if x.Sign() == 0 && sign == 1 {
		return "not a canonical encoding (negative zero x)"
	}
	if uint8(x.Bit(0)) != sign {
		x.Sub(p, x)
	}
	// Multiply by the cofactor 8 with three doublings; a point of small
	// order becomes the identity (0, 1).
	for range 3 {
		x, y = edwardsAdd(x, y, x, y)
	}
	if x.Sign() == 0 && y.Cmp(big.NewInt(1)) == 0 {
		return "a point of small order"
	}
	return ""
}

// edwardsAdd adds two points of the twisted Edwards curve
// -x^2 + y^2 = 1 + d x^2 y^2 in affine coordinates.
func edwardsAdd(x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
	c := curve()
	p := c.p
	mul := func(a, b *big.Int) *big.Int { r := new(big.Int).Mul(a, b); return r.Mod(r, p) }
	t := mul(c.d, mul(mul(x1, x2), mul(y1, y2)))
	one := big.NewInt(1)
	xn := new(big.Int).Add(mul(x1, y2), mul(y1, x2))
	xd := new(big.Int).Add(one, t)
	yn := new(big.Int).Add(mul(y1, y2), mul(x1, x2))
	yd := new(big.Int).Sub(one, t)
	yd.Mod(yd, p)
	x3 := mul(xn, new(big.Int).ModInverse(xd.Mod(xd, p), p))
	y3 := mul(yn, new(big.Int).ModInverse(yd, p))
	return x3, y3
}
