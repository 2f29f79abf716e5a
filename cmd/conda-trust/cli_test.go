package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestUsageErrors checks that every wrong command, argument count and
// flag exits 2 with a message naming what was wrong and where to look.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"bogus"}, []string{`error: unknown command "bogus" for "conda-trust"`, "run 'conda-trust --help' for usage"}},
		{[]string{"updat"}, []string{`unknown command "updat" for "conda-trust"`, "Did you mean this?\n\tupdate\n"}},
		{[]string{"list", "x"}, []string{"conda-trust list takes no positional arguments (got 1 argument(s))", "run 'conda-trust list --help' for usage"}},
		{[]string{"update", "a", "b"}, []string{"conda-trust update takes at most one CHANNEL_URL (got 2 argument(s))"}},
		{[]string{"add"}, []string{"conda-trust add takes CHANNEL_URL (got 0 argument(s))"}},
		{[]string{"remove", "--nope", "x"}, []string{"unknown flag: --nope", "run 'conda-trust remove --help' for usage"}},
		{[]string{"trust", "bogus"}, []string{`unknown command "bogus" for "conda-trust trust"`, "run 'conda-trust trust --help' for usage"}},
		{[]string{"trust", "ad", "x"}, []string{`unknown command "ad" for "conda-trust trust"`, "Did you mean this?\n\tadd\n"}},
		{[]string{"root", "bogus"}, []string{`unknown command "bogus" for "conda-trust root"`}},
		{[]string{"key-mgr", "inti"}, []string{`unknown command "inti" for "conda-trust key-mgr"`, "\tinit\n"}},
		{[]string{"completion", "bash", "x"}, []string{`unknown command "x" for "conda-trust completion bash"`, "run 'conda-trust completion bash --help' for usage"}},
		{[]string{"trust", "list", "x"}, []string{"conda-trust trust list takes no positional arguments (got 1 argument(s))", "run 'conda-trust trust list --help' for usage"}},
		{[]string{"trust", "update", "a", "b"}, []string{"conda-trust trust update takes at most one CHANNEL_URL (got 2 argument(s))"}},
		{[]string{"trust", "add"}, []string{"conda-trust trust add takes CHANNEL_URL (got 0 argument(s))"}},
		{[]string{"demo", "a", "b"}, []string{"conda-trust demo takes at most one DIR (got 2 argument(s))", "run 'conda-trust demo --help' for usage"}},
		{[]string{"keygen"}, []string{"conda-trust keygen takes one key NAME (got 0 argument(s))"}},
		{[]string{"verify-metadata", "a"}, []string{"conda-trust verify-metadata takes TRUSTED and UNTRUSTED (got 1 argument(s))"}},
		{[]string{"sign-metadata", "a", "b"}, []string{"conda-trust sign-metadata takes the metadata FILE (got 2 argument(s))"}},
		{[]string{"--nope"}, []string{"unknown flag: --nope", "run 'conda-trust --help' for usage"}},
		{[]string{"help", "bogus"}, []string{`no help topic "bogus": run 'conda-trust --help' for the list of commands`}},
		{[]string{"root", "init", "--version", "99999999999999999999"}, []string{`invalid argument "99999999999999999999" for "--version" flag: the number is out of range`}},
		{[]string{"root", "init", "--version", "x"}, []string{`invalid argument "x" for "--version" flag: not a whole number`}},
		{[]string{"trust", "add", "--nope", "x"}, []string{"unknown flag: --nope", "run 'conda-trust trust add --help' for usage"}},
	} {
		code, out, errOut := runMain(c.args...)
		if strings.Contains(errOut, "strconv.") {
			t.Errorf("%q: stderr %q shows Go internals", c.args, errOut)
		}
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %q", c.args, code, exitUsage, errOut)
		}
		if out != "" {
			t.Errorf("%q: stdout %q, want nothing", c.args, out)
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%q: stderr %q, want %q", c.args, errOut, w)
			}
		}
	}
}

// TestGroupCommandsHelp checks that a command that only groups others
// still prints its help and exits 0 when run alone, without a usage line
// of its own.
func TestGroupCommandsHelp(t *testing.T) {
	for _, args := range [][]string{{}, {"trust"}, {"root"}, {"key-mgr"}} {
		code, out, errOut := runMain(args...)
		if code != exitOK || errOut != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
		path := strings.Join(append([]string{"conda-trust"}, args...), " ")
		if !strings.Contains(out, "Usage:\n  "+path+" [command]\n") || strings.Contains(out, path+" [flags]") {
			t.Errorf("%q: usage is not that of a group:\n%s", args, out)
		}
	}
}

// TestEveryCommandChecksArgs checks that no command is left with cobra's
// default argument handling, which accepts anything or fails with an
// error that is not a usage error.
func TestEveryCommandChecksArgs(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Args == nil {
			t.Errorf("%s: no Args: use exactArgs or maxArgs", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}

// TestExitCodeByType checks that exit codes follow error types, not
// message text.
func TestExitCodeByType(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{usageError("anything"), exitUsage},
		{withHint(usageError("anything"), "hint"), exitUsage},
		{errors.New(`unknown command "x" for "conda-trust"`), exitInput},
		{errors.New("accepts at most 1 arg(s), received 2"), exitInput},
		{errors.New("requires at least 1 arg(s), only received 0"), exitInput},
		{&silent{errUntrusted}, exitUntrusted},
	} {
		if got := exitCodeFor(c.err); got != c.code {
			t.Errorf("exitCodeFor(%v) = %d, want %d", c.err, got, c.code)
		}
	}
}

// TestLegacyKeysFlagSpellings: fetch and proxy take the conda sign keys
// folder under both names (fetch documents --legacy-keys-dir, the proxy
// --legacy-keys).
func TestLegacyKeysFlagSpellings(t *testing.T) {
	for _, c := range []struct{ verb, canonical string }{{"fetch", "legacy-keys-dir"}, {"proxy", "legacy-keys"}} {
		for _, spelling := range []string{"--legacy-keys", "--legacy-keys-dir"} {
			cmd, _, err := newRootCmd().Find([]string{c.verb})
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.ParseFlags([]string{spelling, "/keys"}); err != nil {
				t.Errorf("%s %s: %v", c.verb, spelling, err)
				continue
			}
			if got := cmd.Flags().Lookup(c.canonical).Value.String(); got != "/keys" {
				t.Errorf("%s %s: --%s is %q", c.verb, spelling, c.canonical, got)
			}
		}
	}
}
