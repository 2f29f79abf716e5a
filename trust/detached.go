package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/condatrust/condatrust/canonjson"
)

// MaxDetachedSize bounds a detached signature file. One entry takes about
// 300 bytes, so this leaves room for hundreds of signatures.
const MaxDetachedSize = 256 << 10

// Detached is a detached signature file: signature entries over one
// metadata document, without the document, so that key holders on
// separate offline machines exchange only signatures. It reads
//
//	{"signatures": {"<keyid>": {"other_headers": "<hex>", "signature": "<hex>"}},
//	 "signed_sha256": "<hex>", "type": "root", "version": 2}
//
// Entries have exactly the shapes of an envelope's signature entries
// (spec §4). SignedSHA256 is the SHA-256 of the document's canonical
// signed bytes ([Envelope.SignedBytes]); [Detached.Matches] compares it
// before any signature is looked at. Type and version are informational:
// the digest is what binds the file to a document.
type Detached struct {
	Type         string
	Version      int64
	SignedSHA256 [32]byte
	Signatures   []Signature // sorted by KeyID, each a valid public key
}

// NewDetached returns the entries of m's envelope by keys as a detached
// signature file. Every key must have signed m.
func NewDetached(m *Metadata, keys []PublicKey) (*Detached, error) {
	d := &Detached{Type: m.Type, Version: m.Version, SignedSHA256: sha256.Sum256(m.Envelope.SignedBytes())}
	for _, k := range keys {
		s, ok := m.Envelope.SignatureBy(k)
		if !ok || s.Form == FormMalformed {
			return nil, fmt.Errorf("%s has no signature by key %s", m.Name(), k.Short())
		}
		if !slices.ContainsFunc(d.Signatures, func(o Signature) bool { return o.KeyID == s.KeyID }) {
			d.Signatures = append(d.Signatures, s)
		}
	}
	if len(d.Signatures) == 0 {
		return nil, fmt.Errorf("a detached signature file needs at least one signature")
	}
	slices.SortFunc(d.Signatures, func(a, b Signature) int {
		if a.KeyID < b.KeyID {
			return -1
		}
		if a.KeyID > b.KeyID {
			return 1
		}
		return 0
	})
	return d, nil
}

// Matches reports whether d was made over env's exact signed bytes.
func (d *Detached) Matches(env *Envelope) bool {
	return sha256.Sum256(env.SignedBytes()) == d.SignedSHA256
}

// Marshal returns d in canonical form (no trailing newline).
func (d *Detached) Marshal() []byte {
	env := Wrap(canonjson.NewNull())
	for _, s := range d.Signatures {
		k, err := ParsePublicKey(s.KeyID)
		if err != nil {
			panic(fmt.Sprintf("trust: Detached with key id %q: %v", s.KeyID, err))
		}
		if err := env.SetSignature(k, s); err != nil {
			panic(fmt.Sprintf("trust: Detached entry for %s: %v", k.Short(), err))
		}
	}
	return canonjson.Marshal(mustObject(map[string]canonjson.Value{
		"signatures":    env.sigs,
		"signed_sha256": canonjson.MustString(hex.EncodeToString(d.SignedSHA256[:])),
		"type":          canonjson.MustString(d.Type),
		"version":       canonjson.NewInt(d.Version),
	}))
}

// ParseDetached parses a detached signature file strictly: at most
// [MaxDetachedSize] bytes, no duplicate key at any depth, exactly the
// four top-level members, a known role, a version in range, a 64-hex
// digest, and at least one entry, each filed under a 64-lowercase-hex key
// and of an accepted shape. Errors are [*FormatError]s.
func ParseDetached(data []byte) (*Detached, error) {
	bad := func(field, format string, args ...any) error {
		return &FormatError{Role: "detached signatures", Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxDetachedSize {
		return nil, bad("", "%d bytes, more than the %d a detached signature file may have", len(data), MaxDetachedSize)
	}
	v, err := canonjson.ParseUnique(data)
	if err != nil {
		return nil, bad("", "%v", err)
	}
	if v.Kind() != canonjson.Object {
		return nil, bad("", "a detached signature file is a JSON object, found %s", v.Kind())
	}
	if keys := v.Keys(); !slices.Equal(keys, []string{"signatures", "signed_sha256", "type", "version"}) {
		return nil, bad("", `want exactly the keys "signatures", "signed_sha256", "type" and "version", found %q`, keys)
	}
	d := &Detached{}
	tv, _ := v.Get("type")
	switch t := tv.Str(); {
	case tv.Kind() != canonjson.String:
		return nil, bad("type", "must be a string, found %s", tv.Kind())
	case t != RoleRoot && t != RoleKeyMgr && t != RolePkgMgr:
		return nil, bad("type", "%q is not root, key_mgr or pkg_mgr", abbreviate(t))
	default:
		d.Type = t
	}
	vv, _ := v.Get("version")
	n, ok := vv.Int64()
	if !vv.IsInteger() || !ok || n < 1 || n > MaxVersion {
		return nil, bad("version", "must be an integer from 1 to %d", int64(MaxVersion))
	}
	d.Version = n
	hv, _ := v.Get("signed_sha256")
	if h := hv.Str(); hv.Kind() != canonjson.String || len(h) != 64 || !isLowerHex(h) {
		return nil, bad("signed_sha256", "must be 64 lowercase hex characters")
	} else {
		hex.Decode(d.SignedSHA256[:], []byte(h))
	}
	sv, _ := v.Get("signatures")
	if sv.Kind() != canonjson.Object {
		return nil, bad("signatures", "must be an object, found %s", sv.Kind())
	}
	ms := sv.Members()
	if len(ms) == 0 {
		return nil, bad("signatures", "has no entry")
	}
	for _, m := range ms {
		id := string(m.Key)
		if _, err := ParsePublicKey(id); err != nil {
			return nil, bad("signatures", "%v", err)
		}
		s := parseEntry(id, m.Value)
		if s.Form == FormMalformed {
			return nil, bad("signatures."+id, "%s", s.Problem)
		}
		d.Signatures = append(d.Signatures, s)
	}
	return d, nil
}
