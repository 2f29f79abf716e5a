package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/internal/buildinfo"
	"github.com/condatrust/condatrust/storage/s3store"
	"github.com/condatrust/condatrust/trust"
)

// Exit codes, documented in the root command's help.
const (
	exitOK        = 0
	exitUntrusted = 1
	exitUsage     = 2
	exitInput     = 3
)

const exitCodeHelp = `Exit codes:
  0    success: everything verified
  1    verification failed: something is not trusted
  2    usage error: wrong command, flag or argument
  3    unreadable or malformed input, or another error
  4    partial: index skipped some packages (each listed with its reason)
  130  interrupted by SIGINT (Ctrl-C); 143: stopped by SIGTERM. Temporary
       files are removed, every file is old or new in full, and one line
       names the files written`

// commands holds the constructors of every verb; each cmd_<verb>.go file
// registers its own in an init function.
var commands []func() *cobra.Command

func register(f func() *cobra.Command) { commands = append(commands, f) }

// Main runs conda-trust with args and returns the exit code. It installs no
// signal handler: main and the test binary's command run it under
// [runInterruptible], so that tests calling Main in process are unaffected.
func Main(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	return report(stderr, err)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "conda-trust",
		Short: "Sign and verify conda content-trust metadata, repodata and packages",
		Long: `conda-trust makes conda packages trustworthy from the build machine to the
user's environment, with conda content trust (metadata spec 0.6.0): a root of
offline keys delegates to key_mgr, key_mgr delegates to pkg_mgr keys, and
pkg_mgr keys sign every package record in repodata.json.

Everything it signs verifies in conda and conda-content-trust, byte for byte.
Unlike conda it refuses, rather than warns about, anything unsigned, expired,
rolled back or not signed by enough authorized keys.

Installed on PATH it also runs as "conda trust ...": conda trust add,
conda trust update, conda trust list and conda trust remove manage the
channels you trust, exactly as conda-trust add, update, list and remove.

` + exitCodeHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%s\nrun '%s --help' for usage", plainFlagError(err), c.CommandPath())
	})
	root.Version = buildinfo.Read().String()
	root.SetVersionTemplate("conda-trust {{.Version}}\n")
	root.AddGroup(
		&cobra.Group{ID: groupStore, Title: "Channels you trust (also as conda trust VERB):"},
		&cobra.Group{ID: groupVerify, Title: "Verify:"},
		&cobra.Group{ID: groupSign, Title: "Sign and publish a channel:"},
	)
	for _, f := range commands {
		c := f()
		if !c.Hidden {
			c.GroupID = commandGroups[c.Name()]
		}
		root.AddCommand(c)
	}
	// Added now rather than by Execute, so that usageArgs and
	// setExitCodeHelp cover them too.
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			// help [command path...]: an unknown path is a usage error
			// (cobra's own help prints the root's help and exits 0).
			c.Args = cobra.ArbitraryArgs
			show := c.Run
			c.Run = nil
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if target, rest, err := root.Find(args); err != nil || len(rest) > 0 || (target == root && len(args) > 0) {
					return usageError("no help topic %q: run 'conda-trust --help' for the list of commands", strings.Join(args, " "))
				}
				show(cmd, args)
				return nil
			}
		}
	}
	usageArgs(root)
	setExitCodeHelp(root)
	// Commands that only group others (the root, trust, root, key-mgr) are
	// runnable just to reject unknown subcommands: print their usage as
	// cobra does for a command that is not runnable, without a
	// "conda-trust trust [flags]" line.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(),
		"{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	return root
}

// Help groups of the top-level verbs; a verb in none of them is listed
// under "Additional Commands".
const (
	groupStore  = "store"
	groupVerify = "verify"
	groupSign   = "sign"
)

var commandGroups = map[string]string{
	"add": groupStore, "list": groupStore, "remove": groupStore, "update": groupStore,
	"fetch": groupVerify, "verify-env": groupVerify, "verify-package": groupVerify,
	"verify-repodata": groupVerify, "verify-metadata": groupVerify, "inspect": groupVerify,
	"proxy": groupVerify, "verify-attestation": groupVerify,
	"keygen": groupSign, "root": groupSign, "key-mgr": groupSign, "signable": groupSign,
	"add-signature": groupSign, "sign-metadata": groupSign, "sign-repodata": groupSign,
	"index": groupSign,
}

// usageArgs makes every argument check under c fail with a usage error.
// A command with subcommands and nothing to run gets unknownSubcommand as
// Args and prints its help when run alone; the check of every other
// command that has one is wrapped, so that cobra's own checks (those of
// the completion command) also exit 2. Verbs set Args with exactArgs or
// maxArgs; a test checks that none is left without.
func usageArgs(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = unknownSubcommand
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	} else if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			err := check(cmd, args)
			var u *usageErr
			if err != nil && !errors.As(err, &u) {
				return usageError("%v\nrun '%s --help' for usage", err, cmd.CommandPath())
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// unknownSubcommand is the Args of a command that only groups others:
// cobra found no subcommand named by the first argument.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
	}
	return usageError("%s\nrun '%s --help' for usage", msg, cmd.CommandPath())
}

// numErr matches the strconv error text pflag puts in its messages, e.g.
// `strconv.ParseInt: parsing "99999999999999999999": value out of range`.
var numErr = regexp.MustCompile(`strconv\.Parse\w+: parsing "[^"]*": (value out of range|invalid syntax)`)

// plainFlagError words a flag parsing error without Go internals.
func plainFlagError(err error) string {
	return numErr.ReplaceAllStringFunc(err.Error(), func(m string) string {
		if strings.HasSuffix(m, "value out of range") {
			return "the number is out of range"
		}
		return "not a whole number"
	})
}

// usageErr is a usage error: exit code 2.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &usageErr{fmt.Sprintf(format, args...)}
}

// hinted carries a line telling the user what to do.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// pkcs11Built is set in builds with PKCS#11 support (pkcs11.go, build tag
// pkcs11).
var pkcs11Built bool

// keyRefError words a failure to open the key reference ref: a pkcs11:
// reference's error already names the token, the key and what to do, so
// it gets no generic hint.
func keyRefError(err error, ref, hint string) error {
	if scheme, _, ok := strings.Cut(ref, ":"); ok && strings.EqualFold(scheme, "pkcs11") {
		return err
	}
	return withHint(err, "%s", hint)
}

func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: fmt.Sprintf(format, args...)}
}

// errUntrusted marks a run whose verification failed after its result
// was already printed (for example as JSON).
var errUntrusted = errors.New("not trusted")

// silent wraps an error whose result was already printed (as JSON): it
// exits with the wrapped error's code without another message.
type silent struct{ err error }

func (s *silent) Error() string { return s.err.Error() }
func (s *silent) Unwrap() error { return s.err }

func report(stderr io.Writer, err error) int {
	var s *silent
	if errors.As(err, &s) {
		return exitCodeFor(err)
	}
	fmt.Fprintf(stderr, "conda-trust: error: %v\n", err)
	var ve *trust.VerificationError
	if errors.As(err, &ve) && ve.Rule != "" {
		fmt.Fprintf(stderr, "conda-trust: refused by rule %s (docs/client.md lists every rule)\n", ve.Rule)
	}
	var h *hinted
	if errors.As(err, &h) && h.hint != "" {
		for _, line := range strings.Split(h.hint, "\n") {
			fmt.Fprintf(stderr, "conda-trust: hint: %s\n", line)
		}
	}
	return exitCodeFor(err)
}

func exitCodeFor(err error) int {
	// An error may carry its own documented code (index: 4 for a partial run).
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	var u *usageErr
	var we *atomicfile.Error
	switch {
	case errors.As(err, &u):
		return exitUsage
	case errors.As(err, &we) && errors.Is(err, syscall.EISDIR):
		// An output named as a directory (-o adir) is a wrong argument,
		// whichever verb was given it.
		return exitUsage
	case errors.Is(err, trust.ErrVerification), errors.Is(err, errUntrusted):
		return exitUntrusted
	}
	return exitInput
}

// exactArgs is cobra.ExactArgs with a usage error that names the
// arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s takes %s (got %d argument(s))\nrun '%s --help' for usage", cmd.CommandPath(), names, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// maxArgs is cobra.MaximumNArgs with a usage error that names the
// arguments.
func maxArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError("%s takes at most %s (got %d argument(s))\nrun '%s --help' for usage", cmd.CommandPath(), names, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// parseAt parses --at: an RFC 3339 time; empty means now.
func parseAt(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usageError("--at %q: use an RFC 3339 time such as 2026-01-01T00:00:00Z", s)
	}
	return t, nil
}

// flagAlias makes --alias another spelling of --name.
func flagAlias(alias, name string) func(*pflag.FlagSet, string) pflag.NormalizedName {
	return func(_ *pflag.FlagSet, n string) pflag.NormalizedName {
		if n == alias {
			n = name
		}
		return pflag.NormalizedName(n)
	}
}

// addPolicyFlags adds --at and --allow-expired.
func addPolicyFlags(fs *pflag.FlagSet, at *string, allowExpired *bool) {
	fs.StringVar(at, "at", "", "reference time for expiry checks, RFC 3339 (default now)")
	fs.BoolVar(allowExpired, "allow-expired", false, "accept expired metadata (reported loudly; for forensics and the historical Anaconda chain)")
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// readInput reads a file named on the command line (or the object of an
// s3:// URL); errors name the file.
func readInput(path string) ([]byte, error) {
	if s3store.IsURL(path) {
		return readS3Input(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, withHint(err, "check the path; conda-trust reads the file as given")
	}
	return data, nil
}

// loadMetadata reads and parses a metadata file, naming it in errors. With
// a role, a file of another type is an input error (exit 3) that says what
// the file is; a file that is not metadata at all is named for what it
// looks like (a key file, a repodata.json).
func loadMetadata(path, role string) (*trust.Metadata, error) {
	data, err := readInput(path)
	if err != nil {
		return nil, err
	}
	m, err := trust.ParseMetadata(data, "")
	if err != nil {
		if what := notMetadata(data); what != "" {
			return nil, withHint(fmt.Errorf("%s is %s, not content-trust metadata", path, what),
				"give a metadata file: N.root.json or key_mgr.json")
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if role != "" && m.Type != role {
		return nil, wrongType(path, m, role)
	}
	return m, nil
}

// wrongType is the error for a metadata file of another role than the one
// a flag or argument takes.
func wrongType(path string, m *trust.Metadata, role string) error {
	want := map[string]string{trust.RoleRoot: "root metadata (N.root.json)", trust.RoleKeyMgr: "key_mgr metadata (key_mgr.json)"}[role]
	if want == "" {
		want = role + " metadata"
	}
	return withHint(fmt.Errorf("%s is %s v%d metadata, but %s is needed here", path, m.Type, m.Version, want),
		"check which file you passed: each flag names the role it takes")
}

// notMetadata says what data looks like when it is not a metadata file,
// or "" when it looks like none of the files users mix up with metadata.
// It never echoes the content: the file may be a private key.
func notMetadata(data []byte) string {
	t := bytes.TrimSpace(data)
	switch {
	case len(t) == 64 && isHex(t):
		return "a key file (64 hex characters: an Ed25519 public key or private seed)"
	case bytes.HasPrefix(t, []byte("-----BEGIN PGP PUBLIC KEY BLOCK")):
		return "an OpenPGP public key"
	case bytes.HasPrefix(t, []byte("-----BEGIN PGP SIGNATURE")):
		return "an OpenPGP signature"
	case bytes.HasPrefix(t, []byte("-----BEGIN")):
		return "a PEM file (a key or certificate)"
	case bytes.HasPrefix(t, []byte("{")) && (bytes.Contains(t, []byte(`"packages"`)) || bytes.Contains(t, []byte(`"packages.conda"`))):
		return "a repodata.json (use verify-repodata or sign-repodata for it)"
	}
	return ""
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func warn(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintf(w, "conda-trust: %s\n", l)
	}
}
