package canonjson

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects that [Parse]
// accepts. Python's parser fails near the same depth.
const MaxDepth = 1000

// MaxIntegerDigits is the longest integer literal accepted. Python 3.11+
// refuses to convert longer digit strings to int, so such a document cannot
// have been signed by the reference.
const MaxIntegerDigits = 4300

// SyntaxError describes input that is not strict JSON, or JSON that cannot
// be serialized canonically (invalid UTF-8, a lone surrogate escape, a
// non-finite number).
type SyntaxError struct {
	Offset int // byte offset of the problem
	Line   int // 1-based line
	Column int // 1-based column, in bytes
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at line %d, column %d (byte %d): %s", e.Line, e.Column, e.Offset, e.Msg)
}

// Parse parses one JSON document, as Python's json.loads would, into a
// [Value]. It is strict where Python is strict and also where a silent
// change would alter signed bytes: invalid UTF-8, lone surrogate escapes,
// NaN, Infinity and numbers that overflow a float are errors. Duplicate
// object keys keep the last value.
//
// The returned Value may share memory with data.
func Parse(data []byte) (Value, error) { return parse(data, false) }

// ParseUnique is [Parse] for a document that is to be signed or verified:
// a key that occurs twice in one object, at any depth, is an error rather
// than resolved. Python keeps the last value and a signer would sign it,
// while another reader may keep the first; refusing the document is the
// only answer on which every reader agrees.
func ParseUnique(data []byte) (Value, error) { return parse(data, true) }

func parse(data []byte, unique bool) (Value, error) {
	sp := stackPool.Get().(*[]Member)
	p := parser{data: data, build: true, unique: unique, stack: (*sp)[:0]}
	defer func() {
		*sp = p.stack[:0]
		stackPool.Put(sp)
	}()
	p.skipWS()
	var v Value
	if err := p.value(&v); err != nil {
		return Value{}, err
	}
	p.skipWS()
	if p.pos != len(data) {
		return Value{}, p.errorf("unexpected %s after the JSON value", p.describe())
	}
	return v, nil
}

// Valid reports whether data is one JSON document that [Parse] accepts,
// without building it.
func Valid(data []byte) error { return validate(data, false) }

// ValidUnique reports whether data is one JSON document that
// [ParseUnique] accepts, without building it.
func ValidUnique(data []byte) error { return validate(data, true) }

func validate(data []byte, unique bool) error {
	p := parser{data: data, unique: unique}
	p.skipWS()
	var v Value
	if err := p.value(&v); err != nil {
		return err
	}
	p.skipWS()
	if p.pos != len(data) {
		return p.errorf("unexpected %s after the JSON value", p.describe())
	}
	return nil
}

// ForEachMember calls fn for every member of the JSON object in data, in
// document order (duplicates included), with the decoded key and the raw
// bytes of the value. Values are validated but not built, so this is the
// way to walk a large document (a whole repodata.json) and hand the raw
// member values to [Parse] one at a time. The raw slices alias data.
func ForEachMember(data []byte, fn func(key string, raw []byte) error) error {
	p := parser{data: data}
	p.skipWS()
	if p.pos >= len(data) || data[p.pos] != '{' {
		return p.errorf("expected a JSON object, found %s", p.describe())
	}
	p.pos++
	p.skipWS()
	if p.pos < len(data) && data[p.pos] == '}' {
		p.pos++
	} else {
		for {
			if p.pos >= len(data) || data[p.pos] != '"' {
				return p.errorf("expected an object key, found %s", p.describe())
			}
			key, _, err := p.str()
			if err != nil {
				return err
			}
			p.skipWS()
			if p.pos >= len(data) || data[p.pos] != ':' {
				return p.errorf("expected ':' after an object key, found %s", p.describe())
			}
			p.pos++
			p.skipWS()
			start := p.pos
			p.depth = 1
			var v Value
			if err := p.value(&v); err != nil {
				return err
			}
			if err := fn(string(key), data[start:p.pos]); err != nil {
				return err
			}
			p.skipWS()
			if p.pos < len(data) && data[p.pos] == ',' {
				p.pos++
				p.skipWS()
				continue
			}
			if p.pos < len(data) && data[p.pos] == '}' {
				p.pos++
				break
			}
			return p.errorf("expected ',' or '}' in an object, found %s", p.describe())
		}
	}
	p.skipWS()
	if p.pos != len(data) {
		return p.errorf("unexpected %s after the JSON value", p.describe())
	}
	return nil
}

type parser struct {
	data   []byte
	pos    int
	depth  int
	build  bool
	unique bool     // a duplicate object key is an error
	keys   [][]byte // without build, with unique: the keys of the open objects
	stack  []Member
	slab   []Member // containers are carved from here to save allocations
}

// stackPool recycles the scratch stacks parsers build containers on.
var stackPool = sync.Pool{New: func() any { s := make([]Member, 0, 64); return &s }}

// alloc returns a slice of n members carved from the parser's slab.
func (p *parser) alloc(n int) []Member {
	if n > len(p.slab) {
		size := max(n, 2*cap(p.slab), 32)
		if size > 4096 {
			size = max(n, 4096)
		}
		p.slab = make([]Member, size)
	}
	s := p.slab[:n:n]
	p.slab = p.slab[n:]
	return s
}

func (p *parser) errorf(format string, args ...any) error {
	off := min(p.pos, len(p.data))
	line := 1 + bytes.Count(p.data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(p.data[:off], '\n')
	return &SyntaxError{Offset: off, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) describe() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	c := p.data[p.pos]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *parser) skipWS() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\n', '\r', '\t':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(v *Value) error {
	if p.pos >= len(p.data) {
		return p.errorf("unexpected end of input, expected a value")
	}
	switch c := p.data[p.pos]; {
	case c == '"':
		text, plain, err := p.str()
		if err != nil {
			return err
		}
		v.kind, v.text = String, text
		if plain {
			v.flags = flagPlain
		}
		return nil
	case c == '{':
		return p.object(v)
	case c == '[':
		return p.array(v)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(v)
	case c == 't':
		v.kind, v.flags = Bool, flagTrue
		return p.literal("true")
	case c == 'f':
		v.kind = Bool
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == 'N' || c == 'I':
		return p.errorf("NaN and Infinity are not JSON and cannot be signed")
	}
	return p.errorf("unexpected %s, expected a value", p.describe())
}

func (p *parser) literal(word string) error {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return p.errorf("unexpected %s, expected a value", p.describe())
	}
	p.pos += len(word)
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf("nesting deeper than %d levels", MaxDepth)
	}
	return nil
}

func (p *parser) object(out *Value) error {
	if err := p.enter(); err != nil {
		return err
	}
	p.pos++ // '{'
	p.skipWS()
	out.kind = Object
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return nil
	}
	base, kbase := len(p.stack), len(p.keys)
	track := p.unique && !p.build
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.errorf("expected an object key in double quotes, found %s", p.describe())
		}
		key, plainKey, err := p.str()
		if err != nil {
			return err
		}
		if track {
			p.keys = append(p.keys, key)
		}
		p.skipWS()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return p.errorf("expected ':' after an object key, found %s", p.describe())
		}
		p.pos++
		p.skipWS()
		if err := p.member(key, plainKey); err != nil {
			return err
		}
		p.skipWS()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			p.skipWS()
			continue
		}
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			break
		}
		return p.errorf("expected ',' or '}' in an object, found %s", p.describe())
	}
	p.depth--
	if track {
		dup := firstDuplicate(p.keys[kbase:])
		clear(p.keys[kbase:])
		p.keys = p.keys[:kbase]
		if dup != nil {
			return p.errorf("duplicate object key %q in the object that ends here: a document that is signed or verified must name each key once", abbreviate(dup))
		}
	}
	if !p.build {
		return nil
	}
	kids, dup := p.sortMembers(p.stack[base:])
	if dup != nil && p.unique {
		return p.errorf("duplicate object key %q in the object that ends here: a document that is signed or verified must name each key once", abbreviate(dup))
	}
	out.kids = kids
	clear(p.stack[base:])
	p.stack = p.stack[:base]
	return nil
}

// firstDuplicate returns a key that occurs twice in keys, or nil.
func firstDuplicate(keys [][]byte) []byte {
	if len(keys) <= 16 {
		for i := 1; i < len(keys); i++ {
			for _, k := range keys[:i] {
				if bytes.Equal(k, keys[i]) {
					return k
				}
			}
		}
		return nil
	}
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, bytes.Compare)
	for i := 1; i < len(sorted); i++ {
		if bytes.Equal(sorted[i-1], sorted[i]) {
			return sorted[i]
		}
	}
	return nil
}

func abbreviate(b []byte) string {
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

// member parses a value and pushes it on the stack with key. Scalars are
// parsed in place; containers grow the stack while they are parsed, so
// they are parsed into a local first.
func (p *parser) member(key []byte, plainKey bool) error {
	if !p.build {
		var v Value
		return p.value(&v)
	}
	var flags uint8
	if plainKey {
		flags = flagKeyPlain
	}
	if p.pos >= len(p.data) {
		return p.errorf("unexpected end of input, expected a value")
	}
	if c := p.data[p.pos]; c == '{' || c == '[' {
		var v Value
		if err := p.value(&v); err != nil {
			return err
		}
		v.flags |= flags
		p.stack = append(p.stack, Member{Key: key, Value: v})
		return nil
	}
	p.stack = append(p.stack, Member{Key: key})
	m := &p.stack[len(p.stack)-1]
	if err := p.value(&m.Value); err != nil {
		return err
	}
	m.Value.flags |= flags
	return nil
}

// sortMembers returns a new slice of the members sorted by key (code point
// order equals byte order of valid UTF-8), keeping the last of equal keys,
// and the first duplicate key it dropped (nil if none).
func (p *parser) sortMembers(ms []Member) ([]Member, []byte) {
	sorted := true
	for i := 1; i < len(ms); i++ {
		if bytes.Compare(ms[i-1].Key, ms[i].Key) >= 0 {
			sorted = false
			break
		}
	}
	out := p.alloc(len(ms))
	copy(out, ms)
	if sorted {
		return out, nil
	}
	var dup []byte
	slices.SortStableFunc(out, func(a, b Member) int { return bytes.Compare(a.Key, b.Key) })
	w := 0
	for i := range out {
		if i+1 < len(out) && bytes.Equal(out[i].Key, out[i+1].Key) {
			if dup == nil {
				dup = out[i].Key
			}
			continue // a later duplicate wins
		}
		out[w] = out[i]
		w++
	}
	clear(out[w:])
	return out[:w:w], dup
}

func (p *parser) array(out *Value) error {
	if err := p.enter(); err != nil {
		return err
	}
	p.pos++ // '['
	p.skipWS()
	out.kind = Array
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return nil
	}
	base := len(p.stack)
	for {
		if p.pos >= len(p.data) {
			return p.errorf("unexpected end of input, expected a value")
		}
		if err := p.member(nil, false); err != nil {
			return err
		}
		p.skipWS()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			p.skipWS()
			continue
		}
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			break
		}
		return p.errorf("expected ',' or ']' in an array, found %s", p.describe())
	}
	p.depth--
	if !p.build {
		return nil
	}
	kids := p.alloc(len(p.stack) - base)
	copy(kids, p.stack[base:])
	clear(p.stack[base:])
	p.stack = p.stack[:base]
	out.kids = kids
	return nil
}

// str parses a string starting at the opening quote and returns its decoded
// UTF-8 bytes and whether they are plain (printable ASCII without '"' and
// '\\'), in which case they alias the input.
func (p *parser) str() ([]byte, bool, error) {
	data := p.data
	start := p.pos + 1
	i := start
	for i < len(data) {
		c := data[i]
		if c == '"' {
			p.pos = i + 1
			return data[start:i], true, nil
		}
		if c == '\\' || c < 0x20 || c >= 0x7f {
			break
		}
		i++
	}
	buf := make([]byte, i-start, i-start+16)
	copy(buf, data[start:i])
	plain := true
	for {
		if i >= len(data) {
			p.pos = i
			return nil, false, p.errorf("unterminated string")
		}
		c := data[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return buf, plain, nil
		case c == '\\':
			p.pos = i
			r, n, err := p.escape()
			if err != nil {
				return nil, false, err
			}
			i += n
			if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' {
				plain = false
			}
			buf = utf8.AppendRune(buf, r)
		case c < 0x20:
			p.pos = i
			return nil, false, p.errorf("control character 0x%02x in a string must be escaped", c)
		case c < 0x80:
			if c == 0x7f {
				plain = false
			}
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				p.pos = i
				return nil, false, p.errorf("invalid UTF-8 in a string")
			}
			plain = false
			buf = append(buf, data[i:i+size]...)
			i += size
		}
	}
}

// escape decodes the escape sequence at p.pos and returns the rune and the
// number of input bytes it used.
func (p *parser) escape() (rune, int, error) {
	data := p.data[p.pos:]
	if len(data) < 2 {
		return 0, 0, p.errorf("unterminated escape sequence")
	}
	switch data[1] {
	case '"':
		return '"', 2, nil
	case '\\':
		return '\\', 2, nil
	case '/':
		return '/', 2, nil
	case 'b':
		return '\b', 2, nil
	case 'f':
		return '\f', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case 't':
		return '\t', 2, nil
	case 'u':
		r, ok := hex4(data[2:])
		if !ok {
			return 0, 0, p.errorf(`invalid \u escape: want four hex digits`)
		}
		if r >= 0xdc00 && r <= 0xdfff {
			return 0, 0, p.errorf(`lone low surrogate \u%04x cannot be signed`, r)
		}
		if r < 0xd800 || r > 0xdbff {
			return r, 6, nil
		}
		if len(data) >= 12 && data[6] == '\\' && data[7] == 'u' {
			if lo, ok := hex4(data[8:]); ok && lo >= 0xdc00 && lo <= 0xdfff {
				return 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00), 12, nil
			}
		}
		return 0, 0, p.errorf(`lone high surrogate \u%04x cannot be signed`, r)
	}
	return 0, 0, p.errorf("invalid escape sequence \\%c", rune(data[1]))
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

var zero = []byte("0")

func (p *parser) number(v *Value) error {
	data := p.data
	start := p.pos
	i := start
	if data[i] == '-' {
		i++
	}
	digits := i
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		if i < len(data) && data[i] == 'I' {
			return p.errorf("NaN and Infinity are not JSON and cannot be signed")
		}
		return p.errorf("invalid number: expected a digit")
	}
	intEnd := i
	isFloat := false
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			p.pos = i
			return p.errorf("invalid number: expected a digit after '.'")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		isFloat = true
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			p.pos = i
			return p.errorf("invalid number: expected a digit in the exponent")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		isFloat = true
	}
	lit := data[start:i]
	if !isFloat {
		if intEnd-digits > MaxIntegerDigits {
			return p.errorf("integer with more than %d digits", MaxIntegerDigits)
		}
		p.pos = i
		if len(lit) == 2 && lit[0] == '-' && lit[1] == '0' {
			lit = zero
		}
		v.kind, v.text = Number, lit
		return nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !math.IsInf(f, 0) {
		return p.errorf("invalid number %s", lit)
	}
	if math.IsInf(f, 0) {
		return p.errorf("number %s overflows a double (Python would read Infinity) and cannot be signed", lit)
	}
	p.pos = i
	v.kind, v.flags, v.text = Number, flagFloat, appendPyFloat(nil, f)
	return nil
}
