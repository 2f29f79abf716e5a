package canonjson

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Marshal returns the canonical serialization of v: the bytes Python's
// json.dumps(v, indent=2, sort_keys=True) produces, with no trailing
// newline.
func Marshal(v Value) []byte {
	return AppendIndent(nil, v, 0)
}

// AppendIndent appends the canonical serialization of v to dst as if v
// were nested level levels deep in a larger canonical document: inner lines
// are indented by 2*(level+1) spaces and the closing bracket by 2*level.
// The first line is not indented. Level 0 gives [Marshal]'s output.
func AppendIndent(dst []byte, v Value, level int) []byte {
	return appendValue(dst, &v, level)
}

// Canonicalize parses data and returns its canonical serialization.
func Canonicalize(data []byte) ([]byte, error) {
	return AppendCanonical(nil, data)
}

// AppendCanonical parses data and appends its canonical serialization to
// dst.
func AppendCanonical(dst, data []byte) ([]byte, error) {
	return AppendCanonicalIndent(dst, data, 0)
}

// AppendCanonicalUnique is [AppendCanonical] that refuses a duplicate
// object key anywhere, as [ParseUnique] does.
func AppendCanonicalUnique(dst, data []byte) ([]byte, error) {
	return appendCanonical(dst, data, 0, true)
}

// AppendCanonicalIndent is [AppendCanonical] for a document nested level
// levels deep, as [AppendIndent].
func AppendCanonicalIndent(dst, data []byte, level int) ([]byte, error) {
	return appendCanonical(dst, data, level, false)
}

// AppendCanonicalIndentUnique is [AppendCanonicalIndent] that refuses a
// duplicate object key anywhere, as [ParseUnique] does.
func AppendCanonicalIndentUnique(dst, data []byte, level int) ([]byte, error) {
	return appendCanonical(dst, data, level, true)
}

func appendCanonical(dst, data []byte, level int, unique bool) ([]byte, error) {
	n := len(dst)
	if level == 0 {
		if out, ok := appendDirect(dst, data); ok {
			return out, nil
		}
	} else {
		p := parser{data: data}
		p.skipWS()
		if out, ok := p.emit(dst, level); ok {
			p.skipWS()
			if p.pos == len(data) {
				return out, nil
			}
		}
	}
	dst = dst[:n]
	v, err := parse(data, unique)
	if err != nil {
		return dst, err
	}
	return appendValue(dst, &v, level), nil
}

const spaces = "                                                                                                                                "

func appendIndent(dst []byte, level int) []byte {
	n := 2 * level
	for n > len(spaces) {
		dst = append(dst, spaces...)
		n -= len(spaces)
	}
	return append(dst, spaces[:n]...)
}

func appendValue(dst []byte, v *Value, level int) []byte {
	switch v.kind {
	case Null:
		return append(dst, "null"...)
	case Bool:
		if v.flags&flagTrue != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case Number:
		return append(dst, v.text...)
	case String:
		return appendString(dst, v.text, v.flags&flagPlain != 0)
	case Array:
		if len(v.kids) == 0 {
			return append(dst, "[]"...)
		}
		dst = append(dst, '[')
		for i := range v.kids {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '\n')
			dst = appendIndent(dst, level+1)
			dst = appendValue(dst, &v.kids[i].Value, level+1)
		}
		dst = append(dst, '\n')
		dst = appendIndent(dst, level)
		return append(dst, ']')
	case Object:
		if len(v.kids) == 0 {
			return append(dst, "{}"...)
		}
		dst = append(dst, '{')
		for i := range v.kids {
			m := &v.kids[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '\n')
			dst = appendIndent(dst, level+1)
			dst = appendString(dst, m.Key, m.Value.flags&flagKeyPlain != 0)
			dst = append(dst, ':', ' ')
			dst = appendValue(dst, &m.Value, level+1)
		}
		dst = append(dst, '\n')
		dst = appendIndent(dst, level)
		return append(dst, '}')
	}
	panic("canonjson: invalid Value kind")
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a canonical JSON string (ASCII only, with
// Python's escapes). s must be valid UTF-8.
func AppendString(dst []byte, s string) []byte {
	return appendString(dst, []byte(s), false)
}

func appendString(dst, s []byte, plain bool) []byte {
	dst = append(dst, '"')
	if plain {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			j := i + 1
			for j < len(s) && s[j] >= 0x20 && s[j] < 0x7f && s[j] != '"' && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		if c < 0x80 {
			switch c {
			case '"':
				dst = append(dst, '\\', '"')
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = appendU(dst, rune(c))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		i += size
		if r > 0xffff {
			r -= 0x10000
			dst = appendU(dst, 0xd800+(r>>10))
			dst = appendU(dst, 0xdc00+(r&0x3ff))
			continue
		}
		dst = appendU(dst, r)
	}
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// appendPyFloat appends f as Python's float repr writes it.
func appendPyFloat(dst []byte, f float64) []byte {
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	k := bytes.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(string(e[k+1:]))
	if exp < -4 || exp >= 16 {
		return append(dst, e...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	if bytes.IndexByte(dst[start:], '.') < 0 {
		dst = append(dst, '.', '0')
	}
	return dst
}

var errInvalidUTF8 = errors.New("string is not valid UTF-8")

// checkString validates s as UTF-8 and reports whether it is plain.
func checkString(s []byte) (plain bool, err error) {
	plain = true
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if !plain && !utf8.Valid(s) {
		return false, errInvalidUTF8
	}
	return plain, nil
}
