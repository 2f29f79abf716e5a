package repodata

import (
	"bytes"
	"encoding/hex"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/trust"
)

// The output is built from canonical bytes by byte transformations that
// rely on one property of canonical JSON: outside strings its only
// whitespace is the line breaks and indentation of the layout and the
// space after ':', and inside strings there is never a raw line break
// (canonical strings escape every control character). So what is signed
// is exactly what is written, never a second rendering of the same value.

const indent = "                                                                "

// appendNested appends canon, the canonical form of a value (as
// canonjson.Marshal writes it, level 0), re-indented as if nested level
// levels deep: every line break is followed by 2*level more spaces.
func appendNested(dst, canon []byte, level int) []byte {
	pad := indent[:2*level]
	for {
		i := bytes.IndexByte(canon, '\n')
		if i < 0 {
			return append(dst, canon...)
		}
		dst = append(dst, canon[:i+1]...)
		dst = append(dst, pad...)
		canon = canon[i+1:]
	}
}

// appendCompact appends b without the JSON whitespace outside strings.
// Applied to canonical bytes it gives the compact form conda-index writes
// (json.dumps with sort_keys=True and separators (",", ":")).
func appendCompact(dst, b []byte) []byte {
	in := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if in {
			j := i
			for j < len(b) && b[j] != '"' && b[j] != '\\' {
				j++
			}
			dst = append(dst, b[i:j]...)
			if j == len(b) {
				return dst
			}
			c = b[j]
			dst = append(dst, c)
			if c == '\\' && j+1 < len(b) {
				dst = append(dst, b[j+1])
				j++
			} else if c == '"' {
				in = false
			}
			i = j
			continue
		}
		switch c {
		case ' ', '\n', '\r', '\t':
		case '"':
			in = true
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendIndented appends compact JSON (no whitespace outside strings, as
// [appendCompact] leaves it) in the indented layout at nesting level
// level: the inverse of appendCompact for canonical bytes.
func appendIndented(dst, compact []byte, level int) []byte {
	depth := level
	for i := 0; i < len(compact); i++ {
		c := compact[i]
		switch c {
		case '"':
			end := stringEnd(compact, i)
			if end < 0 {
				return append(dst, compact[i:]...)
			}
			dst = append(dst, compact[i:end]...)
			i = end - 1
		case '{', '[':
			if i+1 < len(compact) && (compact[i+1] == '}' || compact[i+1] == ']') {
				dst = append(dst, c, compact[i+1])
				i++
				continue
			}
			depth++
			dst = append(dst, c, '\n')
			dst = appendSpaces(dst, depth)
		case '}', ']':
			depth--
			dst = append(dst, '\n')
			dst = appendSpaces(dst, depth)
			dst = append(dst, c)
		case ',':
			dst = append(dst, ',', '\n')
			dst = appendSpaces(dst, depth)
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendSpaces(dst []byte, level int) []byte {
	n := 2 * level
	for n > len(indent) {
		dst = append(dst, indent...)
		n -= len(indent)
	}
	return append(dst, indent[:n]...)
}

// sameIgnoringSpace reports whether a and b are equal once the JSON
// whitespace outside strings is removed from both. For valid JSON this
// means they hold the same value with the same key order, so they have
// the same canonical form.
func sameIgnoringSpace(a, b []byte) bool {
	i, j := 0, 0
	for {
		for i < len(a) && isSpace(a[i]) {
			i++
		}
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		c := a[i]
		if c != b[j] {
			return false
		}
		if c != '"' {
			i++
			j++
			continue
		}
		// A string: the same bytes in b end it at the same place.
		end := stringEnd(a, i)
		if end < 0 {
			return false
		}
		n := end - i
		if len(b)-j < n || !bytes.Equal(a[i:end], b[j:j+n]) {
			return false
		}
		i, j = end, j+n
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// appendSigEntry appends the value of signatures[filename] for the given
// keys (sorted) and 64-byte signatures, indented at level 2 or compact.
func appendSigEntry(dst []byte, keys []trust.PublicKey, sigs []byte, compact bool) []byte {
	var hexBuf [128]byte
	dst = append(dst, '{')
	for k, key := range keys {
		if k > 0 {
			dst = append(dst, ',')
		}
		if !compact {
			dst = append(dst, "\n      "...)
		}
		dst = append(dst, '"')
		dst = append(dst, key.String()...)
		hex.Encode(hexBuf[:], sigs[k*64:(k+1)*64])
		if compact {
			dst = append(dst, `":{"signature":"`...)
			dst = append(dst, hexBuf[:]...)
			dst = append(dst, `"}`...)
		} else {
			dst = append(dst, "\": {\n        \"signature\": \""...)
			dst = append(dst, hexBuf[:]...)
			dst = append(dst, "\"\n      }"...)
		}
	}
	if !compact {
		dst = append(dst, "\n    "...)
	}
	return append(dst, '}')
}

// appendMemberKey appends a member's key and separator: at level 1 or 2 of
// the indented layout (with the line break and indentation before it), or
// compact.
func appendMemberKey(dst []byte, key string, level int, first, compact bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	if !compact {
		dst = append(dst, '\n')
		dst = appendSpaces(dst, level)
	}
	dst = canonjson.AppendString(dst, key)
	if compact {
		return append(dst, ':')
	}
	return append(dst, ':', ' ')
}

// appendTopMember appends the value of a top-level member other than the
// records and signatures (info, removed, ...) in canonical form, indented
// at level 1 or compact. It is parsed from the file again; a file changed
// underneath gives an error, never other JSON.
func (f *File) appendTopMember(dst []byte, m *member, compact bool) ([]byte, error) {
	v, err := canonjson.ParseUnique(m.raw)
	if err != nil {
		return dst, relocate(f.data, m.off, err)
	}
	if !compact {
		return canonjson.AppendIndent(dst, v, 1), nil
	}
	return appendCompact(dst, canonjson.Marshal(v)), nil
}
