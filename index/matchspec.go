package index

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// versionSpec is a parsed conda version constraint (conda's VersionSpec):
// "1.2.*", ">=1.0,<2|3.*", "^1\.[0-9]+$", "1.0" (equality by
// [VersionOrder]), "*".
type versionSpec struct {
	op   string // "any", "all", "regex", "true", "exact", or an operator
	subs []versionSpec
	re   *regexp.Regexp
	vo   VersionOrder
	str  string
}

// parseVersionSpec parses a version constraint as conda does.
func parseVersionSpec(s string) (versionSpec, error) {
	if strings.ContainsAny(s, "()|,^$") {
		p := &vsParser{s: s}
		vs, err := p.or()
		if err != nil {
			return versionSpec{}, err
		}
		if p.i < len(p.s) {
			return versionSpec{}, fmt.Errorf("version spec %q: unexpected %q", s, p.s[p.i:])
		}
		return vs, nil
	}
	return parseVersionLeaf(s)
}

// vsParser parses the "|" (lower precedence) and "," expressions of a
// version spec, with parentheses; a regex (^...$) is one term.
type vsParser struct {
	s string
	i int
}

func (p *vsParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *vsParser) or() (versionSpec, error) {
	return p.list('|', "any", p.and)
}

func (p *vsParser) and() (versionSpec, error) {
	return p.list(',', "all", p.term)
}

func (p *vsParser) list(sep byte, op string, next func() (versionSpec, error)) (versionSpec, error) {
	first, err := next()
	if err != nil {
		return versionSpec{}, err
	}
	subs := []versionSpec{first}
	for {
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != sep {
			break
		}
		p.i++
		n, err := next()
		if err != nil {
			return versionSpec{}, err
		}
		subs = append(subs, n)
	}
	if len(subs) == 1 {
		return first, nil
	}
	return versionSpec{op: op, subs: subs}, nil
}

func (p *vsParser) term() (versionSpec, error) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return versionSpec{}, fmt.Errorf("version spec %q: missing term", p.s)
	}
	switch p.s[p.i] {
	case '(':
		p.i++
		vs, err := p.or()
		if err != nil {
			return versionSpec{}, err
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return versionSpec{}, fmt.Errorf("version spec %q: unbalanced parentheses", p.s)
		}
		p.i++
		return vs, nil
	case '^':
		end := strings.IndexByte(p.s[p.i:], '$')
		if end < 0 {
			return versionSpec{}, fmt.Errorf("version spec %q: regex without '$'", p.s)
		}
		t := p.s[p.i : p.i+end+1]
		p.i += end + 1
		return parseVersionLeaf(t)
	}
	j := p.i
	for j < len(p.s) && strings.IndexByte("()|,", p.s[j]) < 0 {
		j++
	}
	t := strings.TrimSpace(p.s[p.i:j])
	p.i = j
	if t == "" {
		return versionSpec{}, fmt.Errorf("version spec %q: empty term", p.s)
	}
	return parseVersionLeaf(t)
}

var versionRelation = regexp.MustCompile(`^(==|!=|<=|>=|~=|<|>|=)(\S+)$`)

func parseVersionLeaf(s string) (versionSpec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return versionSpec{}, errors.New("empty version spec")
	}
	switch {
	case s[0] == '^' || s[len(s)-1] == '$':
		if s[0] != '^' || s[len(s)-1] != '$' {
			return versionSpec{}, fmt.Errorf("version spec %q: a regex starts with '^' and ends with '$'", s)
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return versionSpec{}, fmt.Errorf("version spec %q: %v", s, err)
		}
		return versionSpec{op: "regex", re: re}, nil
	case strings.IndexByte("=<>!~", s[0]) >= 0:
		m := versionRelation.FindStringSubmatch(s)
		if m == nil || strings.IndexByte("=<>!~", m[2][0]) >= 0 {
			return versionSpec{}, fmt.Errorf("version spec %q: invalid operator", s)
		}
		op, vs := m[1], m[2]
		if strings.HasSuffix(vs, ".*") {
			switch op {
			case "=", ">=":
				vs = vs[:len(vs)-2]
			case "!=":
				vs, op = vs[:len(vs)-2], "!=startswith"
			case "~=":
				return versionSpec{}, fmt.Errorf("version spec %q: invalid operator with '.*'", s)
			default:
				vs = vs[:len(vs)-2]
			}
		}
		vo, err := ParseVersion(vs)
		if err != nil {
			return versionSpec{}, err
		}
		return versionSpec{op: op, vo: vo}, nil
	case s == "*":
		return versionSpec{op: "true"}, nil
	case strings.Contains(strings.TrimRight(s, "*"), "*"):
		rx := strings.NewReplacer(".", `\.`, "+", `\+`, "*", ".*").Replace(s)
		re, err := regexp.Compile("^(?:" + rx + ")$")
		if err != nil {
			return versionSpec{}, fmt.Errorf("version spec %q: %v", s, err)
		}
		return versionSpec{op: "regex", re: re}, nil
	case s[len(s)-1] == '*':
		vo, err := ParseVersion(strings.TrimRight(strings.TrimRight(s, "*"), "."))
		if err != nil {
			return versionSpec{}, err
		}
		return versionSpec{op: "=", vo: vo}, nil
	case !strings.Contains(s, "@"):
		vo, err := ParseVersion(s)
		if err != nil {
			return versionSpec{}, err
		}
		return versionSpec{op: "==", vo: vo}, nil
	}
	return versionSpec{op: "exact", str: s}, nil
}

// match reports whether the version string matches. A version that
// cannot be parsed matches only regex and "*" specs.
func (vs versionSpec) match(version string) bool {
	v, err := ParseVersion(version)
	return vs.matchParsed(version, v, err == nil)
}

// matchParsed is match with the version already parsed (ok: without
// error).
func (vs versionSpec) matchParsed(version string, v VersionOrder, ok bool) bool {
	switch vs.op {
	case "any":
		for _, s := range vs.subs {
			if s.matchParsed(version, v, ok) {
				return true
			}
		}
		return false
	case "all":
		for _, s := range vs.subs {
			if !s.matchParsed(version, v, ok) {
				return false
			}
		}
		return true
	case "true":
		return true
	case "regex":
		return vs.re.MatchString(version)
	case "exact":
		return version == vs.str
	}
	if !ok {
		return false
	}
	c := v.Compare(vs.vo)
	switch vs.op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<=":
		return c <= 0
	case ">=":
		return c >= 0
	case "<":
		return c < 0
	case ">":
		return c > 0
	case "=":
		return v.StartsWith(vs.vo)
	case "!=startswith":
		return !v.StartsWith(vs.vo)
	case "~=":
		prefix := vs.vo.raw
		if i := strings.LastIndexByte(prefix, '.'); i >= 0 {
			prefix = prefix[:i]
		} else {
			return false
		}
		pv, err := ParseVersion(prefix)
		return err == nil && c >= 0 && v.StartsWith(pv)
	}
	return false
}

// matchSpec is the part of a conda MatchSpec that selects records of one
// channel and subdir by their fields: name, version, build, build number
// and other exact fields given in brackets. A spec for another channel
// matches nothing here.
type matchSpec struct {
	name        string
	version     *versionSpec
	build       *strMatch
	buildNumber *buildNumberSpec
	subdir      string
	channel     bool // names a channel: never this one
	exact       map[string]string
}

// strMatch is conda's GlobStrMatch: a regex (^...$), a glob with "*", or
// an exact string.
type strMatch struct {
	re    *regexp.Regexp
	exact string
}

func newStrMatch(s string) (*strMatch, error) {
	switch {
	case strings.HasPrefix(s, "^") && strings.HasSuffix(s, "$"):
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, err
		}
		return &strMatch{re: re}, nil
	case strings.Contains(s, "*"):
		rx := strings.ReplaceAll(regexp.QuoteMeta(s), `\*`, ".*")
		return &strMatch{re: regexp.MustCompile("^(?:" + rx + ")$")}, nil
	}
	return &strMatch{exact: s}, nil
}

func (m *strMatch) match(s string) bool {
	if m.re != nil {
		return m.re.MatchString(s)
	}
	return s == m.exact
}

// buildNumberSpec is conda's BuildNumberMatch.
type buildNumberSpec struct {
	any   bool
	exact string
	op    string
	vo    VersionOrder
	re    *regexp.Regexp
}

func parseBuildNumberSpec(s string) (*buildNumberSpec, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return &buildNumberSpec{exact: strconv.FormatInt(n, 10)}, nil
	}
	switch {
	case s == "*":
		return &buildNumberSpec{any: true}, nil
	case s != "" && strings.IndexByte("=<>!", s[0]) >= 0:
		m := versionRelation.FindStringSubmatch(s)
		if m == nil || m[1] == "~=" {
			return nil, fmt.Errorf("build number spec %q: invalid operator", s)
		}
		vo, err := ParseVersion(m[2])
		if err != nil {
			return nil, err
		}
		return &buildNumberSpec{op: m[1], vo: vo}, nil
	case strings.HasPrefix(s, "^") && strings.HasSuffix(s, "$"):
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, err
		}
		return &buildNumberSpec{re: re}, nil
	}
	return &buildNumberSpec{exact: s}, nil
}

func (b *buildNumberSpec) match(n string) bool {
	switch {
	case b.any:
		return true
	case b.re != nil:
		return b.re.MatchString(n)
	case b.op != "":
		vs := versionSpec{op: b.op, vo: b.vo}
		return vs.match(n)
	}
	return n == b.exact
}

var bracketKV = regexp.MustCompile(`([a-zA-Z0-9_-]+?)=(["']?)([^'"]*?)(["']?)(?:[, ]|$)`)

// parseMatchSpec parses a dependency string as conda's MatchSpec does,
// for the forms found in "depends": "name", "name 1.2.*", "name >=1,<2
// build*", "name=1.2=build", "name[version='>=1', build=py*]",
// "channel::name ...", with "#" comments and " if " conditions dropped.
func parseMatchSpec(spec string) (*matchSpec, error) {
	s := spec
	if strings.HasSuffix(s, "@") {
		return nil, fmt.Errorf("%q: a feature spec names no package", spec)
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	s, _, _ = strings.Cut(s, " if ")
	ms := &matchSpec{}
	brackets := map[string]string{}
	if i, j := strings.IndexByte(s, '['), strings.LastIndexByte(s, ']'); i >= 0 && j > i {
		inner := s[i+1 : j]
		s = s[:i] + s[j+1:]
		for _, m := range bracketKV.FindAllStringSubmatch(inner, -1) {
			if m[1] == "" || m[3] == "" {
				return nil, fmt.Errorf("%q: key-value mismatch in brackets", spec)
			}
			brackets[m[1]] = m[3]
		}
	}
	if i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')'); i >= 0 && j > i {
		s = s[:i] + s[j+1:]
	}
	if parts := strings.Split(s, ":"); len(parts) >= 2 {
		channel := ""
		if len(parts) >= 3 {
			channel = strings.Join(parts[:len(parts)-2], ":")
		}
		s = parts[len(parts)-1]
		if channel != "" && channel != "*" {
			ms.channel = true
		}
	}
	if c, ok := brackets["channel"]; ok {
		delete(brackets, "channel")
		if c != "*" {
			ms.channel = true
		}
	}
	if sd, ok := brackets["subdir"]; ok {
		ms.subdir = sd
		delete(brackets, "subdir")
	}
	s = strings.TrimLeft(s, " ")
	nameEnd := strings.IndexAny(s, " =<>!~")
	if nameEnd < 0 {
		nameEnd = len(s)
	}
	if nameEnd == 0 {
		return nil, fmt.Errorf("%q: no package name", spec)
	}
	ms.name = strings.ToLower(s[:nameEnd])
	rest := strings.TrimSpace(s[nameEnd:])
	var version, build string
	hasBuild := false
	if rest != "" {
		version, build, hasBuild = splitVersionBuild(rest)
		version = sanitizeVersion(version, hasBuild)
	}
	if v, ok := brackets["version"]; ok {
		_, hb := brackets["build"]
		version = sanitizeVersion(v, hb)
		delete(brackets, "version")
	}
	if b, ok := brackets["build"]; ok {
		build, hasBuild = b, true
		delete(brackets, "build")
	}
	if version != "" {
		if version == "=" || version == "==" {
			return nil, fmt.Errorf("%q: operator without a version", spec)
		}
		vs, err := parseVersionSpec(version)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", spec, err)
		}
		ms.version = &vs
	}
	if hasBuild {
		m, err := newStrMatch(build)
		if err != nil {
			return nil, fmt.Errorf("%q: build: %w", spec, err)
		}
		ms.build = m
	}
	if bn, ok := brackets["build_number"]; ok {
		b, err := parseBuildNumberSpec(bn)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", spec, err)
		}
		ms.buildNumber = b
		delete(brackets, "build_number")
	}
	delete(brackets, "name")
	if len(brackets) > 0 {
		ms.exact = brackets
	}
	return ms, nil
}

// splitVersionBuild splits "VERSION BUILD" or "VERSION=BUILD" where conda's
// _parse_version_plus_build does: at the first space or "=" (after at
// least one character, not right after an operator character) followed by
// a non-empty build with none of "-=,|<>~". Spaces are removed from the
// version.
func splitVersionBuild(s string) (version, build string, hasBuild bool) {
	for i := 1; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '=' {
			continue
		}
		if strings.IndexByte("=!|,<>~", s[i-1]) >= 0 {
			continue
		}
		b := s[i+1:]
		if b == "" || strings.ContainsAny(b, "-=,|<>~") {
			continue
		}
		return strings.ReplaceAll(s[:i], " ", ""), strings.TrimSpace(b), true
	}
	return strings.ReplaceAll(s, " ", ""), "", false
}

// sanitizeVersion turns "=1.2" into "1.2*" (no build) and "==1.2" into
// "1.2" (no build), as conda's _sanitize_version_str does.
func sanitizeVersion(v string, hasBuild bool) string {
	if v == "=" || v == "==" || !strings.HasPrefix(v, "=") {
		return v
	}
	bare := strings.TrimLeft(v, "=")
	if strings.HasPrefix(v, "==") && !hasBuild {
		return bare
	}
	if !strings.ContainsAny(bare, "=,|") {
		if !hasBuild && !strings.HasSuffix(bare, "*") {
			return bare + "*"
		}
		return bare
	}
	return v
}

// match reports whether rec (a record of subdir) matches.
func (ms *matchSpec) match(rec *currentRec, subdir string) bool {
	if ms.channel || rec.name != ms.name {
		return false
	}
	if ms.subdir != "" && ms.subdir != subdir {
		return false
	}
	if ms.version != nil && !ms.version.matchParsed(rec.version, rec.vo, rec.voOK) {
		return false
	}
	if ms.build != nil && !ms.build.match(rec.build) {
		return false
	}
	if ms.buildNumber != nil && !ms.buildNumber.match(strconv.FormatInt(rec.buildNumber, 10)) {
		return false
	}
	for k, want := range ms.exact {
		v, ok := rec.value.Get(k)
		if !ok || v.Str() != want {
			return false
		}
	}
	return true
}
