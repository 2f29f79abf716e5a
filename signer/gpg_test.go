package signer_test

import (
	"encoding/hex"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// The reference's two GnuPG test keys give the metadata key and the v4
// fingerprint of spec §2.4.
func TestParseGPGPublicKeyVectors(t *testing.T) {
	for _, c := range []struct{ file, pub, fp string }{
		{"cct/testdata/test_key_1_268B62D0.pub.asc", "c8bd83b3bfc991face417d97b9c0db011b5d256476b602b92fec92849fc2b36c", "917adb684e2e9fb5ed4e59909ddd19a1268b62d0"},
		{"cct/testdata/test_key_2_7DB43643.pub.asc", "a59cea0987ee9046d68d2d011e919eb9278e3f478cca77f5204d65191ff8d7a5", "0a14b126c986f276831c7b04134f35b47db43643"},
	} {
		k, err := signer.ParseGPGPublicKey(testvectors.Read(t, c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if k.Key.String() != c.pub || hex.EncodeToString(k.Fingerprint[:]) != c.fp {
			t.Errorf("%s: key %s fingerprint %x, want %s %s", c.file, k.Key, k.Fingerprint, c.pub, c.fp)
		}
	}
}

// A signature packet built from a known entry of the reference chain
// parses back to the same other_headers and signature.
func TestParseGPGSignatureRoundTrip(t *testing.T) {
	env, err := trust.ParseEnvelope(testvectors.ReadLocal(t, "vectors/cct/harness_chain/1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := env.Signatures()[0]
	pkt := gpgPacket(s.OtherHeaders, s.Sig)
	g, err := signer.ParseGPGSignature(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(g.OtherHeaders) != hex.EncodeToString(s.OtherHeaders) || hex.EncodeToString(g.Sig) != hex.EncodeToString(s.Sig) {
		t.Fatal("round trip changed the signature")
	}
	if !g.HasIssuer || hex.EncodeToString(g.Issuer[:]) != "917adb684e2e9fb5ed4e59909ddd19a1268b62d0" || g.Created.Unix() != 1767225600 {
		t.Fatalf("issuer %x created %v", g.Issuer, g.Created)
	}
	k, _ := trust.ParsePublicKey(s.KeyID)
	fresh := trust.Wrap(env.Signed)
	if err := signer.AddGPGSignature(fresh, k, g, true); err != nil {
		t.Fatal(err)
	}
	wrong := trust.Wrap(env.Signed)
	other, _ := trust.ParsePublicKey("a59cea0987ee9046d68d2d011e919eb9278e3f478cca77f5204d65191ff8d7a5")
	if err := signer.AddGPGSignature(wrong, other, g, false); err == nil {
		t.Fatal("a signature added under the wrong key")
	}
}

// gpgPacket builds a new-format v4 signature packet as GnuPG writes it.
func gpgPacket(otherHeaders, sig []byte) []byte {
	body := append([]byte(nil), otherHeaders...)
	body = append(body, 0, 0)       // no unhashed subpackets
	body = append(body, 0xab, 0xcd) // left 16 bits of the hash (not checked)
	for _, part := range [][]byte{sig[:32], sig[32:]} {
		i := 0
		for i < len(part)-1 && part[i] == 0 {
			i++
		}
		v := part[i:]
		bits := len(v)*8 - leadingZeros(v[0])
		body = append(body, byte(bits>>8), byte(bits))
		body = append(body, v...)
	}
	return append([]byte{0xc2, byte(len(body))}, body...)
}

func leadingZeros(b byte) int {
	n := 0
	for i := 7; i >= 0 && b&(1<<i) == 0; i-- {
		n++
	}
	return n
}

func FuzzParseGPG(f *testing.F) {
	env, _ := trust.ParseEnvelope(testvectors.ReadLocal(f, "vectors/cct/harness_chain/1.root.json"))
	s := env.Signatures()[0]
	f.Add(gpgPacket(s.OtherHeaders, s.Sig))
	f.Add([]byte("-----BEGIN PGP SIGNATURE-----\n\nwnUEABYIAB0WIQQ=\n=abcd\n-----END PGP SIGNATURE-----\n"))
	f.Add([]byte{0x99, 0x00, 0x33, 0x04})
	f.Fuzz(func(t *testing.T, data []byte) {
		if g, err := signer.ParseGPGSignature(data); err == nil && len(g.Sig) != 64 {
			t.Fatalf("signature of %d bytes", len(g.Sig))
		}
		signer.ParseGPGPublicKey(data)
	})
}

// FuzzParsePrivateKey: the key file parser never panics and never accepts
// anything but a 32-byte seed.
func FuzzParsePrivateKey(f *testing.F) {
	f.Add([]byte("c9c2060d7e0d93616c2654840b4983d00221d8b6b69c850107da74b42168f937\n"))
	f.Add(make([]byte, 32))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIMnCBg1+DZNhbCZUhAtJg9ACIdi2tpyFAQfadLQhaPk3\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := signer.ParsePrivateKey(data)
		if err == nil && len(k.Seed()) != 32 {
			t.Fatalf("seed of %d bytes", len(k.Seed()))
		}
	})
}
