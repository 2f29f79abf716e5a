package canonjson

import "bytes"

// appendDirect writes the canonical form of data while scanning it, without
// building a Value. It handles documents whose object keys are already in
// canonical order without duplicates, which is how conda-index and the
// reference tools write repodata, so records of real channels take this
// path. It reports ok=false, and the caller falls back to [Parse], when it
// meets keys out of order, a duplicate key, or any error (so that errors
// are always reported the same way).
func appendDirect(dst, data []byte) (out []byte, ok bool) {
	p := parser{data: data}
	p.skipWS()
	dst, ok = p.emit(dst, 0)
	if !ok {
		return dst, false
	}
	p.skipWS()
	return dst, p.pos == len(data)
}

func (p *parser) emit(dst []byte, level int) ([]byte, bool) {
	if p.pos >= len(p.data) {
		return dst, false
	}
	switch c := p.data[p.pos]; {
	case c == '"':
		text, plain, err := p.str()
		if err != nil {
			return dst, false
		}
		return appendString(dst, text, plain), true
	case c == '{':
		return p.emitObject(dst, level)
	case c == '[':
		return p.emitArray(dst, level)
	case c == '-' || (c >= '0' && c <= '9'):
		var v Value
		if p.number(&v) != nil {
			return dst, false
		}
		return append(dst, v.text...), true
	case c == 't':
		return append(dst, "true"...), p.literal("true") == nil
	case c == 'f':
		return append(dst, "false"...), p.literal("false") == nil
	case c == 'n':
		return append(dst, "null"...), p.literal("null") == nil
	}
	return dst, false
}

func (p *parser) emitObject(dst []byte, level int) ([]byte, bool) {
	if p.enter() != nil {
		return dst, false
	}
	p.pos++
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return append(dst, '{', '}'), true
	}
	dst = append(dst, '{')
	var prev []byte
	for first := true; ; first = false {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return dst, false
		}
		key, plain, err := p.str()
		if err != nil || (!first && bytes.Compare(prev, key) >= 0) {
			return dst, false
		}
		prev = key
		if !first {
			dst = append(dst, ',')
		}
		dst = append(dst, '\n')
		dst = appendIndent(dst, level+1)
		dst = appendString(dst, key, plain)
		dst = append(dst, ':', ' ')
		p.skipWS()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return dst, false
		}
		p.pos++
		p.skipWS()
		var ok bool
		if dst, ok = p.emit(dst, level+1); !ok {
			return dst, false
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
		return dst, false
	}
	return p.closeContainer(dst, level, '}'), true
}

func (p *parser) emitArray(dst []byte, level int) ([]byte, bool) {
	if p.enter() != nil {
		return dst, false
	}
	p.pos++
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return append(dst, '[', ']'), true
	}
	dst = append(dst, '[')
	for first := true; ; first = false {
		if !first {
			dst = append(dst, ',')
		}
		dst = append(dst, '\n')
		dst = appendIndent(dst, level+1)
		var ok bool
		if dst, ok = p.emit(dst, level+1); !ok {
			return dst, false
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
		return dst, false
	}
	return p.closeContainer(dst, level, ']'), true
}

// closeContainer leaves a container: the closing bracket on its own line
// at the container's indentation.
func (p *parser) closeContainer(dst []byte, level int, bracket byte) []byte {
	p.depth--
	dst = append(dst, '\n')
	dst = appendIndent(dst, level)
	return append(dst, bracket)
}
