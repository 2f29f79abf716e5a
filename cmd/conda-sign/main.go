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

	"github.com/condatrust/condatrust/internal/buildinfo"
	"github.com/condatrust/condatrust/legacysign"
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
                           (repeatable, as --trusted-key); alone it is
                           refused: it once meant --keygen NAME, and a
                           mistyped name would silently make a new key
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
      --json               with --verify, print a JSON array on stdout: one
                           object per file (see "JSON output" below)
      --completion SHELL   print a completion script for bash, zsh or fish
                           (see "Shell completion" below)
      --version            print the version and build commit
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

JSON output (--verify --json):
  [{"file": "foo-1.0-0.tar.bz2", "status": "VALID", "key": "MyKey", "reason": ""}, ...]
  status is VALID, INVALID, MISSING (no FILE.sig), KEY_NOT_INSTALLED,
  NOT_TRUSTED, MALFORMED (FILE.sig is not "NAME BASE64") or ERROR (FILE
  unreadable); key is the key named by FILE.sig ("" when unknown); reason
  says why in words ("" for VALID). Hints still go to stderr; the exit
  status is the same as without --json.

Shell completion (--completion bash|zsh|fish) completes conda-sign's
options and, for FILE arguments, package files:
  bash:  source <(conda-sign --completion bash)      (in ~/.bashrc)
  zsh:   conda-sign --completion zsh > "${fpath[1]}/_conda-sign"
  fish:  conda-sign --completion fish > ~/.config/fish/completions/conda-sign.fish
It completes the conda-sign command; "conda sign ..." is completed by
conda's own completion, if any.

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
  130  interrupted by Ctrl-C (SIGINT): temporary files removed, one line names
       the files written
  143  terminated by SIGTERM: the same
`

func main() {
	os.Exit(runInterruptible(os.Args[1:], os.Stdout, os.Stderr))
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
	json         bool
	version      bool
	completion   string
	kAlone       string // -k NAME with nothing else: refused (see refuseKAlone)
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
	if err == nil && o.version {
		fmt.Fprintf(stdout, "conda-sign %s\n", buildinfo.Read())
		return exitOK
	}
	if err == nil {
		switch {
		case o.completion != "":
			err = printCompletion(stdout, o.completion)
		case o.kAlone != "":
			err = refuseKAlone(o.kAlone)
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
	fs := newFlagSet(&o)
	if err := fs.Parse(args); err != nil {
		return nil, usageError(err.Error(), "run 'conda-sign --help' for usage")
	}
	return checkArgs(&o, fs)
}

// newFlagSet defines conda-sign's options, writing into o.
func newFlagSet(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("conda-sign", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	fs.StringVar(&o.keygen, "keygen", "", "create the key pair NAME")
	fs.StringArrayVarP(&o.kNames, "key", "k", nil, "key NAME: the signing key with files, a trusted key with --verify")
	fs.IntVar(&o.size, "size", 2048, "key size for --keygen")
	fs.BoolVar(&o.insecureSize, "insecure-size", false, "allow keys below 2048 bits")
	fs.StringVarP(&o.inputKey, "input-key", "i", "", "sign with KEYS/NAME")
	fs.BoolVarP(&o.verify, "verify", "v", false, "verify instead of signing")
	fs.StringArrayVarP(&o.trusted, "trusted-key", "t", nil, "with --verify, accept only NAME")
	fs.StringVar(&o.pinFile, "pin-file", "", "with --verify, the pinning file")
	fs.StringVar(&o.channel, "channel", "", "with --pin-file, the files' channel URL")
	fs.BoolVar(&o.json, "json", false, "with --verify, print JSON")
	fs.BoolVar(&o.version, "version", false, "print the version")
	fs.StringVar(&o.completion, "completion", "", "print a completion script for SHELL")
	fs.BoolVarP(&o.help, "help", "h", false, "show help")
	return fs
}

// checkArgs checks the combination of parsed options.
func checkArgs(o *options, fs *pflag.FlagSet) (*options, error) {
	if o.help {
		return o, nil
	}
	if o.version || fs.Changed("completion") {
		if fs.NFlag() > 1 || fs.NArg() > 0 {
			return nil, usageError("--version and --completion take no other options or files")
		}
		if fs.Changed("completion") && o.completion == "" {
			return nil, usageError("--completion needs a shell name: bash, zsh or fish")
		}
		return o, nil
	}
	if o.json && !o.verify {
		return nil, usageError("--json option is only allowed with --verify option")
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
		case o.sizeSet || o.insecureSize:
			return nil, usageError("-k NAME does not create keys: use --keygen NAME with --size",
				"create the key pair with: conda sign --keygen "+o.kNames[0]+" --size BITS")
		default:
			o.kAlone = o.kNames[0]
			return o, nil
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
		return o, nil
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
	return o, nil
}

// refuseKAlone explains why "conda sign -k NAME" with no files does
// nothing. conda-build's -k NAME alone generated the key pair NAME; a
// mistyped name then made a new key without a word, and later signatures
// came from the wrong key. Generation takes the explicit --keygen NAME.
func refuseKAlone(name string) error {
	if err := legacysign.CheckKeyName(name); err != nil {
		return usageError(err.Error(), "a key name is a plain name, like MyKey")
	}
	kd, err := legacysign.DefaultKeyDir()
	if err != nil {
		return inputError(err.Error())
	}
	if _, err := os.Lstat(kd.PrivateKeyPath(name)); err == nil {
		return usageError("no files given",
			fmt.Sprintf("to sign with the key %s: conda sign -k %s FILE...", name, name))
	}
	hints := []string{"to create the key pair " + name + ", run: conda sign --keygen " + name}
	if names, err := kd.PrivateKeyNames(); err == nil && len(names) > 0 {
		hints = append(hints, fmt.Sprintf("keys in %s: %s; to sign with one: conda sign -k NAME FILE...", kd.Path, strings.Join(names, ", ")))
	}
	return usageError(fmt.Sprintf("-k %s without files: there is no key %s in %s, and -k does not create keys (a mistyped name would silently make a new one)", name, name, kd.Path), hints...)
}

// looksLikePath reports whether a key argument is a path rather than a
// name, to explain the refusal better.
func looksLikePath(s string) bool {
	return strings.ContainsAny(s, `/\`)
}
