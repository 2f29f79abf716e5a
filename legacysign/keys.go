package legacysign

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/condatrust/condatrust/internal/atomicfile"
)

// Key sizes, in bits.
const (
	// DefaultKeyBits is the size [GenerateKey] uses when none is given.
	DefaultKeyBits = 2048
	// MinKeyBits is the smallest size [GenerateKey] makes without
	// [KeyOptions.AllowInsecureSize]; a [Verifier] reports keys below it
	// through [Verifier.WeakKey].
	MinKeyBits = 2048
	// MinInsecureKeyBits is the smallest size made or accepted at all.
	MinInsecureKeyBits = 1024
	// MaxKeyBits is the largest size made or accepted: larger keys only make
	// every verification slower.
	MaxKeyBits = 16384
)

// KeysDirEnv is the environment variable that overrides the default key
// directory ~/.conda/keys.
const KeysDirEnv = "CONDA_KEYS_DIR"

// maxKeyFile bounds what is read from a key file; a 16384-bit private key
// in PEM is about 12 KiB.
const maxKeyFile = 64 << 10

// Errors about keys. They are operational errors, not verification
// verdicts (see [VerifyError]).
var (
	// ErrBadKeyName means a key name does not follow the rule of
	// [CheckKeyName].
	ErrBadKeyName = errors.New("invalid key name")
	// ErrKeySize means a key is too small or too large.
	ErrKeySize = errors.New("unsupported key size")
	// ErrMalformedKey means a key file is not a PEM-encoded RSA key of the
	// expected kind.
	ErrMalformedKey = errors.New("malformed key file")
	// ErrNoPrivateKey means the key directory holds no private key.
	ErrNoPrivateKey = errors.New("no private key found")
	// ErrSeveralPrivateKeys means the key directory holds more than one
	// private key and none was named.
	ErrSeveralPrivateKeys = errors.New("more than one private key found")
)

// CheckKeyName reports whether name may be used as a key name: it must
// match ^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$ and must not contain "..".
// Such a name has no path separator and never starts with a dot, so it
// always names a file directly inside the key directory. The error matches
// [ErrBadKeyName].
func CheckKeyName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrBadKeyName)
	}
	if len(name) > 128 {
		return fmt.Errorf("%w: %q is longer than 128 characters", ErrBadKeyName, shorten(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
		if i > 0 {
			ok = ok || c == '.' || c == '+' || c == '-'
		}
		if !ok {
			return fmt.Errorf("%w: %q: use letters, digits and _ . + - only, starting with a letter, digit or _", ErrBadKeyName, shorten(name))
		}
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("%w: %q contains \"..\"", ErrBadKeyName, name)
	}
	return nil
}

// shorten bounds untrusted text quoted in error messages.
func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// KeyOptions are the parameters of [GenerateKey].
type KeyOptions struct {
	// Bits is the modulus size; 0 means DefaultKeyBits.
	Bits int
	// AllowInsecureSize permits sizes from MinInsecureKeyBits up to
	// MinKeyBits, which are not safe: use them for throw-away test keys
	// only (the historical Anaconda key was 1024-bit).
	AllowInsecureSize bool
}

// GenerateKey makes a new RSA private key with public exponent 65537 and
// opts.Bits bits, from the system's secure random source. Sizes below
// MinKeyBits are refused unless opts.AllowInsecureSize is set; the error
// matches [ErrKeySize].
func GenerateKey(opts KeyOptions) (*rsa.PrivateKey, error) {
	bits := opts.Bits
	if bits == 0 {
		bits = DefaultKeyBits
	}
	if err := checkGenerateSize(bits, opts.AllowInsecureSize); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("generating a %d-bit RSA key: %w", bits, err)
	}
	return key, nil
}

func checkGenerateSize(bits int, insecure bool) error {
	switch {
	case bits > MaxKeyBits:
		return fmt.Errorf("%w: %d bits is more than the maximum of %d", ErrKeySize, bits, MaxKeyBits)
	case bits >= MinKeyBits:
		return nil
	case bits < MinInsecureKeyBits:
		return fmt.Errorf("%w: %d bits is less than the minimum of %d", ErrKeySize, bits, MinKeyBits)
	case !insecure:
		return fmt.Errorf("%w: %d bits is not safe; use at least %d bits", ErrKeySize, bits, MinKeyBits)
	}
	return nil
}

// MarshalPrivateKey returns key as the historical private key file: PEM
// "RSA PRIVATE KEY" around PKCS#1 DER, 64-column lines, ending in one
// newline.
func MarshalPrivateKey(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// MarshalPublicKey returns pub as the historical public key file: PEM
// "PUBLIC KEY" around SubjectPublicKeyInfo DER, 64-column lines, ending in
// one newline.
func MarshalPublicKey(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads a public key file: exactly one PEM block "PUBLIC
// KEY" (SubjectPublicKeyInfo of an RSA key, no PEM headers), with nothing
// but whitespace around it, of MinInsecureKeyBits to MaxKeyBits bits.
// Errors match [ErrMalformedKey] or [ErrKeySize].
func ParsePublicKey(data []byte) (*rsa.PublicKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrMalformedKey)
	}
	// pem.Decode skips any text before the block; a key file has none.
	if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN ")) {
		return nil, fmt.Errorf("%w: unexpected data before the PEM block", ErrMalformedKey)
	}
	switch {
	case strings.HasSuffix(block.Type, "PRIVATE KEY"):
		return nil, fmt.Errorf("%w: found a private key where a public key (\"PUBLIC KEY\") was expected", ErrMalformedKey)
	case block.Type != "PUBLIC KEY":
		return nil, fmt.Errorf("%w: PEM type %q, want \"PUBLIC KEY\"", ErrMalformedKey, shorten(block.Type))
	case len(block.Headers) != 0:
		return nil, fmt.Errorf("%w: unexpected PEM headers", ErrMalformedKey)
	case len(bytes.TrimSpace(rest)) != 0:
		return nil, fmt.Errorf("%w: unexpected data after the PEM block", ErrMalformedKey)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T, not an RSA key", ErrMalformedKey, k)
	}
	if err := checkKeyBits(pub.N.BitLen()); err != nil {
		return nil, err
	}
	return pub, nil
}

func checkKeyBits(bits int) error {
	if bits < MinInsecureKeyBits || bits > MaxKeyBits {
		return fmt.Errorf("%w: %d-bit key, want %d to %d bits", ErrKeySize, bits, MinInsecureKeyBits, MaxKeyBits)
	}
	return nil
}

// ParsePrivateKey reads a private key file: one unencrypted PEM block, "RSA
// PRIVATE KEY" (PKCS#1, what `conda sign --keygen` writes) or "PRIVATE KEY"
// (PKCS#8 holding an RSA key). Errors match [ErrMalformedKey] or
// [ErrKeySize].
func ParsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrMalformedKey)
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
		return nil, fmt.Errorf("%w: the key is encrypted; decrypt it first (for example: openssl pkey -in KEY -out KEY.plain)", ErrMalformedKey)
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: a %T, not an RSA key", ErrMalformedKey, k)
		}
		key = rk
	case "PUBLIC KEY":
		return nil, fmt.Errorf("%w: found a public key where a private key was expected", ErrMalformedKey)
	default:
		return nil, fmt.Errorf("%w: PEM type %q, want \"RSA PRIVATE KEY\" or \"PRIVATE KEY\"", ErrMalformedKey, shorten(block.Type))
	}
	if err := checkKeyBits(key.N.BitLen()); err != nil {
		return nil, err
	}
	return key, nil
}

// KeyDir is a key directory in the historical layout: private keys as
// NAME, public keys as NAME.pub. It implements [KeyStore]. All reads go
// through an [os.Root] confined to Path.
type KeyDir struct {
	// Path is the directory, preferably absolute (messages show it).
	Path string
}

// DefaultKeyDir returns the key directory $CONDA_KEYS_DIR, or
// ~/.conda/keys when that is unset, as an absolute path. The directory may
// not exist yet.
func DefaultKeyDir() (KeyDir, error) {
	dir := os.Getenv(KeysDirEnv)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return KeyDir{}, fmt.Errorf("locating the key directory: %w; set $%s", err, KeysDirEnv)
		}
		dir = filepath.Join(home, ".conda", "keys")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return KeyDir{}, fmt.Errorf("locating the key directory: %w", err)
	}
	return KeyDir{Path: abs}, nil
}

// PrivateKeyPath returns where the private key NAME lives (or would live).
func (d KeyDir) PrivateKeyPath(name string) string { return filepath.Join(d.Path, name) }

// PublicKeyPath returns where the public key NAME lives (or would live).
func (d KeyDir) PublicKeyPath(name string) string { return filepath.Join(d.Path, name+".pub") }

// readFile reads the file rel inside the directory, through an os.Root.
func (d KeyDir) readFile(rel string) ([]byte, error) {
	root, err := os.OpenRoot(d.Path)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", filepath.Join(d.Path, rel), ErrMalformedKey, maxKeyFile)
	}
	return data, nil
}

// PublicKey returns the public key NAME from NAME.pub. A missing file (or
// directory) gives an error matching [ErrKeyNotInstalled]; an invalid name
// one matching [ErrBadKeyName], without touching the file system.
func (d KeyDir) PublicKey(name string) (*rsa.PublicKey, error) {
	if err := CheckKeyName(name); err != nil {
		return nil, err
	}
	data, err := d.readFile(name + ".pub")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrKeyNotInstalled, d.PublicKeyPath(name))
	}
	if err != nil {
		return nil, fmt.Errorf("reading public key %q: %w", name, err)
	}
	pub, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.PublicKeyPath(name), err)
	}
	return pub, nil
}

// PrivateKeyNames lists the private keys in the directory, sorted: the
// regular files whose names pass [CheckKeyName] and do not end in ".pub".
// A missing directory holds no keys.
func (d KeyDir) PrivateKeyNames() ([]string, error) {
	ents, err := os.ReadDir(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || strings.HasSuffix(n, ".pub") || CheckKeyName(n) != nil {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// SigningKey returns the private key NAME for signing. With name "", it
// returns the only private key in the directory, and fails with
// [ErrNoPrivateKey] or [ErrSeveralPrivateKeys] (listing them) otherwise,
// so the choice never depends on directory order.
func (d KeyDir) SigningKey(name string) (*SigningKey, error) {
	if name == "" {
		names, err := d.PrivateKeyNames()
		if err != nil {
			return nil, err
		}
		switch len(names) {
		case 0:
			return nil, fmt.Errorf("%w in %s", ErrNoPrivateKey, d.Path)
		case 1:
			name = names[0]
		default:
			return nil, fmt.Errorf("%w in %s: %s; name the one to use", ErrSeveralPrivateKeys, d.Path, strings.Join(names, ", "))
		}
	}
	if err := CheckKeyName(name); err != nil {
		return nil, err
	}
	data, err := d.readFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w named %q in %s", ErrNoPrivateKey, name, d.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading private key %q: %w", name, err)
	}
	key, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.PrivateKeyPath(name), err)
	}
	return &SigningKey{Name: name, Key: key}, nil
}

// WriteKeyPair stores key as the private key NAME (mode 0600) and its
// public half as NAME.pub, creating the directory (mode 0700) if needed.
// It never replaces an existing file: if either exists, nothing is written
// and the error matches [fs.ErrExist]. It returns the two paths.
func (d KeyDir) WriteKeyPair(name string, key *rsa.PrivateKey) (privPath, pubPath string, err error) {
	if err := CheckKeyName(name); err != nil {
		return "", "", err
	}
	if strings.HasSuffix(name, ".pub") {
		return "", "", fmt.Errorf("%w: %q ends in \".pub\", which marks public keys", ErrBadKeyName, name)
	}
	privPath, pubPath = d.PrivateKeyPath(name), d.PublicKeyPath(name)
	pubPEM, err := MarshalPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return "", "", fmt.Errorf("creating the key directory: %w", err)
	}
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%s: %w: refusing to overwrite it", p, fs.ErrExist)
		}
	}
	if err := atomicfile.WriteNew(privPath, MarshalPrivateKey(key), 0o600); err != nil {
		return "", "", fmt.Errorf("storing private key: %w", err)
	}
	if err := atomicfile.WriteNew(pubPath, pubPEM, 0o644); err != nil {
		// The private key file is ours (WriteNew created it just now):
		// remove it so that no half pair is left behind.
		os.Remove(privPath)
		return "", "", fmt.Errorf("storing public key: %w", err)
	}
	return privPath, pubPath, nil
}
