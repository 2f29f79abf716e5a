package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/condatrust/condatrust/legacysign"
)

// runVerify checks every file against FILE.sig and prints the historical
// '%-40s %s' line for each; it returns the exit code.
func runVerify(o *options, stdout, stderr io.Writer) int {
	for _, n := range o.trusted {
		if err := legacysign.CheckKeyName(n); err != nil {
			printError(stderr, usageError("--trusted-key: "+err.Error()))
			return exitUsage
		}
	}
	kd, err := legacysign.DefaultKeyDir()
	if err != nil {
		printError(stderr, inputError(err.Error()))
		return exitInput
	}
	warned := map[string]bool{}
	v := &legacysign.Verifier{
		Keys:            kd,
		TrustedKeys:     o.trusted,
		AnyInstalledKey: len(o.trusted) == 0,
		WeakKey: func(name string, bits int) {
			if !warned[name] {
				warned[name] = true
				printWarning(stderr, "key %q is only %d bits: signatures by keys under %d bits can be forged", name, bits, legacysign.MinKeyBits)
			}
		},
	}

	var hints []string
	hint := func(h string) {
		for _, seen := range hints {
			if seen == h {
				return
			}
		}
		hints = append(hints, h)
	}
	code := exitOK
	for _, f := range o.files {
		err := v.VerifyFile(f)
		verdict := "VALID"
		var ve *legacysign.VerifyError
		switch {
		case err == nil:
		case errors.As(err, &ve):
			code = max(code, exitInvalid)
			verdict = "ERROR: " + ve.Err.Error()
			switch {
			case errors.Is(err, legacysign.ErrTextbookRSA):
				verdict = "INVALID"
				hint(fmt.Sprintf("%s.sig is a textbook-RSA signature from conda 3.14.0, which anyone can forge; sign %s again with conda sign", f, f))
			case errors.Is(err, legacysign.ErrInvalidSignature):
				verdict = "INVALID"
				hint("an INVALID file was changed after signing, or signed by another key than its .sig names: do not use it")
			case errors.Is(err, legacysign.ErrSignatureMissing):
				hint("sign files with: conda sign FILE... (it writes FILE.sig next to each FILE)")
			case errors.Is(err, legacysign.ErrKeyNotInstalled):
				hint(fmt.Sprintf("to verify signatures by %q, get %s.pub from its owner and copy it into %s", ve.Key, ve.Key, kd.Path))
			case errors.Is(err, legacysign.ErrKeyNotPinned):
				hint(fmt.Sprintf("add --trusted-key %s only if you trust %q to sign these files", ve.Key, ve.Key))
			case errors.Is(err, legacysign.ErrMalformedSig):
				hint("a .sig file is one line: KEYNAME BASE64-SIGNATURE")
			}
		default:
			code = exitInput
			verdict = "ERROR: " + err.Error()
		}
		fmt.Fprintf(stdout, "%-40s %s\n", f, verdict)
	}
	for _, h := range hints {
		fmt.Fprintf(stderr, "conda-sign: hint: %s\n", h)
	}
	return code
}
