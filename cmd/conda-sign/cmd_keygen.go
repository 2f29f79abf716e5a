package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/condatrust/condatrust/legacysign"
)

// runKeygen creates the key pair o.keygen in the key directory and prints
// the historical three lines.
func runKeygen(o *options, stdout, stderr io.Writer) error {
	name := o.keygen
	if err := legacysign.CheckKeyName(name); err != nil {
		return usageError(err.Error(), "a key name is a plain name, like MyKey; the key goes into $CONDA_KEYS_DIR or ~/.conda/keys")
	}
	if strings.HasSuffix(name, ".pub") {
		return usageError(fmt.Sprintf("invalid key name: %q ends in \".pub\", which marks public keys", name),
			"choose a name without the .pub suffix; the public key is stored as NAME.pub")
	}
	bits := o.size
	switch {
	case bits > legacysign.MaxKeyBits:
		return usageError(fmt.Sprintf("--size %d: the largest supported key size is %d bits", bits, legacysign.MaxKeyBits))
	case bits < legacysign.MinInsecureKeyBits:
		return usageError(fmt.Sprintf("--size %d: keys smaller than %d bits are never made", bits, legacysign.MinKeyBits),
			"use the default, --size 2048, or larger")
	case bits < legacysign.MinKeyBits && !o.insecureSize:
		return usageError(fmt.Sprintf("--size %d: keys smaller than %d bits are not safe", bits, legacysign.MinKeyBits),
			"use the default, --size 2048, or larger; add --insecure-size only for a throw-away test key")
	case bits < legacysign.MinKeyBits:
		printWarning(stderr, "making an insecure %d-bit key: such keys can be broken; use it for tests only", bits)
	}
	kd, err := legacysign.DefaultKeyDir()
	if err != nil {
		return inputError(err.Error())
	}
	// Fail before the slow generation if the name is taken.
	for _, p := range []string{kd.PrivateKeyPath(name), kd.PublicKeyPath(name)} {
		if _, err := os.Lstat(p); err == nil {
			return inputError(fmt.Sprintf("%s already exists; refusing to overwrite it", p),
				"choose another key name, or move the old key pair away if you really mean to replace it")
		}
	}
	fmt.Fprintf(stdout, "Generating public/private key pair (%d bits)...\n", bits)
	key, err := legacysign.GenerateKey(legacysign.KeyOptions{Bits: bits, AllowInsecureSize: o.insecureSize})
	if err != nil {
		return inputError(err.Error())
	}
	priv, pub, err := kd.WriteKeyPair(name, key)
	if err != nil {
		return inputError(err.Error())
	}
	fmt.Fprintf(stdout, "Storing private key: %s\n", priv)
	fmt.Fprintf(stdout, "Storing public key : %s\n", pub)
	return nil
}
