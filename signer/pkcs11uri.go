package signer

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
)

// PKCS11URI is a parsed RFC 7512 PKCS#11 URI naming a key in a token:
//
//	pkcs11:token=LABEL;object=LABEL;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/hsm.pin
//
// Path attributes select the token (token, manufacturer, serial, model,
// slot-id) and the key (object, id, type=private); query attributes name
// the PKCS#11 module (module-path) and where the user PIN is read from
// (pin-source: a file, never the command line). pin-value is refused: a
// PIN in a URI ends up in shell history and in the process list.
type PKCS11URI struct {
	Token, Manufacturer, Serial, Model string
	SlotID                             *uint
	Object                             string // CKA_LABEL of the key objects
	ID                                 []byte // CKA_ID of the key objects
	HasID                              bool
	Type                               string // "" or "private"
	ModulePath                         string
	PINSource                          string // a file path (file: stripped)
}

// ErrPKCS11URI marks a PKCS#11 URI that cannot be used as written.
var ErrPKCS11URI = errors.New("invalid PKCS#11 URI")

// pkcs11URIError names the reference (with its query redacted) and the
// attribute at fault.
func pkcs11URIError(ref, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrPKCS11URI, redactPKCS11(ref), fmt.Sprintf(format, args...))
}

// ParsePKCS11URI parses a pkcs11: key reference. Attribute values are
// percent-decoded; each attribute may appear once; attributes this tool
// does not use are refused rather than silently ignored, since a URI that
// selects less than its writer meant could pick another key.
func ParsePKCS11URI(ref string) (*PKCS11URI, error) {
	scheme, rest, ok := strings.Cut(ref, ":")
	if !ok || !strings.EqualFold(scheme, "pkcs11") {
		return nil, pkcs11URIError(ref, "does not start with pkcs11:")
	}
	path, query, _ := strings.Cut(rest, "?")
	u := &PKCS11URI{}
	seen := map[string]bool{}
	for _, attr := range splitNonEmpty(path, ";") {
		name, raw, ok := strings.Cut(attr, "=")
		if !ok {
			return nil, pkcs11URIError(ref, "path attribute %q has no value (write name=value)", attr)
		}
		name = strings.ToLower(name)
		if seen[name] {
			return nil, pkcs11URIError(ref, "attribute %q appears twice", name)
		}
		seen[name] = true
		val, err := url.PathUnescape(raw)
		if err != nil {
			return nil, pkcs11URIError(ref, "attribute %s: bad percent-encoding: %v", name, err)
		}
		switch name {
		case "token":
			u.Token = val
		case "manufacturer":
			u.Manufacturer = val
		case "serial":
			u.Serial = val
		case "model":
			u.Model = val
		case "slot-id":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return nil, pkcs11URIError(ref, "slot-id %q is not a decimal number", val)
			}
			id := uint(n)
			u.SlotID = &id
		case "object":
			u.Object = val
		case "id":
			u.ID, u.HasID = []byte(val), true
		case "type":
			if val != "private" {
				return nil, pkcs11URIError(ref, "type=%s: a signing key is type=private (or leave type out)", val)
			}
			u.Type = val
		case "library-description", "library-manufacturer", "library-version", "slot-description", "slot-manufacturer":
			return nil, pkcs11URIError(ref, "attribute %q is not supported: select the module with module-path and the token with token, serial or slot-id", name)
		default:
			return nil, pkcs11URIError(ref, "unknown path attribute %q (known: token, manufacturer, serial, model, slot-id, object, id, type)", name)
		}
	}
	for _, attr := range splitNonEmpty(query, "&") {
		name, raw, ok := strings.Cut(attr, "=")
		if !ok {
			return nil, pkcs11URIError(ref, "query attribute %q has no value", attr)
		}
		name = strings.ToLower(name)
		if seen["?"+name] {
			return nil, pkcs11URIError(ref, "attribute %q appears twice", name)
		}
		seen["?"+name] = true
		val, err := url.PathUnescape(raw)
		if err != nil {
			return nil, pkcs11URIError(ref, "attribute %s: bad percent-encoding: %v", name, err)
		}
		switch name {
		case "module-path":
			u.ModulePath = val
		case "pin-source":
			p := val
			if after, ok := strings.CutPrefix(p, "file:"); ok {
				p = after
				p = strings.TrimPrefix(p, "//") // file:///path
			} else if scheme, _, ok := strings.Cut(p, ":"); ok && isScheme(scheme) {
				return nil, pkcs11URIError(ref, "pin-source %q: only files are supported (pin-source=file:/path/to/pin)", val)
			}
			if p == "" {
				return nil, pkcs11URIError(ref, "pin-source is empty")
			}
			u.PINSource = p
		case "pin-value":
			return nil, pkcs11URIError(ref, "pin-value puts the PIN on the command line in clear, visible in the process list and shell history: write it to a file only you can read and give pin-source=file:PATH, or set %s", PKCS11PINEnv)
		case "module-name":
			return nil, pkcs11URIError(ref, "module-name is not supported: give the module's file with module-path=/path/to/module.so (or set %s)", PKCS11ModuleEnv)
		default:
			return nil, pkcs11URIError(ref, "unknown query attribute %q (known: module-path, pin-source)", name)
		}
	}
	if u.Object == "" && !u.HasID {
		return nil, pkcs11URIError(ref, "name the key with object=LABEL and/or id=%%HEX")
	}
	if u.ModulePath == "" {
		u.ModulePath = os.Getenv(PKCS11ModuleEnv)
	}
	if u.ModulePath == "" {
		return nil, pkcs11URIError(ref, "no PKCS#11 module: add ?module-path=/path/to/module.so (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so) or set %s", PKCS11ModuleEnv)
	}
	return u, nil
}

func splitNonEmpty(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// String returns the URI in a canonical form (attributes in a fixed
// order, percent-encoded); it holds no PIN, only where the PIN is read
// from.
func (u *PKCS11URI) String() string {
	var path []string
	add := func(name, val string) {
		if val != "" {
			path = append(path, name+"="+pkcs11Escape([]byte(val)))
		}
	}
	add("token", u.Token)
	add("manufacturer", u.Manufacturer)
	add("serial", u.Serial)
	add("model", u.Model)
	if u.SlotID != nil {
		path = append(path, "slot-id="+strconv.FormatUint(uint64(*u.SlotID), 10))
	}
	add("object", u.Object)
	if u.HasID {
		path = append(path, "id="+pkcs11EscapeAll(u.ID))
	}
	add("type", u.Type)
	var query []string
	if u.ModulePath != "" {
		query = append(query, "module-path="+pkcs11Escape([]byte(u.ModulePath)))
	}
	if u.PINSource != "" {
		query = append(query, "pin-source="+pkcs11Escape([]byte("file:"+u.PINSource)))
	}
	s := "pkcs11:" + strings.Join(path, ";")
	if len(query) > 0 {
		s += "?" + strings.Join(query, "&")
	}
	return s
}

// pkcs11Escape percent-encodes what RFC 7512 does not allow unescaped in
// an attribute value.
func pkcs11Escape(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == ':', c == '[', c == ']', c == '@', c == '!', c == '$', c == '\'', c == '(', c == ')', c == '*', c == '+', c == ',', c == '/':
			sb.WriteByte(c)
		default:
			fmt.Fprintf(&sb, "%%%02X", c)
		}
	}
	return sb.String()
}

// pkcs11EscapeAll percent-encodes every byte, the usual form of id.
func pkcs11EscapeAll(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "%%%02X", c)
	}
	return sb.String()
}

// Environment variables PKCS#11 references read.
const (
	// PKCS11PINEnv holds the user PIN when the URI has no pin-source.
	PKCS11PINEnv = "CONDATRUST_PKCS11_PIN"
	// PKCS11ModuleEnv names the module when the URI has no module-path.
	PKCS11ModuleEnv = "CONDATRUST_PKCS11_MODULE"
)

// ReadPIN returns the user PIN for u: the pin-source file's content (one
// trailing newline removed; the file must not be readable by group or
// others), else the environment variable [PKCS11PINEnv]. It returns
// ok=false when neither is given, so the caller may prompt.
func (u *PKCS11URI) ReadPIN() (pin string, ok bool, err error) {
	if u.PINSource != "" {
		fi, err := os.Stat(u.PINSource)
		if err != nil {
			return "", false, fmt.Errorf("pin-source %s: %w", u.PINSource, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return "", false, fmt.Errorf("pin-source %s is readable by others (mode %04o): chmod 600 it first", u.PINSource, fi.Mode().Perm())
		}
		b, err := os.ReadFile(u.PINSource)
		if err != nil {
			return "", false, fmt.Errorf("pin-source %s: %w", u.PINSource, err)
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s == "" {
			return "", false, fmt.Errorf("pin-source %s is empty", u.PINSource)
		}
		return s, true, nil
	}
	if v, set := os.LookupEnv(PKCS11PINEnv); set && v != "" {
		return v, true, nil
	}
	return "", false, nil
}

// PKCS11Provider opens and creates keys in PKCS#11 tokens. It lives in a
// leaf package built with cgo (signer/pkcs11key, build tag pkcs11), which
// registers itself with [RegisterPKCS11]; this package stays pure Go.
type PKCS11Provider interface {
	// Open returns a signer for the Ed25519 private key u names.
	Open(u *PKCS11URI) (Signer, error)
	// Generate creates an Ed25519 key pair inside the token (the private
	// key never leaves it) and returns its signer and the URI naming it.
	Generate(u *PKCS11URI) (Signer, *PKCS11URI, error)
}

var (
	pkcs11Mu       sync.Mutex
	pkcs11Provider PKCS11Provider
)

// RegisterPKCS11 installs the PKCS#11 implementation pkcs11: references
// use. It is called by signer/pkcs11key's init.
func RegisterPKCS11(p PKCS11Provider) {
	pkcs11Mu.Lock()
	defer pkcs11Mu.Unlock()
	pkcs11Provider = p
}

// ErrNoPKCS11 is returned for pkcs11: references by a build without
// PKCS#11 support.
var ErrNoPKCS11 = errors.New("this build has no PKCS#11 support: build with `make build` (go build -tags pkcs11, needs cgo) to use keys in tokens")

func openPKCS11(ref string) (Signer, error) {
	u, err := ParsePKCS11URI(ref)
	if err != nil {
		return nil, err
	}
	pkcs11Mu.Lock()
	p := pkcs11Provider
	pkcs11Mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("key reference %s: %w", redactPKCS11(ref), ErrNoPKCS11)
	}
	return p.Open(u)
}

// GeneratePKCS11 creates an Ed25519 key pair inside the token ref names
// (which must not hold an object with the same label or id) and returns
// its signer and the reference that names the new key (with its id).
func GeneratePKCS11(ref string) (Signer, string, error) {
	u, err := ParsePKCS11URI(ref)
	if err != nil {
		return nil, "", err
	}
	pkcs11Mu.Lock()
	p := pkcs11Provider
	pkcs11Mu.Unlock()
	if p == nil {
		return nil, "", fmt.Errorf("key reference %s: %w", redactPKCS11(ref), ErrNoPKCS11)
	}
	s, nu, err := p.Generate(u)
	if err != nil {
		return nil, "", err
	}
	return s, nu.String(), nil
}

// Close releases what a signer holds (PKCS#11 sessions); it does nothing
// for signers that hold nothing.
func Close(s Signer) error {
	if c, ok := s.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}
