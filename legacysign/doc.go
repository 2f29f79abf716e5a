// Package legacysign implements the RSA package signatures of the 2015–2016
// `conda sign` command (conda-build 1.14.1 … 2.1.x, verified by conda
// 3.14.1 … 4.2.x), with the flaws that made conda withdraw it fixed.
//
// The format reference is the project's spec "legacy-sign.md"; this package
// reproduces its file formats byte for byte, so keys and `.sig` files are
// interchangeable with the historical tools.
//
// # Keys
//
// A key pair has a name and lives in a key directory ([KeyDir]), by default
// $CONDA_KEYS_DIR or ~/.conda/keys ([DefaultKeyDir]):
//
//	KEYS/NAME       private key, PEM "RSA PRIVATE KEY" (PKCS#1), mode 0600
//	KEYS/NAME.pub   public key, PEM "PUBLIC KEY" (SubjectPublicKeyInfo)
//
// [GenerateKey] makes RSA keys with public exponent 65537 and at least
// [MinKeyBits] bits (2048 by default). [KeyDir.WriteKeyPair] never replaces
// an existing file. Private keys are read in PKCS#1 or PKCS#8 form.
//
// Key names are written into every `.sig` file and later looked up by the
// verifier, so only names accepted by [CheckKeyName] are used anywhere, and
// key files are opened through a handle confined to the key directory.
//
// # Signing
//
// A signature is RSASSA-PSS (RFC 8017) with SHA-256, MGF1-SHA-256 and a
// random 32-byte salt, computed over the SHA-256 digest of the whole file.
// [SigningKey.SignFile] writes it next to the file as FILE.sig, one line of
// ASCII: the key name, a space, the standard base64 of the k-byte signature
// (k = the modulus size in bytes), and a newline ([Signature.Marshal]).
//
// # Verifying
//
// A [Verifier] checks a file against its `.sig` contents with the public
// keys of a [KeyStore] (a [KeyDir] is one). It accepts exactly the PSS
// variant: salt length 32, signature length exactly k bytes, strict base64,
// exactly two whitespace-separated tokens in the `.sig` file. Signatures of
// the textbook-RSA variant of conda 3.14.0 are recognised and refused
// ([ErrTextbookRSA]).
//
// The historical client accepted a signature by any installed key for any
// package. A Verifier instead accepts only the keys listed in
// [Verifier.TrustedKeys], unless [Verifier.AnyInstalledKey] is set
// explicitly. [Verifier.VerifyFileKey] also says which key verified.
//
// # Pinning
//
// A pinning file ([ParseChannelKeys]) says which key names may sign for
// which channel and which package, one rule per line:
//
//	https://conda.example.com/main           MyKey BuildKey SecurityKey
//	channel https://conda.example.com/beta   MyKey TestKey
//	package openssl*                         SecurityKey
//	package *                                MyKey BuildKey
//
// A channel rule is a URL prefix (the keyword "channel" is optional); the
// longest prefix matching the package's channel URL applies. A package rule
// is a glob on the package name ([PackageName]); the first in the file that
// matches applies. [ChannelKeys.KeysForPackage] returns the keys that every
// applying rule lists, none when no rule applies; passed as
// [Verifier.TrustedKeys], it makes a signature by any other key a refusal
// matching [ErrKeyNotPinned]. [ChannelKeys.Match] names the rules, for
// messages.
//
// # Errors
//
// Every refusal is a [*VerifyError] whose Err matches one of
// [ErrInvalidSignature], [ErrTextbookRSA] (which also matches
// ErrInvalidSignature), [ErrSignatureMissing], [ErrKeyNotInstalled],
// [ErrKeyNotPinned] or [ErrMalformedSig] under [errors.Is]. Any other error
// (a file that cannot be read, a malformed public key file) is an
// operational problem, not a verdict about the signature.
package legacysign
