package signer_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

func fp(s string) *[20]byte {
	var f [20]byte
	b, _ := hex.DecodeString(s)
	copy(f[:], b)
	return &f
}

// TestHarnessChainByteExact re-signs the reference's deterministic chain
// from its unsigned content and the published test seeds and gets the same
// files byte for byte.
func TestHarnessChainByteExact(t *testing.T) {
	dir := testvectors.Local("vectors/cct/harness_chain")
	key := func(name string) *signer.Key {
		k, err := signer.ReadKeyFile(filepath.Join(dir, name+".pri"))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	root1, root2, km := key("root1"), key("root2"), key("key_mgr")
	cases := []struct {
		file    string
		signers []*signer.Key
		fps     []string
		created int64
	}{
		{"1.root.json", []*signer.Key{root1}, []string{"917adb684e2e9fb5ed4e59909ddd19a1268b62d0"}, 1767225600},
		{"2.root.json", []*signer.Key{root1, root2}, []string{"917adb684e2e9fb5ed4e59909ddd19a1268b62d0", "0a14b126c986f276831c7b04134f35b47db43643"}, 1769904000},
		{"key_mgr.json", []*signer.Key{km}, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			env, err := trust.ParseEnvelope(want)
			if err != nil {
				t.Fatal(err)
			}
			unsigned := trust.Wrap(env.Signed)
			for i, s := range c.signers {
				form := trust.FormRaw
				var opts signer.OpenPGPOptions
				if c.fps != nil {
					form = trust.FormOpenPGP
					opts = signer.OpenPGPOptions{Fingerprint: fp(c.fps[i]), Created: time.Unix(c.created, 0)}
				}
				if err := signer.SignEnvelope(unsigned, s, form, opts); err != nil {
					t.Fatal(err)
				}
			}
			if got := unsigned.Marshal(); !bytes.Equal(got, want) {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestOpenPGPFingerprint: the v4 fingerprints of the reference's GnuPG
// test keys (spec §2.4).
func TestOpenPGPFingerprint(t *testing.T) {
	for _, c := range []struct {
		pub     string
		created int64
		want    string
	}{
		{"c8bd83b3bfc991face417d97b9c0db011b5d256476b602b92fec92849fc2b36c", 1603393809, "917adb684e2e9fb5ed4e59909ddd19a1268b62d0"},
		{"a59cea0987ee9046d68d2d011e919eb9278e3f478cca77f5204d65191ff8d7a5", 1603396190, "0a14b126c986f276831c7b04134f35b47db43643"},
	} {
		k, _ := trust.ParsePublicKey(c.pub)
		got := trust.OpenPGPFingerprintV4(k, time.Unix(c.created, 0))
		if hex.EncodeToString(got[:]) != c.want {
			t.Errorf("%s: fingerprint %x, want %s", c.pub[:8], got, c.want)
		}
	}
}

type katFile struct {
	Keys []struct {
		Seed string `json:"private_seed_hex"`
		Pub  string `json:"public_key_hex"`
	} `json:"keys"`
	RawEd25519 []struct {
		Pub string `json:"public_key_hex"`
		Msg string `json:"message_hex"`
		Sig string `json:"signature_hex"`
	} `json:"raw_ed25519"`
	OpenPGP []struct {
		File         string `json:"file"`
		Pub          string `json:"public_key_hex"`
		OtherHeaders string `json:"other_headers_hex"`
		SignedSHA256 string `json:"signed_sha256"`
		DigestSHA256 string `json:"openpgp_digest_sha256"`
		Signature    string `json:"signature_hex"`
		Reproduced   bool   `json:"reproduced_with_known_private_key"`
	} `json:"openpgp_signables"`
}

func TestKATs(t *testing.T) {
	var kat katFile
	if err := json.Unmarshal(testvectors.ReadLocal(t, "vectors/cct/kat_signatures.json"), &kat); err != nil {
		t.Fatal(err)
	}
	seeds := map[string]*signer.Key{}
	for _, k := range kat.Keys {
		seed, _ := hex.DecodeString(k.Seed)
		key, err := signer.NewKey(seed)
		if err != nil {
			t.Fatal(err)
		}
		if key.Public().String() != k.Pub {
			t.Errorf("seed %s…: public key %s, want %s", k.Seed[:8], key.Public(), k.Pub)
		}
		seeds[k.Pub] = key
	}
	for _, r := range kat.RawEd25519 {
		msg, _ := hex.DecodeString(r.Msg)
		sig, _ := seeds[r.Pub].Sign(msg)
		if hex.EncodeToString(sig) != r.Sig {
			t.Errorf("raw KAT: got %x", sig)
		}
	}
	if len(kat.OpenPGP) != 14 {
		t.Fatalf("%d OpenPGP signables, want 14", len(kat.OpenPGP))
	}
	files := map[string]string{
		"cct tests/testdata/":                "cct/testdata/",
		"conda tests/trust/testdata/":        "conda/testdata/",
		"conda INITIAL_TRUST_ROOT":           "conda/anaconda_1.root.json",
		"mamba libmamba/tests (VerifyGPGMsg": "conda/other/mamba_test_tools_verify_gpg_root.json",
	}
	reproduced, located := 0, 0
	for _, o := range kat.OpenPGP {
		pub, _ := trust.ParsePublicKey(o.Pub)
		sig, _ := hex.DecodeString(o.Signature)
		digest, _ := hex.DecodeString(o.DigestSHA256)
		// The signature is Ed25519 over the 32-byte digest itself.
		if !ed25519.Verify(pub[:], digest, sig) {
			t.Errorf("%s %s: signature does not verify over the digest", o.File, o.Pub[:8])
		}
		if key, ok := seeds[o.Pub]; ok && o.Reproduced {
			got, _ := key.Sign(digest)
			if !bytes.Equal(got, sig) {
				t.Errorf("%s %s: re-signing gives %x", o.File, o.Pub[:8], got)
			}
			reproduced++
		}
		// Where the shared upstream file is present, our canonical bytes
		// and digest must be the ones the reference signed.
		rel := ""
		for prefix, to := range files {
			if strings.HasPrefix(o.File, prefix) {
				rel = to
				if strings.HasSuffix(to, "/") {
					rel += strings.TrimPrefix(o.File, prefix)
				}
			}
		}
		if rel == "" {
			t.Fatalf("no file mapping for %q", o.File)
		}
		p, ok := testvectors.Find()
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(p, rel))
		if err != nil {
			t.Fatal(err)
		}
		env, err := trust.ParseEnvelope(data)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(env.SignedBytes())
		if hex.EncodeToString(sum[:]) != o.SignedSHA256 {
			t.Errorf("%s: canonical signed bytes hash %x, want %s", o.File, sum, o.SignedSHA256)
		}
		oh, _ := hex.DecodeString(o.OtherHeaders)
		if d := trust.OpenPGPDigest(env.SignedBytes(), oh); hex.EncodeToString(d[:]) != o.DigestSHA256 {
			t.Errorf("%s: digest %x, want %s", o.File, d, o.DigestSHA256)
		}
		located++
	}
	if reproduced != 11 {
		t.Errorf("reproduced %d OpenPGP signatures with known seeds, want 11", reproduced)
	}
	t.Logf("%d OpenPGP signatures checked against their documents, %d reproduced byte for byte", located, reproduced)
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	pub, err := signer.GenerateKeyFiles(dir, "root1")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, "root1.pri"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v, want 0600", st.Mode().Perm())
	}
	pri, _ := os.ReadFile(filepath.Join(dir, "root1.pri"))
	if len(pri) != 65 || pri[64] != '\n' || strings.ToLower(string(pri)) != string(pri) {
		t.Fatalf("private key file layout %q", pri)
	}
	pubFile, _ := os.ReadFile(filepath.Join(dir, "root1.pub"))
	if string(pubFile) != pub.String()+"\n" {
		t.Fatalf("public key file %q", pubFile)
	}
	k, err := signer.ReadKeyFile(filepath.Join(dir, "root1.pri"))
	if err != nil || k.Public() != pub {
		t.Fatalf("read back: %v", err)
	}
	if _, err := signer.ReadKeyFile(filepath.Join(dir, "root1.pub")); err == nil || !strings.Contains(err.Error(), "public key file") {
		t.Fatalf("a .pub file was read as a private key: %v", err)
	}
	_, err = signer.GenerateKeyFiles(dir, "root1")
	if !errors.Is(err, signer.ErrKeyExists) {
		t.Fatalf("second keygen: %v, want ErrKeyExists", err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "root1.pri")); !bytes.Equal(again, pri) {
		t.Fatal("private key was overwritten")
	}
	for _, bad := range []string{"../x", ".hidden", "a/b", ""} {
		if _, err := signer.GenerateKeyFiles(dir, bad); err == nil {
			t.Errorf("key name %q accepted", bad)
		}
	}
}

func TestReadKeyForms(t *testing.T) {
	seed, _ := hex.DecodeString("c9c2060d7e0d93616c2654840b4983d00221d8b6b69c850107da74b42168f937")
	const pub = "013ddd714962866d12ba5bae273f14d48c89cf0773dee2dbf6d4561e521c83f7"
	dir := t.TempDir()
	forms := map[string][]byte{
		"raw":       seed,
		"hex":       []byte(hex.EncodeToString(seed)),
		"hex-nl":    []byte(hex.EncodeToString(seed) + "\n"),
		"hex-upper": []byte("  " + strings.ToUpper(hex.EncodeToString(seed)) + " \r\n"),
	}
	for name, data := range forms {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		k, err := signer.ReadKeyFile(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if k.Public().String() != pub {
			t.Errorf("%s: public %s", name, k.Public())
		}
	}
	for name, data := range map[string][]byte{"short": []byte("abcd"), "nothex": []byte(strings.Repeat("z", 64)), "pem-rsa": []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		_, err := signer.ReadKeyFile(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
	// conda's test keys: hex with a newline, and PKCS#8 PEM.
	for _, name := range []string{"key_mgr.pri", "key_mgr.pem", "pkg_mgr.pri", "pkg_mgr.pem"} {
		p := testvectors.Path(t, "conda/testdata/keys/"+name)
		k, err := signer.ReadKeyFile(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pubName := strings.TrimSuffix(strings.TrimSuffix(name, ".pri"), ".pem") + ".pub"
		want, err := signer.ReadPublicKeyFile(testvectors.Path(t, "conda/testdata/keys/"+pubName))
		if err != nil || k.Public() != want {
			t.Fatalf("%s: public %s, want %s (%v)", name, k.Public(), want, err)
		}
	}
}

func TestSignedRootVerifies(t *testing.T) {
	r1, _ := signer.NewKey(bytes.Repeat([]byte{1}, 32))
	r2, _ := signer.NewKey(bytes.Repeat([]byte{2}, 32))
	km, _ := signer.NewKey(bytes.Repeat([]byte{3}, 32))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	env, err := trust.Build(trust.Params{Type: trust.RoleRoot, Version: 1, Timestamp: now, Expiration: now.AddDate(1, 0, 0),
		Delegations: map[string]trust.Delegation{
			trust.RoleRoot:   {Keys: []trust.PublicKey{r1.Public(), r2.Public()}, Threshold: 2},
			trust.RoleKeyMgr: {Keys: []trust.PublicKey{km.Public()}, Threshold: 1},
		}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(wantOK bool) {
		t.Helper()
		m, err := trust.MetadataFromEnvelope(env, trust.RoleRoot)
		if err != nil {
			t.Fatal(err)
		}
		_, err = trust.VerifyRoot(m, trust.Options{At: now}, true)
		if (err == nil) != wantOK {
			t.Fatalf("verify: %v, want ok=%v", err, wantOK)
		}
	}
	// Signers add their signatures one at a time, each from the file the
	// previous one wrote.
	if err := signer.SignEnvelope(env, r1, trust.FormOpenPGP, signer.OpenPGPOptions{Created: now}); err != nil {
		t.Fatal(err)
	}
	check(false)
	env, _ = trust.ParseEnvelope(env.Marshal())
	if err := signer.SignEnvelope(env, r2, trust.FormOpenPGP, signer.OpenPGPOptions{Created: now, SeeAlso: true}); err != nil {
		t.Fatal(err)
	}
	check(true)
	// A root signed by both keys is byte-stable through a parse/marshal.
	again, err := trust.ParseEnvelope(env.Marshal())
	if err != nil || !bytes.Equal(again.Marshal(), env.Marshal()) {
		t.Fatalf("re-marshal changed the document: %v", err)
	}
}

// libmamba's fixed test seeds derive the published public keys.
func TestReposerverKeys(t *testing.T) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(testvectors.Read(t, "mamba/upstream/reposerver-keys.json"), &keys); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, role := range []string{"key_mgr", "pkg_mgr"} {
		var k struct {
			Seed string `json:"private_seed_hex"`
			Pub  string `json:"public_hex"`
		}
		if err := json.Unmarshal(keys[role], &k); err != nil {
			t.Fatal(err)
		}
		seed, _ := hex.DecodeString(k.Seed)
		key, err := signer.NewKey(seed)
		if err != nil || key.Public().String() != k.Pub {
			t.Errorf("%s: %v %s, want %s", role, err, key.Public(), k.Pub)
		}
		n++
	}
	if n != 2 {
		t.Fatal("no keys checked")
	}
}
