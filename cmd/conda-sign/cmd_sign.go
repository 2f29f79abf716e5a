package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/condatrust/condatrust/legacysign"
)

// runSign signs every file in o.files with the chosen key, writing
// FILE.sig, and goes on after a failure so that one bad file does not
// leave the others unsigned.
func runSign(o *options, stdout, stderr io.Writer) error {
	if o.inputKey != "" {
		if err := legacysign.CheckKeyName(o.inputKey); err != nil {
			hint := "a key name is a plain name, like MyKey"
			if looksLikePath(o.inputKey) {
				hint = "--input-key takes the name of a key in $CONDA_KEYS_DIR or ~/.conda/keys, not a path; set CONDA_KEYS_DIR to the key's directory"
			}
			return usageError(err.Error(), hint)
		}
	}
	kd, err := legacysign.DefaultKeyDir()
	if err != nil {
		return inputError(err.Error())
	}
	sk, err := kd.SigningKey(o.inputKey)
	switch {
	case errors.Is(err, legacysign.ErrSeveralPrivateKeys):
		return usageError(err.Error(), "choose one with: conda sign -k NAME FILE...")
	case errors.Is(err, legacysign.ErrNoPrivateKey) && o.inputKey == "":
		return inputError(err.Error(),
			"create a key with: conda sign --keygen NAME (or set CONDA_KEYS_DIR to the directory holding your key)")
	case errors.Is(err, legacysign.ErrNoPrivateKey):
		return inputError(err.Error(), "list your keys with: ls "+kd.Path)
	case err != nil:
		return inputError(err.Error())
	}
	if bits := sk.Key.N.BitLen(); bits < legacysign.MinKeyBits {
		printWarning(stderr, "key %q is only %d bits: its signatures can be forged", sk.Name, bits)
	}
	fmt.Fprintf(stdout, "Using private key '%s' for signing.\n", sk.Name)
	failed := 0
	for _, f := range o.files {
		fmt.Fprintf(stdout, "signing: %s\n", f)
		if _, err := sk.SignFile(f); err != nil {
			fmt.Fprintf(stderr, "conda-sign: error: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		return inputError(fmt.Sprintf("%d of %d files not signed", failed, len(o.files)))
	}
	return nil
}
