package legacysign

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
)

// vectorFile is the part of vectors/legacy-sign/vectors.json the tests use.
type vectorFile struct {
	KeysDir string `json:"keys_dir"`
	Keys    map[string]struct {
		NBits  int    `json:"n_bits"`
		E      int    `json:"e"`
		KBytes int    `json:"k_bytes"`
		NHex   string `json:"n_hex"`
	} `json:"keys"`
	Cases []struct {
		Case         string  `json:"case"`
		File         string  `json:"file"`
		Sig          *string `json:"sig"`
		Expect       string  `json:"expect"`
		SaltHex      string  `json:"salt_hex"`
		SignatureHex string  `json:"signature_hex"`
	} `json:"cases"`
}

// ourVerdict is the spec's "ours" column (legacy-sign.md §9) for every case,
// with every installed key trusted: nil is VALID, otherwise the refusal.
var ourVerdict = map[string]error{
	"pss-valid":                 nil,
	"pss-fixed-salt-valid":      nil,
	"textbook-valid":            ErrTextbookRSA,
	"pss-tampered-file":         ErrInvalidSignature,
	"pss-wrong-key":             ErrInvalidSignature,
	"pss-other-installed-key":   nil,
	"pss-key-not-installed":     ErrKeyNotInstalled,
	"pss-sig-missing":           ErrSignatureMissing,
	"pss-salt-max-length":       ErrInvalidSignature,
	"pss-leading-zero-valid":    nil,
	"pss-leading-zero-stripped": ErrInvalidSignature,
	"malformed-three-tokens":    ErrMalformedSig,
	"keyname-path-traversal":    ErrBadKeyName,
	"channel-signed-package":    nil,
}

// legacyToOurs maps the legacy verdict in vectors.json to ours, as a
// consistency check between the manifest and the table above.
var legacyToOurs = map[string][]error{
	"VALID":                    {nil, ErrKeyNotPinned},
	"INVALID":                  {ErrInvalidSignature},
	"VALID_TEXTBOOK_ONLY":      {ErrTextbookRSA},
	"ERROR_PUBLIC_KEY_MISSING": {ErrKeyNotInstalled},
	"ERROR_SIGNATURE_MISSING":  {ErrSignatureMissing},
	"ERROR_MALFORMED":          {ErrMalformedSig},
	"ERROR_BAD_KEYNAME":        {ErrBadKeyName},
}

func loadVectors(t *testing.T) (dir string, vf vectorFile) {
	t.Helper()
	path := testvectors.Path(t, "legacy-sign/vectors.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &vf); err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(path), vf
}

// allRefusals are the errors a verdict is compared against: exactly the
// expected one (and what it implies) may match.
var allRefusals = []error{ErrInvalidSignature, ErrTextbookRSA, ErrSignatureMissing, ErrKeyNotInstalled, ErrKeyNotPinned, ErrMalformedSig, ErrBadKeyName}

// implied lists the errors that the expected one must also match.
func implied(want error) []error {
	switch want {
	case ErrTextbookRSA:
		return []error{ErrTextbookRSA, ErrInvalidSignature}
	case ErrBadKeyName:
		return []error{ErrBadKeyName, ErrMalformedSig}
	case nil:
		return nil
	}
	return []error{want}
}

func checkVerdict(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("got %v, want VALID", err)
		}
		return
	}
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v (%T), want a *VerifyError matching %v", err, err, want)
	}
	must := implied(want)
	for _, e := range allRefusals {
		wantMatch := false
		for _, m := range must {
			wantMatch = wantMatch || m == e
		}
		if errors.Is(err, e) != wantMatch {
			t.Errorf("errors.Is(%q, %q) = %v, want %v", err, e, !wantMatch, wantMatch)
		}
	}
}

// TestVectors checks every case against the spec's table under three trust
// configurations. "Both keys trusted" in the spec's table means every
// installed key (AnyInstalledKey). With explicit TrustedKeys the pin is
// checked before the key is looked up, so a `.sig` naming an untrusted key
// is refused as not trusted even when that key is also not installed.
func TestVectors(t *testing.T) {
	dir, vf := loadVectors(t)
	keys := KeyDir{Path: filepath.Join(dir, vf.KeysDir)}
	seen := map[string]bool{}
	for _, c := range vf.Cases {
		want, ok := ourVerdict[c.Case]
		if !ok {
			t.Errorf("case %s: not in the spec's table; add its expected verdict", c.Case)
			continue
		}
		seen[c.Case] = true
		consistent := false
		for _, e := range legacyToOurs[c.Expect] {
			consistent = consistent || e == want
		}
		if !consistent {
			t.Errorf("case %s: legacy verdict %s does not fit our verdict %v", c.Case, c.Expect, want)
		}
		if c.Sig != nil && *c.Sig != c.File+".sig" {
			t.Fatalf("case %s: .sig %s is not next to %s", c.Case, *c.Sig, c.File)
		}
		path := filepath.Join(dir, c.File)
		configs := []struct {
			name     string
			verifier *Verifier
			want     error
		}{
			{"any-installed", &Verifier{Keys: keys, AnyInstalledKey: true}, want},
			{"trusted-both", &Verifier{Keys: keys, TrustedKeys: []string{"MyKey", "OtherKey"}},
				pick(c.Case == "pss-key-not-installed", ErrKeyNotPinned, want)},
			{"trusted-MyKey", &Verifier{Keys: keys, TrustedKeys: []string{"MyKey"}},
				pick(c.Case == "pss-key-not-installed" || c.Case == "pss-other-installed-key", ErrKeyNotPinned, want)},
		}
		for _, cfg := range configs {
			t.Run(c.Case+"/"+cfg.name, func(t *testing.T) {
				checkVerdict(t, cfg.verifier.VerifyFile(path), cfg.want)
			})
		}
	}
	for name := range ourVerdict {
		if !seen[name] {
			t.Errorf("case %s of the spec's table is missing from vectors.json", name)
		}
	}
}

func pick(cond bool, a, b error) error {
	if cond {
		return a
	}
	return b
}

// TestVectorsSignByteExact reproduces the fixed-salt signatures byte for
// byte through the production signing path, with the salt as the random
// source.
func TestVectorsSignByteExact(t *testing.T) {
	dir, vf := loadVectors(t)
	keys := KeyDir{Path: filepath.Join(dir, vf.KeysDir)}
	n := 0
	for _, c := range vf.Cases {
		if c.SaltHex == "" || c.SignatureHex == "" {
			continue
		}
		n++
		t.Run(c.Case, func(t *testing.T) {
			sigFile, err := os.ReadFile(filepath.Join(dir, *c.Sig))
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ParseSignature(sigFile)
			if err != nil {
				t.Fatal(err)
			}
			key, err := keys.SigningKey(parsed.KeyName)
			if err != nil {
				t.Fatal(err)
			}
			salt, _ := hex.DecodeString(c.SaltHex)
			wantSig, _ := hex.DecodeString(c.SignatureHex)
			f, err := os.Open(filepath.Join(dir, c.File))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			digest, err := digestOf(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := key.signDigest(bytes.NewReader(salt), digest)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Value, wantSig) {
				t.Fatalf("signature differs from signature_hex:\n got %x\nwant %x", got.Value, wantSig)
			}
			if !bytes.Equal(got.Marshal(), sigFile) {
				t.Fatalf(".sig differs:\n got %q\nwant %q", got.Marshal(), sigFile)
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d fixed-salt cases found, want 3", n)
	}
}

// TestVectorKeys: the key files parse to the manifest's numbers, and our
// encoders reproduce them byte for byte (the historical layout).
func TestVectorKeys(t *testing.T) {
	dir, vf := loadVectors(t)
	kd := KeyDir{Path: filepath.Join(dir, vf.KeysDir)}
	for name, want := range vf.Keys {
		t.Run(name, func(t *testing.T) {
			pub, err := kd.PublicKey(name)
			if err != nil {
				t.Fatal(err)
			}
			if pub.N.BitLen() != want.NBits {
				t.Errorf("bits = %d, want %d", pub.N.BitLen(), want.NBits)
			}
			if want.NHex != "" && hex.EncodeToString(pub.N.Bytes()) != want.NHex {
				t.Errorf("modulus differs from n_hex")
			}
			if want.E != 0 && pub.E != want.E {
				t.Errorf("e = %d, want %d", pub.E, want.E)
			}
			if want.KBytes != 0 && pub.Size() != want.KBytes {
				t.Errorf("k = %d, want %d", pub.Size(), want.KBytes)
			}
			pubFile, _ := os.ReadFile(kd.PublicKeyPath(name))
			if got, _ := MarshalPublicKey(pub); !bytes.Equal(got, pubFile) {
				t.Errorf("MarshalPublicKey differs from %s.pub", name)
			}
			priv, err := kd.SigningKey(name)
			if err != nil {
				t.Fatal(err)
			}
			privFile, _ := os.ReadFile(kd.PrivateKeyPath(name))
			if !bytes.Equal(MarshalPrivateKey(priv.Key), privFile) {
				t.Errorf("MarshalPrivateKey differs from %s", name)
			}
			if !priv.Key.PublicKey.Equal(pub) {
				t.Errorf("%s and %s.pub are not one pair", name, name)
			}
		})
	}
}
