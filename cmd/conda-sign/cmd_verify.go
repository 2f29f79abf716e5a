package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/condatrust/condatrust/legacysign"
)

// runVerify checks every file against FILE.sig and prints the historical
// '%-40s %s' line for each, a VALID verdict followed by " (key NAME)"; it
// returns the exit code.
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
	var pins *legacysign.ChannelKeys
	if o.pinFile != "" {
		if pins, err = readPinFile(o.pinFile); err != nil {
			h := "check the path given to --pin-file"
			if errors.Is(err, legacysign.ErrMalformedChannelKeys) {
				h = "the pinning file format is in conda-sign --help"
			}
			printError(stderr, inputError(err.Error(), h))
			return exitInput
		}
	}
	warned := map[string]bool{}
	base := legacysign.Verifier{
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
		if !slices.Contains(hints, h) {
			hints = append(hints, h)
		}
	}
	code := exitOK
	results := []verifyResult{}
	for _, f := range o.files {
		v := base
		var pkg string
		var match legacysign.PinMatch
		if pins != nil {
			pkg = legacysign.PackageName(f)
			match = pins.Match(o.channel, pkg)
			v.TrustedKeys, v.AnyInstalledKey = match.Keys(), false
			if len(o.trusted) > 0 {
				v.TrustedKeys = slices.DeleteFunc(v.TrustedKeys, func(k string) bool { return !slices.Contains(o.trusted, k) })
			}
		}
		key, err := v.VerifyFileKey(f)
		verdict := "VALID (key " + key + ")"
		res := verifyResult{File: f, Status: "VALID", Key: key}
		var ve *legacysign.VerifyError
		switch {
		case err == nil:
		case errors.As(err, &ve):
			code = max(code, exitInvalid)
			verdict = "ERROR: " + ve.Err.Error()
			res.Status, res.Key, res.Reason = verifyStatus(err), ve.Key, ve.Err.Error()
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
			case errors.Is(err, legacysign.ErrKeyNotPinned) && pins != nil && !slices.Contains(match.Keys(), ve.Key):
				hint(pinHint(o, match, pkg, ve.Key))
			case errors.Is(err, legacysign.ErrKeyNotPinned):
				hint(fmt.Sprintf("add --trusted-key %s only if you trust %q to sign these files", ve.Key, ve.Key))
			case errors.Is(err, legacysign.ErrMalformedSig):
				hint("a .sig file is one line: KEYNAME BASE64-SIGNATURE")
			}
		default:
			code = exitInput
			verdict = "ERROR: " + err.Error()
			res.Status, res.Key, res.Reason = "ERROR", "", err.Error()
		}
		if o.json {
			results = append(results, res)
			continue
		}
		fmt.Fprintf(stdout, "%-40s %s\n", f, verdict)
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(results); err != nil {
			printError(stderr, inputError(err.Error()))
			return exitInput
		}
	}
	for _, h := range hints {
		fmt.Fprintf(stderr, "conda-sign: hint: %s\n", h)
	}
	return code
}

// verifyResult is one file's verdict in --verify --json (see --help).
type verifyResult struct {
	File   string `json:"file"`
	Status string `json:"status"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// verifyStatus names a verification failure for --json.
func verifyStatus(err error) string {
	switch {
	case errors.Is(err, legacysign.ErrTextbookRSA), errors.Is(err, legacysign.ErrInvalidSignature):
		return "INVALID"
	case errors.Is(err, legacysign.ErrSignatureMissing):
		return "MISSING"
	case errors.Is(err, legacysign.ErrKeyNotInstalled):
		return "KEY_NOT_INSTALLED"
	case errors.Is(err, legacysign.ErrKeyNotPinned):
		return "NOT_TRUSTED"
	case errors.Is(err, legacysign.ErrMalformedSig):
		return "MALFORMED"
	}
	return "ERROR"
}

// readPinFile reads and parses the pinning file of --pin-file; errors name
// the file.
func readPinFile(name string) (*legacysign.ChannelKeys, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pins, err := legacysign.ParseChannelKeys(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return pins, nil
}

// pinHint explains a key the pinning file does not allow for a package.
func pinHint(o *options, m legacysign.PinMatch, pkg, key string) string {
	from := "from " + o.channel
	if o.channel == "" {
		from = "(no --channel given)"
	}
	if m.Channel == nil && m.Package == nil {
		return fmt.Sprintf("%s: no rule applies to package %q %s; add one only if you trust %q to sign %q", o.pinFile, pkg, from, key, pkg)
	}
	verb, them := "applies", "it"
	if m.Channel != nil && m.Package != nil {
		verb, them = "apply", "them"
	}
	return fmt.Sprintf("%s: for package %q %s, %s %s; add %s to %s only if you trust %q to sign %q", o.pinFile, pkg, from, m, verb, key, them, key, pkg)
}
