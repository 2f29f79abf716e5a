package index

import (
	"errors"
	"fmt"
	"strings"
)

// VersionOrder is a parsed conda version string, ordered as conda orders
// versions (conda.models.version.VersionOrder): an optional integer epoch
// before "!", a local version after "+", components split at "." and "_",
// each component a run of numbers and letters compared piece by piece,
// case-insensitively. Numbers compare numerically and are greater than
// letters; "dev" is lower and "post" higher than anything else at its
// place; a missing piece counts as 0, so 1.1 == 1.1.0; a component that
// starts with a letter gets a 0 in front, so 1.1.a1 == 1.1.0a1. A trailing
// "_" (openssl-style 1.0.1_) is kept as a string piece. Dashes count as
// underscores when there is no underscore.
type VersionOrder struct {
	raw     string // lower-cased, as parsed
	version [][]vpart
	local   [][]vpart
}

// vpart is one piece of a component: a number, "post" (greater than any
// number), or a string ("dev" is stored as "DEV", which sorts below the
// lower-case strings and "_", as in conda).
type vpart struct {
	kind int8 // vNum, vStr, vPost
	num  string
	str  string
}

const (
	vStr int8 = iota
	vNum
	vPost
)

var vZero = vpart{kind: vNum, num: "0"}

// ParseVersion parses a conda version string: see [VersionOrder]. It
// refuses what conda refuses (empty strings, characters other than
// letters, digits and ".+!_*", a repeated "!" or "+", empty components).
func ParseVersion(s string) (VersionOrder, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "" {
		return VersionOrder{}, errors.New("empty version string")
	}
	if !validVersionChars(v) && strings.Contains(v, "-") && !strings.Contains(v, "_") {
		v = strings.ReplaceAll(v, "-", "_")
	}
	if !validVersionChars(v) {
		return VersionOrder{}, fmt.Errorf("version %q: invalid character(s)", s)
	}
	vo := VersionOrder{raw: v}
	epoch := "0"
	rest := v
	if parts := strings.Split(v, "!"); len(parts) == 2 {
		if !allDigits(parts[0]) {
			return VersionOrder{}, fmt.Errorf("version %q: epoch must be an integer", s)
		}
		epoch, rest = parts[0], parts[1]
	} else if len(parts) > 2 {
		return VersionOrder{}, fmt.Errorf("version %q: duplicated epoch separator '!'", s)
	}
	var localComps []string
	if parts := strings.Split(rest, "+"); len(parts) == 2 {
		rest = parts[0]
		localComps = strings.Split(strings.ReplaceAll(parts[1], "_", "."), ".")
	} else if len(parts) > 2 {
		return VersionOrder{}, fmt.Errorf("version %q: duplicated local version separator '+'", s)
	}
	if rest == "" {
		return VersionOrder{}, fmt.Errorf("version %q: missing version before local version separator '+'", s)
	}
	var comps []string
	if strings.HasSuffix(rest, "_") {
		comps = strings.Split(strings.ReplaceAll(rest[:len(rest)-1], "_", "."), ".")
		comps[len(comps)-1] += "_"
	} else {
		comps = strings.Split(strings.ReplaceAll(rest, "_", "."), ".")
	}
	comps = append([]string{epoch}, comps...)
	var err error
	if vo.version, err = splitComponents(comps); err != nil {
		return VersionOrder{}, fmt.Errorf("version %q: %w", s, err)
	}
	if vo.local, err = splitComponents(localComps); err != nil {
		return VersionOrder{}, fmt.Errorf("version %q: %w", s, err)
	}
	return vo, nil
}

func validVersionChars(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || strings.IndexByte("*.+!_", c) >= 0) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// splitComponents splits each component into runs of digits, runs of
// '*' and other runs, as conda's regex ([0-9]+|[*]+|[^0-9*]+) does.
func splitComponents(comps []string) ([][]vpart, error) {
	out := make([][]vpart, 0, len(comps))
	for _, c := range comps {
		if c == "" {
			return nil, errors.New("empty version component")
		}
		var parts []vpart
		if c[0] < '0' || c[0] > '9' {
			parts = append(parts, vZero)
		}
		for i := 0; i < len(c); {
			j := i + 1
			class := runClass(c[i])
			for j < len(c) && runClass(c[j]) == class {
				j++
			}
			run := c[i:j]
			switch {
			case class == 0:
				parts = append(parts, vpart{kind: vNum, num: trimZeros(run)})
			case run == "post":
				parts = append(parts, vpart{kind: vPost})
			case run == "dev":
				parts = append(parts, vpart{kind: vStr, str: "DEV"})
			default:
				parts = append(parts, vpart{kind: vStr, str: run})
			}
			i = j
		}
		out = append(out, parts)
	}
	return out, nil
}

func runClass(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c == '*':
		return 1
	}
	return 2
}

func trimZeros(s string) string {
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0"
	}
	return s
}

// String returns the normalised (lower-case) version string.
func (v VersionOrder) String() string { return v.raw }

// comparePart orders two pieces: strings < numbers < post; numbers by
// value, strings bytewise.
func comparePart(a, b vpart) int {
	if a.kind != b.kind {
		if a.kind == vStr {
			return -1
		}
		if b.kind == vStr {
			return 1
		}
		// number against post
		if a.kind == vPost {
			return 1
		}
		return -1
	}
	switch a.kind {
	case vNum:
		if len(a.num) != len(b.num) {
			if len(a.num) < len(b.num) {
				return -1
			}
			return 1
		}
		return strings.Compare(a.num, b.num)
	case vStr:
		return strings.Compare(a.str, b.str)
	}
	return 0
}

func compareLists(t1, t2 [][]vpart) int {
	for i := 0; i < max(len(t1), len(t2)); i++ {
		var c1, c2 []vpart
		if i < len(t1) {
			c1 = t1[i]
		}
		if i < len(t2) {
			c2 = t2[i]
		}
		for j := 0; j < max(len(c1), len(c2)); j++ {
			p1, p2 := vZero, vZero
			if j < len(c1) {
				p1 = c1[j]
			}
			if j < len(c2) {
				p2 = c2[j]
			}
			if c := comparePart(p1, p2); c != 0 {
				return c
			}
		}
	}
	return 0
}

// Compare returns -1, 0 or +1 as v sorts before, equal to or after w.
func (v VersionOrder) Compare(w VersionOrder) int {
	if c := compareLists(v.version, w.version); c != 0 {
		return c
	}
	return compareLists(v.local, w.local)
}

// StartsWith reports whether v matches the prefix w, as conda's
// VersionOrder.startswith does for specs such as 1.2.* : every component
// of w but the last equals v's, and in the last one every piece but the
// last is equal and the last is equal (numbers) or a prefix (strings).
func (v VersionOrder) StartsWith(w VersionOrder) bool {
	t1, t2 := v.version, w.version
	if len(w.local) > 0 {
		if compareLists(v.version, w.version) != 0 {
			return false
		}
		t1, t2 = v.local, w.local
	}
	nt := len(t2) - 1
	if nt < 0 {
		return true
	}
	if compareLists(t1[:min(nt, len(t1))], t2[:nt]) != 0 {
		return false
	}
	var v1 []vpart
	if len(t1) > nt {
		v1 = t1[nt]
	}
	v2 := t2[nt]
	np := len(v2) - 1
	if compareLists([][]vpart{v1[:min(np, len(v1))]}, [][]vpart{v2[:np]}) != 0 {
		return false
	}
	c1 := vZero
	if len(v1) > np {
		c1 = v1[np]
	}
	c2 := v2[np]
	if c2.kind == vStr {
		return c1.kind == vStr && strings.HasPrefix(c1.str, c2.str)
	}
	return comparePart(c1, c2) == 0
}
