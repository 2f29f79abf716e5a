package repodata

import (
	"encoding/binary"
	"math/bits"
)

// The record splitter's inner loop: finding the end of a JSON object or
// array 64 bytes at a time. For each block it builds bit masks of quotes,
// opening and closing brackets (and backslashes), derives which bytes are
// inside strings from the running parity of the quotes, and only looks at
// individual brackets when the depth could reach zero in the block. A
// block with a backslash, or one that starts right after a backslash, is
// handled byte by byte instead, since escapes change what a quote means.

const (
	low7 = 0x7f7f7f7f7f7f7f7f
)

// eqMask returns a byte mask (bit k set for byte k) of the bytes of v equal
// to the byte whose copies fill pat.
func eqMask(v, pat uint64) uint64 {
	x := v ^ pat
	y := ^(((x & low7) + low7) | x | low7) // high bit set exactly for zero bytes
	return ((y >> 7) * 0x0102040810204080) >> 56
}

// zeroHigh returns the high bit of each byte of x that is zero.
func zeroHigh(x uint64) uint64 { return ^(((x & low7) + low7) | x | low7) }

// blockWords holds, for each 8-byte word of a 64-byte block, the high bit
// of every byte that is a quote, an opening bracket or a closing bracket.
type blockWords struct {
	q, o, c [8]uint64
}

// scanBlock fills w for a 64-byte block and reports whether the block has
// a backslash.
func scanBlock(b *[64]byte, w *blockWords) (backslash bool) {
	var e uint64
	for k := range 8 {
		v := binary.LittleEndian.Uint64(b[8*k:])
		x := v | 0x2020202020202020 // '[' -> '{', ']' -> '}'
		w.q[k] = zeroHigh(v ^ (ones * '"'))
		w.o[k] = zeroHigh(x ^ (ones * '{'))
		w.c[k] = zeroHigh(x ^ (ones * '}'))
		e |= zeroHigh(v ^ (ones * '\\'))
	}
	return e != 0
}

// spread[m] has the high bit of byte k set for each bit k of m: the
// inverse of pack for one word.
var spread = func() (t [256]uint64) {
	for m := range t {
		for k := range 8 {
			if m>>k&1 != 0 {
				t[m] |= 0x80 << (8 * k)
			}
		}
	}
	return t
}()

// pack turns eight words of byte high bits into one 64-bit mask.
func pack(h *[8]uint64) uint64 {
	var m uint64
	for k := range 8 {
		m |= (((h[k] >> 7) * 0x0102040810204080) >> 56) << (8 * k)
	}
	return m
}

// prefixXor returns, for each bit i, the XOR of bits 0..i of x.
func prefixXor(x uint64) uint64 {
	x ^= x << 1
	x ^= x << 2
	x ^= x << 4
	x ^= x << 8
	x ^= x << 16
	x ^= x << 32
	return x
}

// containerEnd returns the index just past the JSON object or array that
// starts at d[start] ('{' or '['), matching brackets outside strings, or
// -1 if d ends first. It does not validate anything else.
func containerEnd(d []byte, start int) int {
	depth := 0
	var inStr uint64 // all ones while inside a string at a block boundary
	escaped := false // the previous byte was an escaping backslash
	var w blockWords
	i := start
	for i+64 <= len(d) {
		if scanBlock((*[64]byte)(d[i:i+64]), &w) || escaped {
			var end int
			end, depth, inStr, escaped = blockSlow(d[i:i+64], depth, inStr, escaped)
			if end >= 0 {
				return i + end
			}
			i += 64
			continue
		}
		str := prefixXor(pack(&w.q)) ^ inStr // bytes from an opening quote up to (not including) its closing quote
		nOpen, nClose := 0, 0
		for k := range 8 {
			in := spread[byte(str>>(8*k))]
			w.o[k] &^= in
			w.c[k] &^= in
			nOpen += bits.OnesCount64(w.o[k])
			nClose += bits.OnesCount64(w.c[k])
		}
		if nClose < depth {
			depth += nOpen - nClose
		} else {
			// The container may end in this block: walk its brackets in order.
			open, close := pack(&w.o), pack(&w.c)
			for both := open | close; both != 0; both &= both - 1 {
				b := both & -both
				if open&b != 0 {
					depth++
				} else {
					depth--
					if depth == 0 {
						return i + bits.TrailingZeros64(b) + 1
					}
				}
			}
		}
		inStr = uint64(int64(str) >> 63)
		i += 64
	}
	end, _, _, _ := blockSlow(d[i:], depth, inStr, escaped)
	if end >= 0 {
		return i + end
	}
	return -1
}

// blockSlow is containerEnd's byte-by-byte loop over one block, carrying
// the same state. It returns the index past the container's end in b, or
// -1 with the state at the end of b.
func blockSlow(b []byte, depth int, inStr uint64, escaped bool) (int, int, uint64, bool) {
	in := inStr != 0
	for j := 0; j < len(b); j++ {
		c := b[j]
		if in {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				in = false
			}
			continue
		}
		switch c {
		case '"':
			in = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, 0, 0, false
			}
		}
	}
	if in {
		inStr = ^uint64(0)
	} else {
		inStr = 0
	}
	return -1, depth, inStr, escaped
}
