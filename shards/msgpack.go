package shards

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/condatrust/condatrust/canonjson"
)

// The msgpack encoding of JSON-like values, as Python's msgpack.packb
// writes it with its defaults (use_bin_type=True): the smallest integer
// and container forms, str for text, bin for bytes, float 64 for
// fractions. Maps are written in the order given.

func appendNil(b []byte) []byte { return append(b, 0xc0) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendUint(b, uint64(n))
	case n >= -32:
		return append(b, byte(n))
	case n >= math.MinInt8:
		return append(b, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

func appendUint(b []byte, n uint64) []byte {
	switch {
	case n <= 0x7f:
		return append(b, byte(n))
	case n <= math.MaxUint8:
		return append(b, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), n)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
}

func appendStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n <= 31:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendBin(b []byte, p []byte) []byte {
	n := len(p)
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

// appendValue appends the msgpack form of a JSON value, object members in
// key order (canonjson keeps them sorted). An integer beyond 64 bits,
// which Python's msgpack refuses, is an error.
func appendValue(b []byte, v canonjson.Value) ([]byte, error) {
	switch v.Kind() {
	case canonjson.Null:
		return appendNil(b), nil
	case canonjson.Bool:
		return appendBool(b, v.Bool()), nil
	case canonjson.String:
		return appendStr(b, v.Str()), nil
	case canonjson.Number:
		if v.IsInteger() {
			if n, ok := v.Int64(); ok {
				return appendInt(b, n), nil
			}
			if u, err := strconv.ParseUint(v.NumberText(), 10, 64); err == nil {
				return appendUint(b, u), nil
			}
			return nil, fmt.Errorf("integer %s does not fit in 64 bits", v.NumberText())
		}
		f, err := strconv.ParseFloat(v.NumberText(), 64)
		if err != nil {
			return nil, err
		}
		return appendFloat(b, f), nil
	case canonjson.Array:
		b = appendArrayHeader(b, v.Len())
		for i := range v.Len() {
			var err error
			if b, err = appendValue(b, v.Index(i)); err != nil {
				return nil, err
			}
		}
		return b, nil
	case canonjson.Object:
		ms := v.Members()
		b = appendMapHeader(b, len(ms))
		for _, m := range ms {
			b = appendStr(b, string(m.Key))
			var err error
			if b, err = appendValue(b, m.Value); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown JSON kind %v", v.Kind())
}

// ErrMsgpack reports msgpack input that [Decode] cannot read.
var ErrMsgpack = errors.New("shards: malformed msgpack")

// maxDepth bounds nesting in [Decode].
const maxDepth = 100

// Decode reads one msgpack value, the whole of data, into Go values:
// map[string]any (string keys only), []any, string, []byte, int64, uint64,
// float64, bool and nil. Extension types and non-string map keys are
// refused. It is meant for tests and for reading shard files back; every
// length is checked against the input before anything is allocated.
func Decode(data []byte) (any, error) {
	d := decoder{data: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.off != len(d.data) {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrMsgpack, len(d.data)-d.off)
	}
	return v, nil
}

type decoder struct {
	data []byte
	off  int
}

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.data)-d.off {
		return nil, fmt.Errorf("%w: truncated at byte %d", ErrMsgpack, d.off)
	}
	p := d.data[d.off : d.off+n]
	d.off += n
	return p, nil
}

func (d *decoder) uint(n int) (uint64, error) {
	p, err := d.take(n)
	if err != nil {
		return 0, err
	}
	var u uint64
	for _, c := range p {
		u = u<<8 | uint64(c)
	}
	return u, nil
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMsgpack, maxDepth)
	}
	p, err := d.take(1)
	if err != nil {
		return nil, err
	}
	c := p[0]
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c&0xf0 == 0x80:
		return d.mapBody(int(c&0x0f), depth)
	case c&0xf0 == 0x90:
		return d.arrayBody(int(c&0x0f), depth)
	case c&0xe0 == 0xa0:
		s, err := d.take(int(c & 0x1f))
		return string(s), err
	}
	sized := func(n int) (int, error) { u, err := d.uint(n); return int(u), err }
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6:
		n, err := sized(1 << (c - 0xc4))
		if err != nil {
			return nil, err
		}
		b, err := d.take(n)
		return append([]byte(nil), b...), err
	case 0xca:
		u, err := d.uint(4)
		return float64(math.Float32frombits(uint32(u))), err
	case 0xcb:
		u, err := d.uint(8)
		return math.Float64frombits(u), err
	case 0xcc, 0xcd, 0xce, 0xcf:
		u, err := d.uint(1 << (c - 0xcc))
		if err != nil {
			return nil, err
		}
		if u <= math.MaxInt64 {
			return int64(u), nil
		}
		return u, nil
	case 0xd0, 0xd1, 0xd2, 0xd3:
		n := 1 << (c - 0xd0)
		u, err := d.uint(n)
		if err != nil {
			return nil, err
		}
		shift := 64 - 8*n
		return int64(u<<shift) >> shift, nil
	case 0xd9, 0xda, 0xdb:
		n, err := sized(1 << (c - 0xd9))
		if err != nil {
			return nil, err
		}
		s, err := d.take(n)
		return string(s), err
	case 0xdc, 0xdd:
		n, err := sized(2 << (c - 0xdc))
		if err != nil {
			return nil, err
		}
		return d.arrayBody(n, depth)
	case 0xde, 0xdf:
		n, err := sized(2 << (c - 0xde))
		if err != nil {
			return nil, err
		}
		return d.mapBody(n, depth)
	}
	return nil, fmt.Errorf("%w: unsupported type byte 0x%02x at %d", ErrMsgpack, c, d.off-1)
}

func (d *decoder) arrayBody(n, depth int) (any, error) {
	if n > len(d.data)-d.off { // each element takes at least one byte
		return nil, fmt.Errorf("%w: array of %d elements in %d bytes", ErrMsgpack, n, len(d.data)-d.off)
	}
	out := make([]any, 0, n)
	for range n {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *decoder) mapBody(n, depth int) (any, error) {
	if n > (len(d.data)-d.off)/2 {
		return nil, fmt.Errorf("%w: map of %d entries in %d bytes", ErrMsgpack, n, len(d.data)-d.off)
	}
	out := make(map[string]any, n)
	for range n {
		k, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("%w: map key of type %T", ErrMsgpack, k)
		}
		if _, dup := out[ks]; dup {
			return nil, fmt.Errorf("%w: duplicate map key %q", ErrMsgpack, ks)
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[ks] = v
	}
	return out, nil
}
