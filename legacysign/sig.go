package legacysign

import (
	"encoding/base64"
	"fmt"
)

// MaxSigFileSize bounds a `.sig` file. A valid one is at most about 2.9 KB
// (a 128-character name and the base64 of a 16384-bit signature); anything
// larger is malformed and is not read further.
const MaxSigFileSize = 8 << 10

// Signature is the content of a `.sig` file.
type Signature struct {
	// KeyName names the public key KEYS/KeyName.pub that verifies Value.
	KeyName string
	// Value is the RSASSA-PSS signature, exactly as many bytes as the
	// signing key's modulus (leading zero bytes kept).
	Value []byte
}

// Marshal returns the `.sig` file content: the key name, one space, the
// standard padded base64 of Value, and a newline.
func (s *Signature) Marshal() []byte {
	b := make([]byte, 0, len(s.KeyName)+1+base64.StdEncoding.EncodedLen(len(s.Value))+1)
	b = append(b, s.KeyName...)
	b = append(b, ' ')
	b = base64.StdEncoding.AppendEncode(b, s.Value)
	return append(b, '\n')
}

// ParseSignature parses a `.sig` file: exactly two tokens separated by
// ASCII whitespace (space, tab, CR, LF, VT, FF), a key name accepted by
// [CheckKeyName] and a signature in standard base64 with `=` padding and no
// other characters. Errors match [ErrMalformedSig]; a bad key name also
// matches [ErrBadKeyName]. The signature length is checked against the key
// later, by the [Verifier].
func ParseSignature(data []byte) (*Signature, error) {
	if len(data) > MaxSigFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformedSig, MaxSigFileSize)
	}
	fields := asciiFields(data)
	if len(fields) != 2 {
		return nil, fmt.Errorf("%w: want two fields \"NAME BASE64\", found %d", ErrMalformedSig, len(fields))
	}
	name := string(fields[0])
	if err := CheckKeyName(name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSig, err)
	}
	value, err := base64.StdEncoding.Strict().DecodeString(string(fields[1]))
	if err != nil || len(value) == 0 {
		return nil, fmt.Errorf("%w: the signature is not valid base64", ErrMalformedSig)
	}
	return &Signature{KeyName: name, Value: value}, nil
}

// asciiFields splits data on runs of ASCII whitespace, like Python's
// bytes.split() with no argument (what the historical parser used), and
// unlike strings.Fields, which also splits on Unicode spaces.
func asciiFields(data []byte) [][]byte {
	var fields [][]byte
	start := -1
	for i, c := range data {
		space := c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
		switch {
		case space && start >= 0:
			fields = append(fields, data[start:i])
			start = -1
		case !space && start < 0:
			start = i
		}
	}
	if start >= 0 {
		fields = append(fields, data[start:])
	}
	return fields
}
