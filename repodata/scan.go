package repodata

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/condatrust/condatrust/canonjson"
)

// scanner splits a JSON document into object members without building
// values. It checks the structure between members strictly (keys, ':' and
// ',') and finds the end of every value by matching brackets outside
// strings, but it does not validate what is inside a value: every value it
// hands out is later parsed in full by canonjson (in parallel, one record
// at a time), which is strict. A document is accepted only if the
// structure is valid and every value parses, which is exactly when the
// whole document is valid JSON: for a valid JSON value, the end found by
// bracket matching is the end a full parser finds.
type scanner struct {
	data []byte
	pos  int
}

// syntaxError returns a canonjson.SyntaxError for offset off of data, so
// that errors look alike whichever layer found them.
func syntaxError(data []byte, off int, format string, args ...any) error {
	off = min(max(off, 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return &canonjson.SyntaxError{Offset: off, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// relocate turns an error canonjson reported for the value at offset base
// of data into one with the offset, line and column in data.
func relocate(data []byte, base int, err error) error {
	if se, ok := err.(*canonjson.SyntaxError); ok {
		return syntaxError(data, base+se.Offset, "%s", se.Msg)
	}
	return err
}

func (s *scanner) errorf(format string, args ...any) error {
	return syntaxError(s.data, s.pos, format, args...)
}

func (s *scanner) describe() string {
	if s.pos >= len(s.data) {
		return "end of input"
	}
	c := s.data[s.pos]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (s *scanner) skipWS() {
	d := s.data
	i := s.pos
	for i < len(d) && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t') {
		i++
	}
	s.pos = i
}

// stringEnd returns the offset just past the string that starts with the
// quote at data[i], or -1 if it is not terminated.
func stringEnd(data []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		// The quote is escaped if an odd number of backslashes precede it.
		k := j - 1
		for k >= i && data[k] == '\\' {
			k--
		}
		if (j-1-k)%2 == 0 {
			return j + 1
		}
		i = j + 1
	}
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// zeroBytes has the high bit set in (at least) the lowest byte of x that
// is zero, and is zero if no byte of x is.
func zeroBytes(x uint64) uint64 { return (x - ones) & ^x & highs }

// nextStructural returns the index of the first byte at or after i that
// is '"', '{', '}', '[' or ']', or len(d). It looks at eight bytes at a
// time, since the runs between those bytes (whitespace, numbers, ':' and
// ',') are most of a record's bytes outside strings.
func nextStructural(d []byte, i int) int {
	for ; i+8 <= len(d); i += 8 {
		v := binary.LittleEndian.Uint64(d[i:])
		w := v | 0x2020202020202020 // '[' -> '{', ']' -> '}'
		m := zeroBytes(v^(ones*'"')) | zeroBytes(w^(ones*'{')) | zeroBytes(w^(ones*'}'))
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(d); i++ {
		switch d[i] {
		case '"', '{', '}', '[', ']':
			return i
		}
	}
	return i
}

// skipValue moves past the value at s.pos and returns its raw bytes.
func (s *scanner) skipValue() ([]byte, error) {
	d := s.data
	start := s.pos
	if start >= len(d) {
		return nil, s.errorf("unexpected end of input, expected a value")
	}
	switch d[start] {
	case '"':
		end := stringEnd(d, start)
		if end < 0 {
			return nil, s.errorf("unterminated string")
		}
		s.pos = end
	case '{', '[':
		end := containerEnd(d, start)
		if end < 0 {
			s.pos = len(d)
			return nil, s.errorf("unexpected end of input inside %s", map[byte]string{'{': "an object", '[': "an array"}[d[start]])
		}
		s.pos = end
	case ',', ':', '}', ']':
		return nil, s.errorf("unexpected %s, expected a value", s.describe())
	default: // a number or literal; canonjson checks it
		i := start
		for i < len(d) {
			c := d[i]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t' {
				break
			}
			i++
		}
		s.pos = i
	}
	return d[start:s.pos], nil
}

// key reads an object key at s.pos and returns it decoded.
func (s *scanner) key() (string, error) {
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return "", s.errorf("expected an object key in double quotes, found %s", s.describe())
	}
	start := s.pos
	end := stringEnd(s.data, start)
	if end < 0 {
		return "", s.errorf("unterminated string")
	}
	s.pos = end
	return decodeKey(s.data, start, end)
}

// decodeKey decodes the JSON string data[start:end] (quotes included).
// Plain printable ASCII is taken as is; anything else goes through
// canonjson, which rejects bad escapes, lone surrogates and invalid UTF-8.
func decodeKey(data []byte, start, end int) (string, error) {
	raw := data[start+1 : end-1]
	plain := true
	for _, c := range raw {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(raw), nil
	}
	v, err := canonjson.Parse(data[start:end])
	if err != nil {
		return "", relocate(data, start, err)
	}
	return v.Str(), nil
}

// members walks the object at s.pos and calls fn for each member, in
// document order (duplicates included), with the decoded key and the
// scanner positioned on the member's value, which fn must consume (with
// skipValue or members).
func (s *scanner) members(fn func(key string) error) error {
	s.skipWS()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return s.errorf("expected a JSON object, found %s", s.describe())
	}
	s.pos++
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		k, err := s.key()
		if err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.errorf("expected ':' after an object key, found %s", s.describe())
		}
		s.pos++
		s.skipWS()
		if err := fn(k); err != nil {
			return err
		}
		s.skipWS()
		if s.pos < len(s.data) && s.data[s.pos] == ',' {
			s.pos++
			s.skipWS()
			continue
		}
		if s.pos < len(s.data) && s.data[s.pos] == '}' {
			s.pos++
			return nil
		}
		return s.errorf("expected ',' or '}' in an object, found %s", s.describe())
	}
}
