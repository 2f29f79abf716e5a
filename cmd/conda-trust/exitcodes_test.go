package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestExitCodesListed checks that every command's help lists its own exit
// codes, and only those: the generic block is gone, 130 and 143 are there,
// and a code the command cannot return (4 outside index) is not.
func TestExitCodesListed(t *testing.T) {
	root := newRootCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), "conda-trust"), " ")
		if !c.Hidden && !strings.HasPrefix(path, "trust") && !strings.HasPrefix(path, "__complete") && !strings.HasPrefix(path, "completion ") {
			codes, ok := exitCodesOf[path]
			if !ok {
				t.Errorf("%q has no entry in exitCodesOf", c.CommandPath())
			}
			if strings.Contains(c.Long, exitCodeHelp) {
				t.Errorf("%q still shows the generic exit codes", c.CommandPath())
			}
			if !strings.Contains(c.Long, exitCodesText(codes)) {
				t.Errorf("%q help lacks its exit codes:\n%s", c.CommandPath(), c.Long)
			}
			if path != "" && path != "index" && strings.Contains(c.Long, "\n  4 ") {
				t.Errorf("%q lists exit code 4", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if got := exitCodesText([]int{0, 2}); got != "Exit codes:\n  0   success: everything verified\n  2   invalid argument: wrong command, flag or argument\n  130 interrupted by Ctrl-C (SIGINT): temporary files removed\n  143 terminated by SIGTERM: temporary files removed" {
		t.Errorf("exitCodesText:\n%s", got)
	}
}
