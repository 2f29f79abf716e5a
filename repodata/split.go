package repodata

import (
	"bytes"

	"github.com/condatrust/condatrust/internal/workpool"
)

// Splitting a large repodata.json on several cores. The members of the
// record sections and of "signatures" (the bulk of the file) are found by
// workers that each start in the middle of the file at a guessed member
// boundary, an "anchor": a '"' preceded by '}' and ',' (with optional
// whitespace), which is how one record follows another in every common
// layout. From its anchor a worker reads members exactly as the
// sequential scanner would (key, ':', value, ',') until it passes the end
// of its chunk.
//
// The sequential scanner then walks the document as always, but when it
// reaches the start of a member at exactly the position of a chunk's
// anchor, it takes that chunk's members and continues from where the
// chunk stopped. Reading from the same position in the same state gives
// the same result, so this is exact; a guess that was wrong (an anchor
// inside a string or a nested object) is never reached at a member start
// and only costs the sequential scan of that chunk.

// Files smaller than parallelThreshold are split sequentially; chunks are
// at least minChunk bytes. Variables so that tests can make them small.
var (
	parallelThreshold = 8 << 20
	minChunk          = 1 << 20
)

// rawMember is one member of an object: the decoded key, and the offset
// and raw bytes of its value.
type rawMember struct {
	key string
	off int
	raw []byte
}

// chunk is what one worker read from its anchor.
type chunk struct {
	anchor  int // offset of the opening quote of the first key
	members []rawMember
	end     int // offset just past the last member's value
}

// speculate reads the chunks of data on workers goroutines and returns
// those that succeeded, in file order. With drop set (data is a private
// file mapping), each chunk's pages are released once read.
func speculate(data []byte, workers int, drop bool) []chunk {
	if workers < 2 || len(data) < parallelThreshold {
		return nil
	}
	size := max(len(data)/(8*workers), minChunk)
	n := (len(data) + size - 1) / size
	chunks := make([]chunk, n)
	ok := make([]bool, n)
	// Chunk 0 starts the file: the sequential scan reads it.
	workpool.Run(workers, n-1, 1, func(_, i, _ int) error {
		k := i + 1
		start, limit := k*size, min((k+1)*size, len(data))
		if anchor := findAnchor(data, start, limit); anchor >= 0 {
			chunks[k], ok[k] = readFrom(data, anchor, limit)
		}
		if drop {
			const page = 1 << 16
			dropPages(data[start&^(page-1) : limit&^(page-1)])
		}
		return nil
	})
	out := chunks[:0]
	for k := range chunks {
		if ok[k] {
			out = append(out, chunks[k])
		}
	}
	return out
}

// findAnchor returns the offset of the first '"' in data[from:limit] that
// follows '}' and ',' with only whitespace around them, or -1.
func findAnchor(data []byte, from, limit int) int {
	for from < limit {
		i := bytes.IndexByte(data[from:limit], ',')
		if i < 0 {
			return -1
		}
		c := from + i
		from = c + 1
		p := c - 1
		for p >= 0 && isSpace(data[p]) {
			p--
		}
		if p < 0 || data[p] != '}' {
			continue
		}
		q := c + 1
		for q < len(data) && isSpace(data[q]) {
			q++
		}
		if q < len(data) && data[q] == '"' {
			return q
		}
	}
	return -1
}

// readFrom reads members from the key at anchor, as scanner.valueMembers
// does, until the ',' after a member lies at or past limit, or the object
// ends. It reports false on any error: the guess was wrong, or the input
// is; the sequential scan will tell.
func readFrom(data []byte, anchor, limit int) (chunk, bool) {
	s := &scanner{data: data, pos: anchor}
	c := chunk{anchor: anchor}
	for {
		m, err := s.valueMember()
		if err != nil {
			return chunk{}, false
		}
		c.members = append(c.members, m)
		c.end = s.pos
		s.skipWS()
		if s.pos >= len(data) || data[s.pos] != ',' || s.pos >= limit {
			return c, true
		}
		s.pos++
		s.skipWS()
	}
}

// valueMember reads one member (key, ':', value) at s.pos.
func (s *scanner) valueMember() (rawMember, error) {
	k, err := s.key()
	if err != nil {
		return rawMember{}, err
	}
	s.skipWS()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return rawMember{}, s.errorf("expected ':' after an object key, found %s", s.describe())
	}
	s.pos++
	s.skipWS()
	off := s.pos
	raw, err := s.skipValue()
	if err != nil {
		return rawMember{}, err
	}
	return rawMember{key: k, off: off, raw: raw}, nil
}

// valueMembers reads the object at s.pos and calls emit with its members
// in document order, taking the members of any chunk whose anchor it
// reaches at a member start. *ci indexes the first chunk not yet passed.
func (s *scanner) valueMembers(chunks []chunk, ci *int, emit func(rawMember)) error {
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
		for *ci < len(chunks) && chunks[*ci].anchor < s.pos {
			*ci++
		}
		if *ci < len(chunks) && chunks[*ci].anchor == s.pos {
			c := &chunks[*ci]
			for _, m := range c.members {
				emit(m)
			}
			c.members = nil
			s.pos = c.end
			*ci++
		} else {
			m, err := s.valueMember()
			if err != nil {
				return err
			}
			emit(m)
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
