// Command conda-sign signs conda packages with RSA keys and verifies the
// signatures: the `conda sign` command of conda-build 1.14–2.1, with the
// same files and output, and its flaws fixed. With conda-sign on PATH,
// `conda sign ...` runs it. See `conda-sign --help` and package
// [github.com/condatrust/condatrust/legacysign].
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Exit codes, documented in the help text.
const (
	exitOK      = 0 // done; with --verify, every file VALID
	exitInvalid = 1 // --verify: some file is not VALID
	exitUsage   = 2 // wrong arguments
	exitInput   = 3 // a file or key could not be read, is malformed, or exists already
)

const helpText = `conda-sign: sign conda packages with RSA keys, and verify the signatures.

This is the "conda sign" command of conda-build 1.14-2.1 (same key files, same
.sig files, same output), without its flaws. With conda-sign on your PATH,
"conda sign ..." runs it.

Usage:
  conda sign --keygen NAME [--size BITS]       create the key pair NAME in KEYS
  conda sign [-k NAME] FILE...                 write FILE.sig for every FILE
  conda sign --verify [-k NAME]... FILE...     check FILE.sig for every FILE
  conda sign --verify [-k NAME]... --pin-file FILE [--channel URL] FILE...
                                               the same, accepting for each FILE
                                               only the keys a pinning file allows

The five steps of signing a repository:
  1. Create a key pair, once:
       conda sign --keygen MyKey
  2. Sign the packages:
       cd <repository>/linux-64
       conda sign *.tar.bz2
  3. Verify the signatures:
       conda sign --verify *.tar.bz2
  4. Index the repository; the index notes which packages have a .sig:
       conda index
  5. Users install the public key, then check packages with it:
       mkdir -p ~/.conda/keys && cp MyKey.pub ~/.conda/keys/
       conda sign --verify --trusted-key MyKey foo-1.0-0.tar.bz2

Options:
      --keygen NAME        create the key pair NAME (KEYS/NAME and KEYS/NAME.pub);
                           existing keys are never overwritten
  -k NAME                  with FILEs: sign with KEYS/NAME (as --input-key);
                           with --verify: accept only signatures by NAME
                           (repeatable, as --trusted-key); alone: --keygen NAME
      --size BITS          key size for --keygen (default 2048, at least 2048)
      --insecure-size      with --keygen, allow 1024 to 2047 bits: throw-away
                           test keys only, such keys can be broken
  -i, --input-key NAME     sign with the private key KEYS/NAME (default: the
                           only private key in KEYS)
  -v, --verify             verify FILE.sig instead of signing
  -t, --trusted-key NAME   with --verify, accept only signatures by NAME
                           (repeatable; default: any key installed in KEYS)
      --pin-file FILE      with --verify, accept for each file only the keys
                           that the pinning file FILE allows for its channel
                           and package name (see "Pinning file" below)
      --channel URL        with --pin-file, the channel the files come from,
                           matched against the file's channel rules
  -h, --help               show this help

KEYS is $CONDA_KEYS_DIR if set, else ~/.conda/keys. KEYS/NAME is the private
key (PEM "RSA PRIVATE KEY", mode 0600; PKCS#8 "PRIVATE KEY" is read too),
KEYS/NAME.pub the public key (PEM "PUBLIC KEY"). A key NAME is 1 to 128
letters, digits and _ . + -, starts with a letter, digit or _, and has no "..".

FILE.sig is one line, "NAME BASE64": an RSASSA-PSS signature (SHA-256, MGF1,
32-byte salt) of the SHA-256 of FILE, by the key NAME.

--verify prints one line per file: the path padded to 40 columns, then
VALID (key NAME), INVALID, or ERROR: <reason> (no FILE.sig, public key not
installed, key not trusted, malformed FILE.sig, unreadable file). The verdict
is the first word after the path, as in conda sign; "(key NAME)" names the
installed key whose signature verified the file.

Pinning file (--pin-file):
  One rule per line: a channel or a package, then the key names that may sign
  for it. Blank lines and lines starting with # are ignored.
    # rule                                   key names
    https://conda.example.com/main           MyKey BuildKey SecurityKey
    channel https://conda.example.com/beta   MyKey TestKey
    package openssl*                         SecurityKey
    package *                                MyKey BuildKey
  A channel rule (a URL prefix, after an optional "channel") applies when
  --channel URL starts with it, whole or up to a "/"; the longest prefix wins.
  A package rule applies when its glob (* ? [a-z] [^a-z]) matches the package
  NAME, taken from the file name NAME-VERSION-BUILD.tar.bz2 or .conda; the
  first matching rule in the file wins, so put "package *" last. A signature
  is accepted only by a key that every applying rule lists; when no rule
  applies, none is. -k/--trusted-key narrows this further, never widens it.
  Any other key is refused: ERROR: key is not trusted.

Exit status:
  0  done; with --verify, every file is VALID
  1  --verify: some file is INVALID or has an ERROR about its signature
  2  usage error (wrong or conflicting arguments, bad key name, ambiguous key)
  3  a file or key could not be read or is malformed, no private key was
     found, or a key to create exists already
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	keygen       string
	kNames       []string
	size         int
	insecureSize bool
	verify       bool
	inputKey     string
	trusted      []string
	pinFile      string
	channel      string
	help         bool
	files        []string
	sizeSet      bool
	keygenSet    bool
}

// cliError is an error to print, with the exit code and hints.
type cliError struct {
	code  int
	msg   string
	hints []string
}

func (e *cliError) Error() string { return e.msg }

func usageError(msg string, hints ...string) *cliError {
	return &cliError{code: exitUsage, msg: msg, hints: hints}
}

func inputError(msg string, hints ...string) *cliError {
	return &cliError{code: exitInput, msg: msg, hints: hints}
}

// run is the whole command; main only adds the process around it.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if err == nil && o.help {
		fmt.Fprint(stdout, helpText)
		return exitOK
	}
	if err == nil {
		switch {
		case o.keygenSet:
			err = runKeygen(o, stdout, stderr)
		case o.verify:
			return runVerify(o, stdout, stderr)
		default:
			err = runSign(o, stdout, stderr)
		}
	}
	if err == nil {
		return exitOK
	}
	var ce *cliError
	if !errors.As(err, &ce) {
		ce = inputError(err.Error())
	}
	printError(stderr, ce)
	return ce.code
}

func printError(w io.Writer, e *cliError) {
	fmt.Fprintf(w, "conda-sign: error: %s\n", e.msg)
	for _, h := range e.hints {
		fmt.Fprintf(w, "conda-sign: hint: %s\n", h)
	}
}

func printWarning(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "conda-sign: warning: "+format+"\n", args...)
}

func parseArgs(args []string) (*options, error) {
	var o options
	fs := pflag.NewFlagSet("conda-sign", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	fs.StringVar(&o.keygen, "keygen", "", "create the key pair NAME")
	fs.StringArrayVarP(&o.kNames, "key", "k", nil, "key NAME: keygen alone, signing key with files, trusted key with --verify")
	fs.IntVar(&o.size, "size", 2048, "key size for --keygen")
	fs.BoolVar(&o.insecureSize, "insecure-size", false, "allow keys below 2048 bits")
	fs.StringVarP(&o.inputKey, "input-key", "i", "", "sign with KEYS/NAME")
	fs.BoolVarP(&o.verify, "verify", "v", false, "verify instead of signing")
	fs.StringArrayVarP(&o.trusted, "trusted-key", "t", nil, "with --verify, accept only NAME")
	fs.StringVar(&o.pinFile, "pin-file", "", "with --verify, the pinning file")
	fs.StringVar(&o.channel, "channel", "", "with --pin-file, the files' channel URL")
	fs.BoolVarP(&o.help, "help", "h", false, "show help")
	if err := fs.Parse(args); err != nil {
		return nil, usageError(err.Error(), "run 'conda-sign --help' for usage")
	}
	if o.help {
		return &o, nil
	}
	o.files = fs.Args()
	o.keygenSet = fs.Changed("keygen")
	o.sizeSet = fs.Changed("size")
	inputSet := fs.Changed("input-key")
	pinSet, channelSet := fs.Changed("pin-file"), fs.Changed("channel")

	// -k NAME means what the rest of the command line asks for: with
	// --verify, a key the signatures must come from; with files, the
	// signing key; alone, the historical short form of --keygen NAME.
	if len(o.kNames) > 0 {
		switch {
		case o.keygenSet || inputSet:
			return nil, usageError("-k cannot be combined with --keygen or --input-key")
		case o.verify:
			o.trusted = append(o.trusted, o.kNames...)
		case len(o.kNames) > 1:
			return nil, usageError("-k given more than once: sign with one key at a time",
				"to accept several keys when verifying, use --verify -k NAME -k OTHER FILE...")
		case len(o.files) > 0:
			o.inputKey, inputSet = o.kNames[0], true
		default:
			o.keygen, o.keygenSet = o.kNames[0], true
		}
	}

	if o.keygenSet {
		switch {
		case len(o.files) > 0:
			return nil, usageError("no arguments expected for --keygen",
				"create the key first (conda sign --keygen NAME), then sign: conda sign FILE...")
		case o.verify:
			return nil, usageError("--verify cannot be combined with --keygen")
		case inputSet:
			return nil, usageError("--input-key option is only allowed when signing")
		case len(o.trusted) > 0:
			return nil, usageError("--trusted-key option is only allowed with --verify option")
		case pinSet || channelSet:
			return nil, usageError("--pin-file option is only allowed with --verify option")
		}
		return &o, nil
	}
	switch {
	case o.sizeSet:
		return nil, usageError("--size option is only allowed with --keygen option")
	case o.insecureSize:
		return nil, usageError("--insecure-size option is only allowed with --keygen option")
	case o.verify && inputSet:
		return nil, usageError("--input-key option is only allowed when signing",
			"to choose which keys --verify accepts, use --trusted-key NAME")
	case !o.verify && len(o.trusted) > 0:
		return nil, usageError("--trusted-key option is only allowed with --verify option",
			"to choose the signing key, use --input-key NAME")
	case !o.verify && pinSet:
		return nil, usageError("--pin-file option is only allowed with --verify option")
	case channelSet && !pinSet:
		return nil, usageError("--channel is only allowed with --pin-file",
			"the channel only selects rules of a pinning file: conda sign --verify --pin-file FILE --channel URL FILE...")
	case pinSet && o.pinFile == "":
		return nil, usageError("--pin-file needs a file name")
	case channelSet && o.channel == "":
		return nil, usageError("--channel needs a URL")
	case inputSet && o.inputKey == "":
		return nil, usageError("--input-key needs a key name")
	case len(o.files) == 0:
		return nil, usageError("no files given",
			"sign with 'conda sign FILE...', verify with 'conda sign --verify FILE...'; see 'conda-sign --help'")
	}
	return &o, nil
}

// looksLikePath reports whether a key argument is a path rather than a
// name, to explain the refusal better.
func looksLikePath(s string) bool {
	return strings.ContainsAny(s, `/\`)
}
