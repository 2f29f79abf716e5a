package client

import (
	"strings"
	"testing"
)

// FuzzNormalizeURL: normalization is idempotent, and the store never
// derives a path from a URL: distinct normalized URLs get distinct ids.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"https://conda.example.org/main/", "file:///tmp/x/../channel", "HTTP://Example.org:443/a//b",
		"https://user:pw@example.org/c", "ftp://x", "relative/path", "https://example.org/a?b#c", "https://[::1]:8080/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeURL(s)
		if err != nil {
			return
		}
		again, err := NormalizeURL(n)
		if err != nil || again != n {
			t.Fatalf("NormalizeURL(%q) = %q, then %q (%v): not idempotent", s, n, again, err)
		}
		if id := channelID(n); len(id) != 64 || strings.ContainsAny(id, `/\.`) {
			t.Fatalf("channel id %q is not a plain hex name", id)
		}
	})
}

// FuzzCheckFilename: an accepted package file name or subdir can never
// name another directory.
func FuzzCheckFilename(f *testing.F) {
	for _, s := range []string{"foo-1.0-0.conda", "foo-1.0-0.tar.bz2", "../x.conda", "a/b.conda", ".conda", "linux-64", "..", "noarch"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, check := range map[string]func(string) error{"CheckFilename": CheckFilename, "CheckSubdir": CheckSubdir} {
			if check(s) == nil && (strings.ContainsAny(s, "/\\\x00") || s == "." || s == ".." || strings.HasPrefix(s, ".")) {
				t.Fatalf("%s accepted %q", name, s)
			}
		}
	})
}
