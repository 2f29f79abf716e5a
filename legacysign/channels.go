package legacysign

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ErrMalformedChannelKeys means a channel keys file does not follow the
// format of [ParseChannelKeys].
var ErrMalformedChannelKeys = errors.New("malformed channel keys file")

// ChannelKeys binds channels to the key names trusted for them, so that a
// key installed for one channel cannot sign packages of another (the
// historical client accepted any installed key for any package).
type ChannelKeys struct {
	entries []channelEntry // sorted by decreasing prefix length
}

type channelEntry struct {
	prefix string
	keys   []string
}

// ParseChannelKeys reads a channel keys file. Each line is a channel URL
// prefix followed by one or more key names, separated by spaces or tabs:
//
//	# channel URL prefix                 trusted key names
//	https://conda.example.com/main       MyKey
//	https://conda.example.com/testing    MyKey TestKey
//
// Blank lines and lines starting with "#" are ignored. Key names must pass
// [CheckKeyName], and a prefix may appear only once. A trailing "/" on a
// prefix is insignificant. Errors match [ErrMalformedChannelKeys] and give
// the line number.
func ParseChannelKeys(r io.Reader) (*ChannelKeys, error) {
	c := &ChannelKeys{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("%w: line %d: want \"URL-PREFIX KEYNAME...\"", ErrMalformedChannelKeys, n)
		}
		prefix := strings.TrimRight(f[0], "/")
		if prefix == "" {
			return nil, fmt.Errorf("%w: line %d: empty channel URL prefix", ErrMalformedChannelKeys, n)
		}
		if seen[prefix] {
			return nil, fmt.Errorf("%w: line %d: channel %s listed twice", ErrMalformedChannelKeys, n, prefix)
		}
		seen[prefix] = true
		for _, k := range f[1:] {
			if err := CheckKeyName(k); err != nil {
				return nil, fmt.Errorf("%w: line %d: %w", ErrMalformedChannelKeys, n, err)
			}
		}
		c.entries = append(c.entries, channelEntry{prefix: prefix, keys: f[1:]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading channel keys: %w", err)
	}
	slices.SortStableFunc(c.entries, func(a, b channelEntry) int { return len(b.prefix) - len(a.prefix) })
	return c, nil
}

// KeysFor returns the key names trusted for the package or channel at url:
// those of the longest prefix that matches url whole or up to a "/". It
// returns nil when no prefix matches; the caller then decides whether the
// channel needs signatures at all. Pass the result as
// [Verifier.TrustedKeys].
func (c *ChannelKeys) KeysFor(url string) []string {
	for _, e := range c.entries {
		if url == e.prefix || strings.HasPrefix(url, e.prefix+"/") {
			return slices.Clone(e.keys)
		}
	}
	return nil
}
