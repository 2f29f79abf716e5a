package trust

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// OpenPGPDigest returns the 32-byte message an OpenPGP-style signature
// signs: SHA-256(data || otherHeaders || 0x04 0xFF || be32(len(otherHeaders))),
// the OpenPGP v4 signature hash (spec §6.1). Ed25519 signs the digest
// itself.
func OpenPGPDigest(data, otherHeaders []byte) [32]byte {
	h := sha256.New()
	h.Write(data)
	h.Write(otherHeaders)
	var trailer [6]byte
	trailer[0], trailer[1] = 0x04, 0xff
	binary.BigEndian.PutUint32(trailer[2:], uint32(len(otherHeaders)))
	h.Write(trailer[:])
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// OpenPGPHeaders returns the 35-byte hashed part of a v4 signature packet
// as GnuPG 2.2 writes it for an Ed25519 key (spec §6.2): version 4,
// binary-document signature, algorithm EdDSA, hash SHA-256, then an
// issuer-fingerprint and a creation-time subpacket.
func OpenPGPHeaders(fingerprint [20]byte, created time.Time) []byte {
	oh := make([]byte, 0, 35)
	oh = append(oh, 0x04, 0x00, 0x16, 0x08, 0x00, 0x1d)
	oh = append(oh, 0x16, 0x21, 0x04)
	oh = append(oh, fingerprint[:]...)
	oh = append(oh, 0x05, 0x02)
	return binary.BigEndian.AppendUint32(oh, uint32(created.Unix()))
}

// PseudoFingerprint is the stand-in issuer fingerprint used for keys that
// are not OpenPGP keys: the first 20 bytes of SHA-256 of the public key.
// It is informational only (the verifier never reads it) and is the same
// value the project's derived test vectors use.
func PseudoFingerprint(k PublicKey) [20]byte {
	sum := sha256.Sum256(k[:])
	var fp [20]byte
	copy(fp[:], sum[:20])
	return fp
}

// OpenPGPFingerprintV4 returns the OpenPGP v4 fingerprint of an Ed25519
// key (EdDSA legacy, algorithm 22) created at the given time, as GnuPG
// computes it (spec §2.4).
func OpenPGPFingerprintV4(k PublicKey, created time.Time) [20]byte {
	body := make([]byte, 0, 51)
	body = append(body, 0x04)
	body = binary.BigEndian.AppendUint32(body, uint32(created.Unix()))
	body = append(body, 0x16, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01, 0x01, 0x07, 0x40)
	body = append(body, k[:]...)
	h := sha1Sum(append([]byte{0x99, byte(len(body) >> 8), byte(len(body))}, body...))
	return h
}
