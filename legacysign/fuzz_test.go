package legacysign

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
)

// addSigSeeds adds the project's and, when present, the shared vectors'
// .sig files as seeds.
func addSigSeeds(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.sig")
	if d, ok := testvectors.Find(); ok {
		more, _ := filepath.Glob(filepath.Join(d, "legacy-sign", "cases", "*", "*.sig"))
		paths = append(paths, more...)
	}
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("MyKey AAEC/w==\n"))
	f.Add([]byte("a\tb\r\n"))
}

// FuzzParseSignature: the parser never panics, every refusal is
// ErrMalformedSig, and what it accepts survives Marshal and re-parsing.
func FuzzParseSignature(f *testing.F) {
	addSigSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSignature(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedSig) {
				t.Fatalf("error not matching ErrMalformedSig: %v", err)
			}
			return
		}
		if CheckKeyName(s.KeyName) != nil || len(s.Value) == 0 {
			t.Fatalf("accepted %q with value %x", s.KeyName, s.Value)
		}
		again, err := ParseSignature(s.Marshal())
		if err != nil || again.KeyName != s.KeyName || !bytes.Equal(again.Value, s.Value) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

// FuzzParsePublicKey: the key loader never panics, refuses with its
// documented errors, and what it accepts is an RSA key of an allowed size
// that re-encodes to an equal key.
func FuzzParsePublicKey(f *testing.F) {
	paths, _ := filepath.Glob("testdata/keys/*.pub")
	if d, ok := testvectors.Find(); ok {
		more, _ := filepath.Glob(filepath.Join(d, "legacy-sign", "keys", "*"))
		paths = append(paths, more...)
	}
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := ParsePublicKey(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedKey) && !errors.Is(err, ErrKeySize) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if bits := pub.N.BitLen(); bits < MinInsecureKeyBits || bits > MaxKeyBits {
			t.Fatalf("accepted a %d-bit key", bits)
		}
		enc, err := MarshalPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParsePublicKey(enc)
		if err != nil || !again.Equal(pub) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

// FuzzParseChannelKeys: the pinning file parser never panics; every key
// name it returns passes the key-name rule; and what it allows for a
// package is allowed by every rule that matched, and nothing when none
// did.
func FuzzParseChannelKeys(f *testing.F) {
	f.Add("# pins\nhttps://conda.example.org/main MyKey Other\nfile:///srv/channel\tBuildKey\n", "https://conda.example.org/main/noarch", "numpy")
	f.Add("https://x ../etc\n", "https://x", "")
	f.Add("\n\n   \n", "", "")
	f.Add("channel https://a.example/main K1 K2\npackage openssl* K2\npackage lib[a-c]z K1\npackage * K1\n", "https://a.example/main", "openssl")
	f.Add("package [^a]* K\npackage ? L\npackage [ M\n", "", "b")
	f.Add("package K\nchannel K\npackage a K\npackage a L\n", "K", "a")
	f.Fuzz(func(t *testing.T, s, url, name string) {
		ck, err := ParseChannelKeys(strings.NewReader(s))
		if err != nil {
			if !errors.Is(err, ErrMalformedChannelKeys) {
				t.Fatalf("error %v does not match ErrMalformedChannelKeys", err)
			}
			return
		}
		check := func(names []string) {
			for _, n := range names {
				if err := CheckKeyName(n); err != nil {
					t.Fatalf("pinned key name %q fails the key-name rule: %v", n, err)
				}
			}
		}
		for _, line := range strings.Split(s, "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			check(ck.KeysFor(fields[0]))
		}
		m := ck.Match(url, name)
		keys := ck.KeysForPackage(url, name)
		check(keys)
		if m.Channel == nil && m.Package == nil && keys != nil {
			t.Fatalf("no rule matched, yet %v allowed", keys)
		}
		for _, k := range keys {
			if m.Channel != nil && !slices.Contains(m.Channel.Keys, k) || m.Package != nil && !slices.Contains(m.Package.Keys, k) {
				t.Fatalf("%s allowed, but not by %s", k, m)
			}
		}
	})
}
