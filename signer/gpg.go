package signer

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/condatrust/condatrust/trust"
)

// This file converts what GnuPG produces for an Ed25519 key (a v4 detached
// signature, an exported public key) into the forms conda content trust
// uses (spec §2.4, §6.5), so root keys can stay on a smartcard or in gpg.
// Only the few packet fields needed are read; nothing here decides trust:
// every converted signature is verified against the canonical bytes before
// it is added.

// GPGSignature is a v4 OpenPGP signature packet reduced to what conda
// stores.
type GPGSignature struct {
	OtherHeaders []byte   // the hashed part: version through hashed subpackets
	Sig          []byte   // r || s, each left-padded to 32 bytes
	Issuer       [20]byte // issuer fingerprint subpacket, if present
	HasIssuer    bool
	Created      time.Time // signature creation time subpacket, if present
}

// ParseGPGSignature parses a detached signature made by
// `gpg --detach-sign --digest-algo SHA256` with an Ed25519 (EdDSA, algorithm
// 22) key, binary or ASCII-armored.
func ParseGPGSignature(data []byte) (*GPGSignature, error) {
	pkt, err := dearmor(data, "PGP SIGNATURE")
	if err != nil {
		return nil, err
	}
	tag, body, err := readPacket(pkt)
	if err != nil {
		return nil, err
	}
	if tag != 2 {
		return nil, fmt.Errorf("OpenPGP packet has tag %d, not a signature (2)", tag)
	}
	if len(body) < 6 {
		return nil, errors.New("signature packet too short")
	}
	switch {
	case body[0] != 4:
		return nil, fmt.Errorf("signature packet version %d: only v4 signatures fit conda's verification formula (v6 signatures use a salted hash)", body[0])
	case body[2] != 22:
		return nil, fmt.Errorf("public-key algorithm %d: conda needs an Ed25519 key as GnuPG makes it (EdDSA, algorithm 22)", body[2])
	case body[3] != 8:
		return nil, fmt.Errorf("hash algorithm %d: conda verifies SHA-256 (8) only; sign with --digest-algo SHA256", body[3])
	}
	hashedLen := int(binary.BigEndian.Uint16(body[4:6]))
	if len(body) < 6+hashedLen+2 {
		return nil, errors.New("signature packet truncated in the hashed subpackets")
	}
	g := &GPGSignature{OtherHeaders: append([]byte(nil), body[:6+hashedLen]...)}
	readSubpackets(body[6:6+hashedLen], g)
	rest := body[6+hashedLen:]
	unhashedLen := int(binary.BigEndian.Uint16(rest))
	if len(rest) < 2+unhashedLen+2 {
		return nil, errors.New("signature packet truncated in the unhashed subpackets")
	}
	rest = rest[2+unhashedLen+2:] // skip unhashed area and the left 16 bits of the hash
	var parts [2][]byte
	for i := range parts {
		mpi, n, err := readMPI(rest)
		if err != nil {
			return nil, fmt.Errorf("signature value: %w", err)
		}
		if len(mpi) > 32 {
			return nil, errors.New("signature value longer than 32 bytes: not an Ed25519 signature")
		}
		parts[i] = make([]byte, 32)
		copy(parts[i][32-len(mpi):], mpi)
		rest = rest[n:]
	}
	g.Sig = append(parts[0], parts[1]...)
	return g, nil
}

func readSubpackets(b []byte, g *GPGSignature) {
	for len(b) > 0 {
		l, n := subpacketLen(b)
		if n == 0 || l == 0 || len(b) < n+l {
			return
		}
		sp := b[n : n+l]
		switch sp[0] & 0x7f {
		case 33: // issuer fingerprint: version, fingerprint
			if len(sp) == 22 && sp[1] == 4 {
				copy(g.Issuer[:], sp[2:])
				g.HasIssuer = true
			}
		case 2: // creation time
			if len(sp) == 5 {
				g.Created = time.Unix(int64(binary.BigEndian.Uint32(sp[1:])), 0).UTC()
			}
		}
		b = b[n+l:]
	}
}

func subpacketLen(b []byte) (int, int) {
	switch {
	case b[0] < 192:
		return int(b[0]), 1
	case b[0] < 255 && len(b) >= 2:
		return (int(b[0])-192)<<8 + int(b[1]) + 192, 2
	case b[0] == 255 && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:5])), 5
	}
	return 0, 0
}

// GPGPublicKey is an Ed25519 key exported by GnuPG.
type GPGPublicKey struct {
	Key         trust.PublicKey // the 32 bytes conda uses as the key identifier
	Fingerprint [20]byte        // the OpenPGP v4 fingerprint
	Created     time.Time
}

// ParseGPGPublicKey reads the primary key of `gpg --export [--armor]`
// output, which must be an Ed25519 (EdDSA legacy) key.
func ParseGPGPublicKey(data []byte) (*GPGPublicKey, error) {
	pkt, err := dearmor(data, "PGP PUBLIC KEY BLOCK")
	if err != nil {
		return nil, err
	}
	tag, body, err := readPacket(pkt)
	if err != nil {
		return nil, err
	}
	if tag != 6 {
		return nil, fmt.Errorf("first OpenPGP packet has tag %d, not a public key (6)", tag)
	}
	oid := []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01}
	if len(body) < 6+1+len(oid) || body[0] != 4 || body[5] != 22 || int(body[6]) != len(oid) || !bytes.Equal(body[7:7+len(oid)], oid) {
		return nil, errors.New("not a v4 Ed25519 (EdDSA, curve Ed25519) public key")
	}
	point, _, err := readMPI(body[7+len(oid):])
	if err != nil || len(point) != 33 || point[0] != 0x40 {
		return nil, errors.New("Ed25519 public point is not 0x40 followed by 32 bytes")
	}
	k := &GPGPublicKey{Created: time.Unix(int64(binary.BigEndian.Uint32(body[1:5])), 0).UTC()}
	copy(k.Key[:], point[1:])
	k.Fingerprint = trust.OpenPGPFingerprintV4(k.Key, k.Created)
	return k, nil
}

// readPacket returns the tag and body of the first packet.
func readPacket(b []byte) (int, []byte, error) {
	if len(b) < 2 || b[0]&0x80 == 0 {
		return 0, nil, errors.New("not an OpenPGP packet")
	}
	var tag, n, hdr int
	if b[0]&0x40 != 0 { // new format
		tag = int(b[0] & 0x3f)
		switch o := b[1]; {
		case o < 192:
			n, hdr = int(o), 2
		case o < 224 && len(b) >= 3:
			n, hdr = (int(o)-192)<<8+int(b[2])+192, 3
		case o == 255 && len(b) >= 6:
			n, hdr = int(binary.BigEndian.Uint32(b[2:6])), 6
		default:
			return 0, nil, errors.New("OpenPGP partial body lengths are not supported")
		}
	} else { // old format
		tag = int(b[0]>>2) & 0x0f
		switch b[0] & 3 {
		case 0:
			n, hdr = int(b[1]), 2
		case 1:
			if len(b) < 3 {
				return 0, nil, errors.New("truncated OpenPGP packet header")
			}
			n, hdr = int(binary.BigEndian.Uint16(b[1:3])), 3
		case 2:
			if len(b) < 5 {
				return 0, nil, errors.New("truncated OpenPGP packet header")
			}
			n, hdr = int(binary.BigEndian.Uint32(b[1:5])), 5
		default:
			n, hdr = len(b)-1, 1
		}
	}
	if n < 0 || len(b) < hdr+n {
		return 0, nil, errors.New("truncated OpenPGP packet")
	}
	return tag, b[hdr : hdr+n], nil
}

func readMPI(b []byte) ([]byte, int, error) {
	if len(b) < 2 {
		return nil, 0, errors.New("truncated MPI")
	}
	bits := int(binary.BigEndian.Uint16(b))
	n := (bits + 7) / 8
	if len(b) < 2+n {
		return nil, 0, errors.New("truncated MPI")
	}
	return b[2 : 2+n], 2 + n, nil
}

// dearmor returns the binary content of ASCII armor of the given type, or
// data itself when it is not armored.
func dearmor(data []byte, label string) ([]byte, error) {
	text := string(data)
	begin := "-----BEGIN " + label + "-----"
	i := strings.Index(text, begin)
	if i < 0 {
		if strings.Contains(text, "-----BEGIN PGP") {
			return nil, fmt.Errorf("armored OpenPGP data is not a %q block", label)
		}
		return data, nil
	}
	text = text[i+len(begin):]
	j := strings.Index(text, "-----END "+label+"-----")
	if j < 0 {
		return nil, errors.New("armor has no END line")
	}
	var b64 strings.Builder
	lines := strings.Split(text[:j], "\n")
	inHeaders := true
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if inHeaders {
			if l == "" || strings.Contains(l, ": ") {
				continue
			}
			inHeaders = false
		}
		if strings.HasPrefix(l, "=") && len(l) == 5 { // CRC-24
			continue
		}
		b64.WriteString(l)
	}
	out, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil {
		return nil, fmt.Errorf("armor: %v", err)
	}
	return out, nil
}

// AddGPGSignature adds a signature made by GnuPG over env's canonical
// signed bytes (see [trust.Envelope.SignedBytes]) for the key pub, after
// checking that it verifies.
func AddGPGSignature(env *trust.Envelope, pub trust.PublicKey, g *GPGSignature, seeAlso bool) error {
	entry := trust.Signature{KeyID: pub.String(), Form: trust.FormOpenPGP, Sig: g.Sig, OtherHeaders: g.OtherHeaders}
	if seeAlso && g.HasIssuer {
		entry.SeeAlso = fmt.Sprintf("%x", g.Issuer)
	}
	probe := trust.Wrap(env.Signed)
	if err := probe.SetSignature(pub, entry); err != nil {
		return err
	}
	if !trust.CheckThreshold(probe, trust.Delegation{Keys: []trust.PublicKey{pub}, Threshold: 1}, trust.ModeOpenPGP).Met() {
		d := trust.OpenPGPDigest(env.SignedBytes(), g.OtherHeaders)
		sum := sha256.Sum256(env.SignedBytes())
		return fmt.Errorf("the GnuPG signature does not verify for key %s over this document (canonical bytes sha256 %x, digest %x): sign the file written by 'conda-trust signable' with that key", pub.Short(), sum[:8], d[:8])
	}
	return env.SetSignature(pub, entry)
}
