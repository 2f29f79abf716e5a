package legacysign_test

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/condatrust/condatrust/legacysign"
)

// Verify a package against its .sig with the keys of a key directory,
// trusting only the key configured for the channel.
func ExampleVerifier() {
	v := &legacysign.Verifier{
		Keys:        legacysign.KeyDir{Path: "testdata/keys"},
		TrustedKeys: []string{"MyKey"},
	}
	sig, err := os.ReadFile("testdata/hello.txt.sig")
	if err != nil {
		fmt.Println(err)
		return
	}

	err = v.Verify(strings.NewReader("hello conda signing\n"), sig)
	fmt.Println("original:", err)

	err = v.Verify(strings.NewReader("HELLO conda signing\n"), sig)
	fmt.Println("tampered:", errors.Is(err, legacysign.ErrInvalidSignature))

	v.TrustedKeys = []string{"OtherKey"}
	err = v.Verify(strings.NewReader("hello conda signing\n"), sig)
	fmt.Println("untrusted key:", err)
	// Output:
	// original: <nil>
	// tampered: true
	// untrusted key: key is not trusted: "MyKey" (trusted: OtherKey)
}

// Parse a .sig file: a key name and a base64 RSASSA-PSS signature.
func ExampleParseSignature() {
	sig, err := legacysign.ParseSignature([]byte("MyKey AAEC/w==\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %x\n", sig.KeyName, sig.Value)

	_, err = legacysign.ParseSignature([]byte("../../tmp/evil AAEC/w==\n"))
	fmt.Println(errors.Is(err, legacysign.ErrMalformedSig), errors.Is(err, legacysign.ErrBadKeyName))
	// Output:
	// MyKey 000102ff
	// true true
}
