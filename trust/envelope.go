package trust

import (
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/condatrust/condatrust/canonjson"
)

// Form is the shape of one signature entry (spec §4).
type Form int

// The shapes a signature entry can have.
const (
	// FormMalformed is an entry of neither accepted shape. It is ignored
	// when counting signatures.
	FormMalformed Form = iota
	// FormRaw is {"signature": <128 hex>}: Ed25519 over the canonical bytes.
	FormRaw
	// FormOpenPGP is {"other_headers": <hex>, "signature": <128 hex>} with
	// an optional "see_also": Ed25519 over an OpenPGP v4 digest.
	FormOpenPGP
)

func (f Form) String() string {
	switch f {
	case FormRaw:
		return "raw"
	case FormOpenPGP:
		return "openpgp"
	}
	return "malformed"
}

// Signature is one entry of an envelope's "signatures" object.
type Signature struct {
	KeyID        string // the member name, as written (valid or not)
	Form         Form
	Sig          []byte // 64 bytes, for raw and OpenPGP forms
	OtherHeaders []byte // OpenPGP form: the hashed part of the v4 signature packet
	SeeAlso      string // OpenPGP form, optional: the signer's 40-hex GnuPG fingerprint
	Problem      string // FormMalformed: why the entry has no accepted shape
}

// Envelope is a signable document: {"signatures": {...}, "signed": ...}.
// Only the canonical bytes of Signed are authenticated.
type Envelope struct {
	Signed canonjson.Value
	sigs   canonjson.Value // the "signatures" object as parsed, so unknown entries survive a rewrite
	signed []byte          // cached canonical bytes of Signed
}

// Wrap returns an unsigned envelope around signed.
func Wrap(signed canonjson.Value) *Envelope {
	return &Envelope{Signed: signed, sigs: mustObject(nil)}
}

func mustObject(m map[string]canonjson.Value) canonjson.Value {
	v, err := canonjson.NewObject(m)
	if err != nil {
		panic(err)
	}
	return v
}

// ParseEnvelope parses a signed document. Its top-level keys must be
// exactly "signatures" (an object) and "signed". Signature entries of an
// unknown shape are kept and reported by [Envelope.Signatures] as
// [FormMalformed]; they never count towards a threshold.
func ParseEnvelope(data []byte) (*Envelope, error) {
	v, err := canonjson.Parse(data)
	if err != nil {
		return nil, &FormatError{Reason: err.Error()}
	}
	return EnvelopeFromValue(v)
}

// EnvelopeFromValue is [ParseEnvelope] for an already parsed value.
func EnvelopeFromValue(v canonjson.Value) (*Envelope, error) {
	if v.Kind() != canonjson.Object {
		return nil, &FormatError{Reason: fmt.Sprintf("a signed document is a JSON object, found %s", v.Kind())}
	}
	keys := v.Keys()
	if !slices.Equal(keys, []string{"signatures", "signed"}) {
		return nil, &FormatError{Reason: fmt.Sprintf(`a signed document has exactly the keys "signatures" and "signed", found %q`, keys)}
	}
	sigs, _ := v.Get("signatures")
	if sigs.Kind() != canonjson.Object {
		return nil, &FormatError{Field: "signatures", Reason: fmt.Sprintf("must be an object, found %s", sigs.Kind())}
	}
	signed, _ := v.Get("signed")
	return &Envelope{Signed: signed, sigs: sigs}, nil
}

// SignedBytes returns the canonical serialization of Signed: the bytes
// that raw signatures sign and that the OpenPGP digest starts with.
func (e *Envelope) SignedBytes() []byte {
	if e.signed == nil {
		e.signed = canonjson.Marshal(e.Signed)
	}
	return e.signed
}

// Signatures returns every signature entry, sorted by key identifier.
func (e *Envelope) Signatures() []Signature {
	ms := e.sigs.Members()
	out := make([]Signature, len(ms))
	for i, m := range ms {
		out[i] = parseEntry(string(m.Key), m.Value)
	}
	return out
}

// SignatureBy returns the entry filed under key.
func (e *Envelope) SignatureBy(key PublicKey) (Signature, bool) {
	v, ok := e.sigs.Get(key.String())
	if !ok {
		return Signature{}, false
	}
	return parseEntry(key.String(), v), true
}

// SetSignature files s under key, replacing an earlier entry by that key.
func (e *Envelope) SetSignature(key PublicKey, s Signature) error {
	entry := map[string]canonjson.Value{
		"signature": canonjson.MustString(hex.EncodeToString(s.Sig)),
	}
	switch s.Form {
	case FormRaw:
	case FormOpenPGP:
		if len(s.OtherHeaders) == 0 {
			return fmt.Errorf("OpenPGP-style signature without other_headers")
		}
		entry["other_headers"] = canonjson.MustString(hex.EncodeToString(s.OtherHeaders))
		if s.SeeAlso != "" {
			if len(s.SeeAlso) != 40 || !isLowerHex(s.SeeAlso) {
				return fmt.Errorf("see_also %q is not a 40-hex fingerprint", s.SeeAlso)
			}
			entry["see_also"] = canonjson.MustString(s.SeeAlso)
		}
	default:
		return fmt.Errorf("cannot store a signature of form %s", s.Form)
	}
	if len(s.Sig) != 64 {
		return fmt.Errorf("an Ed25519 signature has 64 bytes, got %d", len(s.Sig))
	}
	sigs, err := e.sigs.With(key.String(), mustObject(entry))
	if err != nil {
		return err
	}
	e.sigs = sigs
	return nil
}

// RemoveSignature drops the entry filed under keyID, if any.
func (e *Envelope) RemoveSignature(keyID string) {
	e.sigs = e.sigs.Without(keyID)
}

// Value returns the whole envelope as a JSON value.
func (e *Envelope) Value() canonjson.Value {
	return mustObject(map[string]canonjson.Value{"signatures": e.sigs, "signed": e.Signed})
}

// Marshal returns the canonical serialization of the whole envelope, the
// form the reference tools write (no trailing newline).
func (e *Envelope) Marshal() []byte {
	return canonjson.Marshal(e.Value())
}

func parseEntry(keyID string, v canonjson.Value) Signature {
	s := Signature{KeyID: keyID}
	bad := func(why string) Signature {
		s.Form, s.Problem = FormMalformed, why
		return s
	}
	if v.Kind() != canonjson.Object {
		return bad("entry is not an object")
	}
	keys := v.Keys()
	var form Form
	switch {
	case slices.Equal(keys, []string{"signature"}):
		form = FormRaw
	case slices.Equal(keys, []string{"other_headers", "signature"}),
		slices.Equal(keys, []string{"other_headers", "see_also", "signature"}):
		form = FormOpenPGP
	default:
		return bad(fmt.Sprintf("unexpected keys %q", keys))
	}
	sigv, _ := v.Get("signature")
	sig := sigv.Str()
	if sigv.Kind() != canonjson.String || len(sig) != 128 || !isLowerHex(sig) {
		return bad("signature is not 128 lowercase hex characters")
	}
	s.Sig, _ = hex.DecodeString(sig)
	if form == FormOpenPGP {
		ohv, _ := v.Get("other_headers")
		oh := ohv.Str()
		if ohv.Kind() != canonjson.String || oh == "" || len(oh)%2 != 0 || !isLowerHex(oh) {
			return bad("other_headers is not non-empty lowercase hex of even length")
		}
		s.OtherHeaders, _ = hex.DecodeString(oh)
		if sa, ok := v.Get("see_also"); ok {
			if sa.Kind() != canonjson.String || len(sa.Str()) != 40 || !isLowerHex(sa.Str()) {
				return bad("see_also is not 40 lowercase hex characters")
			}
			s.SeeAlso = sa.Str()
		}
	}
	s.Form = form
	return s
}
