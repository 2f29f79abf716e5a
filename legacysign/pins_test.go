package legacysign

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const pinFile = `# rule                                         key names
https://conda.example.com/main                 MyKey BuildKey SecurityKey
channel https://conda.example.com/testing      TestKey
package openssl*                               SecurityKey
package lib[xy]z                               BuildKey
package *                                      MyKey BuildKey
`

func parsePins(t *testing.T, s string) *ChannelKeys {
	t.Helper()
	c, err := ParseChannelKeys(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPinChannelRule: a channel rule, bare or with the keyword "channel",
// allows its keys for packages whose URL it prefixes.
func TestPinChannelRule(t *testing.T) {
	c := parsePins(t, "https://a.example/main K1 K2\nchannel https://b.example/x/ K3\n")
	for _, tt := range []struct {
		url  string
		want []string
	}{
		{"https://a.example/main", []string{"K1", "K2"}},
		{"https://b.example/x", []string{"K3"}},
		{"https://b.example/x/noarch/foo-1-0.conda", []string{"K3"}},
		{"https://b.example/xy", nil},
		{"", nil},
	} {
		if got := c.KeysForPackage(tt.url, "foo"); !slices.Equal(got, tt.want) {
			t.Errorf("KeysForPackage(%q, foo) = %v, want %v", tt.url, got, tt.want)
		}
		if got := c.KeysFor(tt.url); !slices.Equal(got, tt.want) {
			t.Errorf("KeysFor(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

// TestPinPackageRule: a package rule allows its keys for package names its
// glob matches; the first matching package rule in the file decides.
func TestPinPackageRule(t *testing.T) {
	c := parsePins(t, "package openssl* SecurityKey\npackage lib[xy]z BuildKey\npackage * MyKey\n")
	for _, tt := range []struct {
		name string
		want []string
	}{
		{"openssl", []string{"SecurityKey"}},
		{"openssl-devel", []string{"SecurityKey"}},
		{"libxz", []string{"BuildKey"}},
		{"libaz", []string{"MyKey"}},
		{"numpy", []string{"MyKey"}},
		{"OpenSSL", []string{"MyKey"}}, // case-sensitive, as conda names are
	} {
		if got := c.KeysForPackage("https://any.example/ch", tt.name); !slices.Equal(got, tt.want) {
			t.Errorf("KeysForPackage(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
	// No package rule matches and no channel rule: nothing is allowed.
	c = parsePins(t, "package openssl* SecurityKey\n")
	if got := c.KeysForPackage("https://any.example/ch", "numpy"); got != nil {
		t.Errorf("unmatched package: %v, want nil", got)
	}
	// KeysFor, which knows no package, consults channel rules only.
	if got := c.KeysFor("https://any.example/ch"); got != nil {
		t.Errorf("KeysFor with package rules only: %v, want nil", got)
	}
}

// TestPinBothRules: when a channel rule and a package rule both match, a
// key must be allowed by both.
func TestPinBothRules(t *testing.T) {
	c := parsePins(t, pinFile)
	main := "https://conda.example.com/main"
	for _, tt := range []struct {
		url, name string
		want      []string
		chLine    int
		pkgLine   int
	}{
		{main, "openssl", []string{"SecurityKey"}, 2, 4},
		{main, "libyz", []string{"BuildKey"}, 2, 5},
		{main, "numpy", []string{"MyKey", "BuildKey"}, 2, 6},
		{"https://conda.example.com/testing", "numpy", nil, 3, 6}, // TestKey is not allowed for "*"
		{"https://elsewhere.example/ch", "numpy", []string{"MyKey", "BuildKey"}, 0, 6},
	} {
		m := c.Match(tt.url, tt.name)
		if got := m.Keys(); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%s, %s).Keys() = %v, want %v", tt.url, tt.name, got, tt.want)
		}
		if got := c.KeysForPackage(tt.url, tt.name); !slices.Equal(got, tt.want) {
			t.Errorf("KeysForPackage(%s, %s) = %v, want %v", tt.url, tt.name, got, tt.want)
		}
		if line := ruleLine(m.Channel); line != tt.chLine {
			t.Errorf("Match(%s, %s): channel rule on line %d, want %d", tt.url, tt.name, line, tt.chLine)
		}
		if line := ruleLine(m.Package); line != tt.pkgLine {
			t.Errorf("Match(%s, %s): package rule on line %d, want %d", tt.url, tt.name, line, tt.pkgLine)
		}
	}
	m := c.Match(main, "openssl")
	if want := "line 2 (channel https://conda.example.com/main) and line 4 (package openssl*)"; m.String() != want {
		t.Errorf("String() = %q, want %q", m.String(), want)
	}
	if got := parsePins(t, "package a K\n").Match("https://x.example", "b").String(); got != "no rule" {
		t.Errorf("String() of no match = %q", got)
	}
	// The returned slices are copies.
	k := c.KeysForPackage(main, "numpy")
	k[0] = "Changed"
	if again := c.KeysForPackage(main, "numpy"); again[0] != "MyKey" {
		t.Errorf("KeysForPackage returned the file's own slice: %v", again)
	}
}

func ruleLine(r *PinRule) int {
	if r == nil {
		return 0
	}
	return r.Line
}

// TestPinFileMalformed: each rule's mistakes are refused with the line.
func TestPinFileMalformed(t *testing.T) {
	for in, want := range map[string]string{
		"package\n":                           `line 1: want "package GLOB KEYNAME..."`,
		"package openssl\n":                   `line 1: want "package GLOB KEYNAME..."`,
		"# c\npackage open/ssl K\n":           `line 2: package glob "open/ssl": use letters, digits, _ . + - and the wildcards * ? [ ] ^`,
		"package open[ssl K\n":                `line 1: package glob "open[ssl": syntax error in pattern`,
		"package a K\npackage a L\n":          `line 2: package a listed twice (first on line 1)`,
		"package a ../K\n":                    `line 1: invalid key name: "../K": use letters, digits and _ . + - only, starting with a letter, digit or _`,
		"channel\n":                           `line 1: want "channel URL-PREFIX KEYNAME..."`,
		"channel https://a.example\n":         `line 1: want "channel URL-PREFIX KEYNAME..."`,
		"channel / K\n":                       `line 1: empty channel URL prefix`,
		"https://a K\nchannel https://a/ L\n": `line 2: channel https://a listed twice (first on line 1)`,
	} {
		_, err := ParseChannelKeys(strings.NewReader(in))
		if !errors.Is(err, ErrMalformedChannelKeys) || err.Error() != "malformed channel keys file: "+want {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
}

func TestPackageName(t *testing.T) {
	for in, want := range map[string]string{
		"numpy-1.26.4-py312h1_0.conda":              "numpy",
		"repo/linux-64/foo-bar-2.1-py_0.tar.bz2":    "foo-bar",
		"https://x.example/ch/noarch/a-1-0.tar.bz2": "a",
		`C:\pkgs\zlib-1.2.13-h5eee18b_0.tar.bz2`:    "zlib",
		"other.tar.bz2":                             "other",
		"openssl-3.0.conda":                         "openssl-3.0",
		"README.md":                                 "README.md",
	} {
		if got := PackageName(in); got != want {
			t.Errorf("PackageName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestVerifyFileKey: the key that verified is returned; refusals return
// none.
func TestVerifyFileKey(t *testing.T) {
	f := newSignedFixture(t)
	key, err := f.verifier().VerifyFileKey(f.file)
	if err != nil || key != "MyKey" {
		t.Fatalf("VerifyFileKey = %q, %v; want MyKey", key, err)
	}
	v := &Verifier{Keys: f.keys, TrustedKeys: []string{"Other"}}
	key, err = v.VerifyFileKey(f.file)
	if !errors.Is(err, ErrKeyNotPinned) || key != "" {
		t.Fatalf("not pinned: %q, %v", key, err)
	}
}
