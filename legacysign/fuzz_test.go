package legacysign

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
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

// FuzzParseChannelKeys: the pinning file parser never panics, and every
// key name it returns passes the key-name rule.
func FuzzParseChannelKeys(f *testing.F) {
	f.Add("# pins\nhttps://conda.example.org/main MyKey Other\nfile:///srv/channel\tBuildKey\n")
	f.Add("https://x ../etc\n")
	f.Add("\n\n   \n")
	f.Fuzz(func(t *testing.T, s string) {
		ck, err := ParseChannelKeys(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, line := range strings.Split(s, "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			for _, name := range ck.KeysFor(fields[0]) {
				if err := CheckKeyName(name); err != nil {
					t.Fatalf("pinned key name %q fails the key-name rule: %v", name, err)
				}
			}
		}
	})
}
