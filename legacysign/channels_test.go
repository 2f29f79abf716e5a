package legacysign

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestChannelKeys(t *testing.T) {
	const file = `# channel URL prefix                 trusted key names
https://conda.example.com/main/      MyKey

https://conda.example.com/main/beta  BetaKey MyKey
https://other.example.org            OtherKey
`
	c, err := ParseChannelKeys(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want []string
	}{
		{"https://conda.example.com/main", []string{"MyKey"}},
		{"https://conda.example.com/main/noarch/foo-1.0-0.tar.bz2", []string{"MyKey"}},
		{"https://conda.example.com/main/beta/linux-64/x.tar.bz2", []string{"BetaKey", "MyKey"}},
		{"https://conda.example.com/main/betamax/x.tar.bz2", []string{"MyKey"}},
		{"https://conda.example.com/mainline/x.tar.bz2", nil},
		{"https://other.example.org/noarch/x.tar.bz2", []string{"OtherKey"}},
		{"https://other.example.org.evil.com/x.tar.bz2", nil},
		{"http://conda.example.com/main/x.tar.bz2", nil},
	}
	for _, tt := range tests {
		if got := c.KeysFor(tt.url); !slices.Equal(got, tt.want) {
			t.Errorf("KeysFor(%s) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

func TestChannelKeysMalformed(t *testing.T) {
	bad := map[string]string{
		"no keys":      "https://a.example/main\n",
		"bad key name": "https://a.example/main ../evil\n",
		"duplicate":    "https://a.example/main K\nhttps://a.example/main/ L\n",
		"empty prefix": "/ K\n",
	}
	for name, in := range bad {
		if _, err := ParseChannelKeys(strings.NewReader(in)); !errors.Is(err, ErrMalformedChannelKeys) {
			t.Errorf("%s: err = %v, want ErrMalformedChannelKeys", name, err)
		}
	}
	_, err := ParseChannelKeys(strings.NewReader("# c\nhttps://a.example/main\n"))
	if want := `malformed channel keys file: line 2: want "URL-PREFIX KEYNAME..."`; err == nil || err.Error() != want {
		t.Errorf("message %v, want %q", err, want)
	}
}
