package legacysign

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// ErrMalformedChannelKeys means a channel keys file does not follow the
// format of [ParseChannelKeys].
var ErrMalformedChannelKeys = errors.New("malformed channel keys file")

// ChannelKeys is a pinning file: it binds channels, and package names, to
// the key names trusted for them, so that a key installed for one channel
// or package cannot sign packages of another (the historical client
// accepted any installed key for any package).
type ChannelKeys struct {
	channels []PinRule // sorted by decreasing prefix length
	packages []PinRule // in file order
}

// PinRule is one rule of a pinning file: a channel rule (Channel set) or a
// package rule (Package set).
type PinRule struct {
	Line    int      // line number in the file, from 1
	Channel string   // channel URL prefix, without a trailing "/"
	Package string   // package name glob (path.Match syntax)
	Keys    []string // the key names the rule allows
}

// String describes the rule for messages: "line 3 (package openssl*)".
func (r *PinRule) String() string {
	if r.Package != "" {
		return fmt.Sprintf("line %d (package %s)", r.Line, r.Package)
	}
	return fmt.Sprintf("line %d (channel %s)", r.Line, r.Channel)
}

// ParseChannelKeys reads a pinning (channel keys) file. Each line is a
// rule: a channel URL prefix or a package name glob, then one or more key
// names, separated by spaces or tabs:
//
//	# rule                                    trusted key names
//	https://conda.example.com/main            MyKey BuildKey SecurityKey
//	channel https://conda.example.com/testing MyKey TestKey
//	package openssl*                          SecurityKey
//	package *                                 MyKey BuildKey
//
// A line "URL-PREFIX KEYNAME..." or "channel URL-PREFIX KEYNAME..." is a
// channel rule; a trailing "/" on the prefix is insignificant and each
// prefix may appear once. A line "package GLOB KEYNAME..." is a package
// rule: GLOB is matched against the whole package name (the NAME of
// NAME-VERSION-BUILD, case-sensitive) with [path.Match], uses letters,
// digits, _ . + - and the wildcards * ? [ ] ^, and may appear once. (A
// channel prefix spelled "channel" or "package" must take the "channel"
// keyword.) Blank lines and lines starting with "#" are ignored. Key names
// must pass [CheckKeyName].
//
// Which keys a package may be signed by is decided by [ChannelKeys.Match]:
// the channel rule with the longest matching prefix and the first package
// rule, in file order, whose glob matches the name; a key must be listed
// by every one of them that exists, and with neither, no key is allowed.
// So put specific globs before "package *".
//
// Errors match [ErrMalformedChannelKeys] and give the line number.
func ParseChannelKeys(r io.Reader) (*ChannelKeys, error) {
	c := &ChannelKeys{}
	channelLine := map[string]int{}
	packageLine := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		rule := PinRule{Line: n}
		switch f[0] {
		case "package":
			if len(f) < 3 {
				return nil, fmt.Errorf("%w: line %d: want \"package GLOB KEYNAME...\"", ErrMalformedChannelKeys, n)
			}
			if err := checkPackageGlob(f[1]); err != nil {
				return nil, fmt.Errorf("%w: line %d: %w", ErrMalformedChannelKeys, n, err)
			}
			if first, ok := packageLine[f[1]]; ok {
				return nil, fmt.Errorf("%w: line %d: package %s listed twice (first on line %d)", ErrMalformedChannelKeys, n, f[1], first)
			}
			packageLine[f[1]] = n
			rule.Package, f = f[1], f[2:]
		case "channel":
			if len(f) < 3 {
				return nil, fmt.Errorf("%w: line %d: want \"channel URL-PREFIX KEYNAME...\"", ErrMalformedChannelKeys, n)
			}
			f = f[1:]
			fallthrough
		default:
			if len(f) < 2 {
				return nil, fmt.Errorf("%w: line %d: want \"URL-PREFIX KEYNAME...\"", ErrMalformedChannelKeys, n)
			}
			prefix := strings.TrimRight(f[0], "/")
			if prefix == "" {
				return nil, fmt.Errorf("%w: line %d: empty channel URL prefix", ErrMalformedChannelKeys, n)
			}
			if first, ok := channelLine[prefix]; ok {
				return nil, fmt.Errorf("%w: line %d: channel %s listed twice (first on line %d)", ErrMalformedChannelKeys, n, prefix, first)
			}
			channelLine[prefix] = n
			rule.Channel, f = prefix, f[1:]
		}
		for _, k := range f {
			if err := CheckKeyName(k); err != nil {
				return nil, fmt.Errorf("%w: line %d: %w", ErrMalformedChannelKeys, n, err)
			}
		}
		rule.Keys = f
		if rule.Package != "" {
			c.packages = append(c.packages, rule)
		} else {
			c.channels = append(c.channels, rule)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading channel keys: %w", err)
	}
	slices.SortStableFunc(c.channels, func(a, b PinRule) int { return len(b.Channel) - len(a.Channel) })
	return c, nil
}

// checkPackageGlob accepts the characters of conda package names and the
// wildcards of path.Match, in a well-formed pattern.
func checkPackageGlob(g string) error {
	for i := 0; i < len(g); i++ {
		c := g[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_.+-*?[]^", c) >= 0) {
			return fmt.Errorf("package glob %q: use letters, digits, _ . + - and the wildcards * ? [ ] ^", shorten(g))
		}
	}
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("package glob %q: %w", g, err)
	}
	return nil
}

// KeysFor returns the key names the channel rules trust for the package or
// channel at url: those of the longest prefix that matches url whole or up
// to a "/". It returns nil when no prefix matches; the caller then decides
// whether the channel needs signatures at all. It ignores package rules:
// a caller that knows the package name uses [ChannelKeys.KeysForPackage].
func (c *ChannelKeys) KeysFor(url string) []string {
	if r := c.channelRule(url); r != nil {
		return slices.Clone(r.Keys)
	}
	return nil
}

// KeysForPackage returns the key names allowed for the package named name
// from the channel (or package) at url: Match(url, name).Keys(). Pass the
// result as [Verifier.TrustedKeys]; a signature by any other key is then
// refused with [ErrKeyNotPinned].
func (c *ChannelKeys) KeysForPackage(url, name string) []string {
	return c.Match(url, name).Keys()
}

// PinMatch holds the rules of a pinning file that apply to one package.
type PinMatch struct {
	// Channel is the channel rule with the longest prefix matching the
	// URL whole or up to a "/", or nil.
	Channel *PinRule
	// Package is the first package rule whose glob matches the name, or
	// nil.
	Package *PinRule
}

// Match returns the rules that apply to the package named name (see
// [PackageName]) from the channel or package URL url. An empty url matches
// no channel rule.
func (c *ChannelKeys) Match(url, name string) PinMatch {
	m := PinMatch{Channel: c.channelRule(url)}
	for i := range c.packages {
		if ok, _ := path.Match(c.packages[i].Package, name); ok {
			m.Package = &c.packages[i]
			break
		}
	}
	return m
}

func (c *ChannelKeys) channelRule(url string) *PinRule {
	for i, r := range c.channels {
		if url == r.Channel || strings.HasPrefix(url, r.Channel+"/") {
			return &c.channels[i]
		}
	}
	return nil
}

// Keys returns the key names every matching rule allows, in the order of
// the channel rule (or of the package rule when only it matched), or nil
// when no rule matched or the rules have no key in common.
func (m PinMatch) Keys() []string {
	switch {
	case m.Channel == nil && m.Package == nil:
		return nil
	case m.Package == nil:
		return slices.Clone(m.Channel.Keys)
	case m.Channel == nil:
		return slices.Clone(m.Package.Keys)
	}
	var keys []string
	for _, k := range m.Channel.Keys {
		if slices.Contains(m.Package.Keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// String names the matching rules, "line 2 (channel URL) and line 5
// (package GLOB)", or says "no rule".
func (m PinMatch) String() string {
	switch {
	case m.Channel == nil && m.Package == nil:
		return "no rule"
	case m.Package == nil:
		return m.Channel.String()
	case m.Channel == nil:
		return m.Package.String()
	}
	return m.Channel.String() + " and " + m.Package.String()
}

// PackageName returns the package name of a conda package file name or
// URL: the NAME of NAME-VERSION-BUILD.tar.bz2 or NAME-VERSION-BUILD.conda.
// For any other file name it returns the base name without the .tar.bz2
// or .conda extension, whole.
func PackageName(file string) string {
	base := file[strings.LastIndexAny(file, `/\`)+1:]
	stem, ok := strings.CutSuffix(base, ".tar.bz2")
	if !ok {
		stem, ok = strings.CutSuffix(base, ".conda")
	}
	if !ok {
		return base
	}
	parts := strings.Split(stem, "-")
	if len(parts) < 3 {
		return stem
	}
	return strings.Join(parts[:len(parts)-2], "-")
}
