package legacysign

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParseSignature(t *testing.T) {
	value := bytes.Repeat([]byte{0xfb, 0xff, 0x00}, 86)[:256]
	b64 := base64.StdEncoding.EncodeToString(value)
	good := map[string]string{
		"canonical":      "MyKey " + b64 + "\n",
		"no newline":     "MyKey " + b64,
		"crlf":           "MyKey " + b64 + "\r\n",
		"tabs and lines": "\n\tMyKey\t\t" + b64 + " \n\n",
		"vt ff":          "MyKey\v" + b64 + "\f",
	}
	for name, in := range good {
		s, err := ParseSignature([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s.KeyName != "MyKey" || !bytes.Equal(s.Value, value) {
			t.Errorf("%s: got %q %x", name, s.KeyName, s.Value)
		}
	}

	bad := []struct {
		name, in string
		badName  bool
	}{
		{"empty", "", false},
		{"one token", "MyKey\n", false},
		{"three tokens", "MyKey " + b64 + " extra\n", false},
		{"split base64", "MyKey " + b64[:100] + " " + b64[100:] + "\n", false},
		{"unicode space is not a separator", "MyKey\u00a0" + b64 + "\n", false},
		{"nbsp inside base64", "MyKey " + b64[:10] + "\u00a0" + b64[10:] + "\n", false},
		{"url alphabet", "MyKey " + strings.NewReplacer("+", "-", "/", "_").Replace(b64) + "\n", false},
		{"missing padding", "MyKey " + strings.TrimRight(b64, "=") + "\n", false},
		{"foreign character", "MyKey " + b64[:10] + "*" + b64[10:] + "\n", false},
		{"non-canonical padding bits", "MyKey QR==\n", false},
		{"empty signature", "MyKey =\n", false},
		{"path in name", "../../tmp/evil " + b64 + "\n", true},
		{"absolute name", "/etc/key " + b64 + "\n", true},
		{"dot name", ".MyKey " + b64 + "\n", true},
		{"too large", "MyKey " + strings.Repeat("A", MaxSigFileSize) + "\n", false},
	}
	for _, tt := range bad {
		_, err := ParseSignature([]byte(tt.in))
		if !errors.Is(err, ErrMalformedSig) {
			t.Errorf("%s: err = %v, want ErrMalformedSig", tt.name, err)
		}
		if errors.Is(err, ErrBadKeyName) != tt.badName {
			t.Errorf("%s: errors.Is(err, ErrBadKeyName) = %v, want %v (%v)", tt.name, !tt.badName, tt.badName, err)
		}
	}
	_, err := ParseSignature([]byte("MyKey a b\n"))
	if want := `malformed signature file: want two fields "NAME BASE64", found 3`; err == nil || err.Error() != want {
		t.Errorf("message %v, want %q", err, want)
	}
}

func TestSignatureMarshal(t *testing.T) {
	s := &Signature{KeyName: "MyKey", Value: []byte{0, 1, 2, 0xff}}
	if got, want := string(s.Marshal()), "MyKey AAEC/w==\n"; got != want {
		t.Fatalf("Marshal = %q, want %q", got, want)
	}
	back, err := ParseSignature(s.Marshal())
	if err != nil || back.KeyName != s.KeyName || !bytes.Equal(back.Value, s.Value) {
		t.Fatalf("round trip: %v %v", back, err)
	}
}
