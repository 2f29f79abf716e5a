package repodata

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// testKey returns a key of testdata/vectors/derived/chain-synthetic/keys.json.
func testKey(t testing.TB, name string) *signer.Key {
	t.Helper()
	var keys map[string]json.RawMessage
	raw := testvectors.ReadLocal(t, "vectors/derived/chain-synthetic/keys.json")
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	var k struct {
		Seed string `json:"seed_hex"`
	}
	if err := json.Unmarshal(keys["conda-content-trust-vector/"+name], &k); err != nil {
		t.Fatal(err)
	}
	seed, err := hex.DecodeString(k.Seed)
	if err != nil {
		t.Fatal(err)
	}
	key, err := signer.NewKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

const tamperInput = `{"info":{"subdir":"noarch"},"packages":{
"a-1.0-0.tar.bz2":{"build":"0","build_number":0,"depends":[],"md5":"d41d8cd98f00b204e9800998ecf8427e","name":"a","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"version":"1.0"}},
"packages.conda":{},"removed":[],"repodata_version":1}`

func signString(t *testing.T, in string, compact bool, keys ...signer.Signer) string {
	t.Helper()
	f, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Sign(&out, f, SignOptions{Signers: keys, Compact: compact}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func verifyOne(t *testing.T, data string, d trust.Delegation, fn string) Result {
	t.Helper()
	f, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := f.Record(fn)
	if !ok {
		t.Fatalf("no record %s", fn)
	}
	res, err := (&Verifier{pkgMgr: d}).VerifyRecord(f, rec)
	if err != nil {
		t.Fatalf("VerifyRecord: %v", err)
	}
	return res
}

func mustReplace(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("%q occurs %d times", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, new, 1)
}

// TestTamper checks that every way of breaking a signed record is refused
// with its own reason.
func TestTamper(t *testing.T) {
	p1, p2, attacker := testKey(t, "pkg_mgr-1"), testKey(t, "pkg_mgr-2"), testKey(t, "attacker")
	one := trust.Delegation{Keys: []trust.PublicKey{p1.Public()}, Threshold: 1}
	two := trust.Delegation{Keys: []trust.PublicKey{p1.Public(), p2.Public()}, Threshold: 2}
	const fn = "a-1.0-0.tar.bz2"
	signed1 := signString(t, tamperInput, false, p1)
	signed2 := signString(t, tamperInput, false, p1, p2)
	byAttacker := signString(t, tamperInput, false, attacker)
	sig1 := hexSigOf(t, signed1, p1.Public())
	sigOther := hexSigOf(t, signString(t, strings.Replace(tamperInput, `"1.0"}`, `"1.1"}`, 1), false, p1), p1.Public())

	// The entry by p1, written twice as a duplicate JSON key and once
	// under the upper-case spelling of p1's key.
	entry := `{"signature": "` + sig1 + `"}`
	dupSigs := `"signatures": {"` + fn + `": {"` + p1.Public().String() + `": ` + entry + `, "` + p1.Public().String() + `": ` + entry + `}}`
	upperSigs := `"signatures": {"` + fn + `": {"` + p1.Public().String() + `": ` + entry + `, "` + strings.ToUpper(p1.Public().String()) + `": ` + entry + `}}`
	withSigs := func(sigs string) string {
		i := strings.Index(signed1, `"signatures"`)
		return signed1[:i] + sigs + "}"
	}
	flipped := []byte(sig1)
	flipped[10] ^= 1 // '0'..'9'/'a'..'f' with the low bit flipped stays hex
	if c := flipped[10]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
		flipped[10] = '0'
	}

	tests := []struct {
		name   string
		data   string
		d      trust.Delegation
		status Status
		reason string
	}{
		{"good", signed1, one, Trusted, "1 of 1 required raw signatures"},
		{"good 2 of 2", signed2, two, Trusted, "2 of 2 required"},
		{"record field edited", mustReplace(t, signed1, `"version": "1.0"`, `"version": "1.1"`), one, Untrusted, "raw signature does not verify"},
		{"number edited", mustReplace(t, signed1, `"size": 0`, `"size": 1`), one, Untrusted, "raw signature does not verify"},
		{"signature flipped", mustReplace(t, signed1, sig1, string(flipped)), one, Untrusted, "raw signature does not verify"},
		{"undelegated key", byAttacker, one, Untrusted, "key is not authorized for this role"},
		{"signature of another record", mustReplace(t, signed1, sig1, sigOther), one, Untrusted, "raw signature does not verify"},
		{"record signatures removed", withSigs(`"signatures": {}`), one, Unsigned, "no signatures for " + fn},
		{"all signatures removed", signed1[:strings.Index(signed1, `,`+"\n"+`  "signatures"`)] + "\n}", one, Unsigned, "no signatures at all"},
		{"threshold 2 by one key in upper case", withSigs(upperSigs), two, Untrusted, "key is not 64 lowercase hex characters"},
		{"threshold 2 with an attacker", mustReplace(t, signed2, p2.Public().String(), attacker.Public().String()), two, Untrusted, "key is not authorized"},
		{"malformed entry ignored", withSigs(`"signatures": {"` + fn + `": {"` + p1.Public().String() + `": {"signature": "` + sig1 + `", "extra": 1}}}`), one, Untrusted, "malformed entry"},
		{"malformed entry next to a good one", withSigs(`"signatures": {"` + fn + `": {"` + p1.Public().String() + `": ` + entry + `, "` + p2.Public().String() + `": "junk"}}`), one, Trusted, "1 of 1"},
		{"entry not an object", withSigs(`"signatures": {"` + fn + `": ["` + sig1 + `"]}`), one, Untrusted, "not a JSON object"},
		{"empty entry", withSigs(`"signatures": {"` + fn + `": {}}`), one, Untrusted, "0 of 1 required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := verifyOne(t, tc.data, tc.d, fn)
			if res.Status != tc.status || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("status %s, reason %q; want %s with %q", res.Status, res.Reason, tc.status, tc.reason)
			}
			err := res.Err()
			if (err == nil) != (tc.status == Trusted) {
				t.Fatalf("Err() = %v", err)
			}
			if err != nil {
				var ve *trust.VerificationError
				if !errors.As(err, &ve) || !errors.Is(err, trust.ErrVerification) {
					t.Fatalf("Err() = %T %v, want a *trust.VerificationError", err, err)
				}
				wantRule := trust.RuleThreshold
				if tc.status == Unsigned {
					wantRule = trust.RuleUnsigned
				}
				if ve.Rule != wantRule || ve.Role != fn {
					t.Errorf("rule %s role %s, want %s %s", ve.Rule, ve.Role, wantRule, fn)
				}
			}
		})
	}
	// One key listed twice in a record's signatures: Python would keep the
	// last entry, another reader the first. It is malformed, not counted.
	f, err := Parse([]byte(withSigs(dupSigs)))
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := f.Record(fn)
	_, err = (&Verifier{pkgMgr: two}).VerifyRecord(f, rec)
	if err == nil || !strings.Contains(err.Error(), "duplicate object key") || errors.Is(err, trust.ErrVerification) {
		t.Errorf("a signatures entry naming one key twice: %v, want a malformed-input error", err)
	}
}

func hexSigOf(t *testing.T, signed string, key trust.PublicKey) string {
	t.Helper()
	i := strings.Index(signed, `"`+key.String()+`": {`)
	if i < 0 {
		t.Fatalf("no signature by %s", key.Short())
	}
	j := strings.Index(signed[i:], `"signature": "`) + i + len(`"signature": "`)
	return signed[j : j+128]
}
