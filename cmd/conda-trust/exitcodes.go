package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// exitMeanings words each exit code, for help texts: those of cli.go,
// exitPartial (cmd_index.go) and the signal codes (interrupt.go).
var exitMeanings = map[int]string{
	exitOK:        "success: everything verified",
	exitUntrusted: "verification failed: something is not trusted",
	exitUsage:     "invalid argument: wrong command, flag or argument",
	exitInput:     "missing or unreadable input, wrong document type, or another error",
	exitPartial:   "partial: index skipped some packages (each listed with its reason)",
	exitInterrupt: "interrupted by Ctrl-C (SIGINT): temporary files removed",
	exitTerminate: "terminated by SIGTERM: temporary files removed",
}

// exitCodesOf lists, per command path below conda-trust, the codes the
// command can return besides 130 and 143, which every command can. The
// root command's help lists them all. TestExitCodesListed checks that every
// command has an entry.
var exitCodesOf = map[string][]int{
	"":                   {exitOK, exitUntrusted, exitUsage, exitInput, exitPartial},
	"add":                {exitOK, exitUntrusted, exitUsage, exitInput},
	"list":               {exitOK, exitUsage, exitInput},
	"remove":             {exitOK, exitUsage, exitInput},
	"update":             {exitOK, exitUntrusted, exitUsage, exitInput},
	"fetch":              {exitOK, exitUntrusted, exitUsage, exitInput},
	"verify-env":         {exitOK, exitUntrusted, exitUsage, exitInput},
	"verify-package":     {exitOK, exitUntrusted, exitUsage, exitInput},
	"verify-repodata":    {exitOK, exitUntrusted, exitUsage, exitInput},
	"verify-metadata":    {exitOK, exitUntrusted, exitUsage, exitInput},
	"verify-attestation": {exitOK, exitUntrusted, exitUsage, exitInput},
	"inspect":            {exitOK, exitUsage, exitInput},
	"keygen":             {exitOK, exitUsage, exitInput},
	"root":               {exitOK, exitUsage},
	"root init":          {exitOK, exitUsage, exitInput},
	"root next":          {exitOK, exitUsage, exitInput},
	"key-mgr":            {exitOK, exitUsage},
	"key-mgr init":       {exitOK, exitUsage, exitInput},
	"key-mgr next":       {exitOK, exitUsage, exitInput},
	"signable":           {exitOK, exitUsage, exitInput},
	"add-signature":      {exitOK, exitUntrusted, exitUsage, exitInput},
	"sign-metadata":      {exitOK, exitUntrusted, exitUsage, exitInput},
	"sign-repodata":      {exitOK, exitUntrusted, exitUsage, exitInput},
	"index":              {exitOK, exitUntrusted, exitUsage, exitInput, exitPartial},
	"demo":               {exitOK, exitUntrusted, exitUsage, exitInput},
	"proxy":              {exitOK, exitUsage, exitInput},
	"help":               {exitOK, exitUsage},
	"completion":         {exitOK, exitUsage},
}

// exitCodesText is the "Exit codes:" block of one command's help.
func exitCodesText(codes []int) string {
	var b strings.Builder
	b.WriteString("Exit codes:")
	for _, c := range append(append([]int{}, codes...), exitInterrupt, exitTerminate) {
		fmt.Fprintf(&b, "\n  %-3d %s", c, exitMeanings[c])
	}
	return b.String()
}

// setExitCodeHelp gives every command under c the exit codes it can
// return: the generic block (exitCodeHelp) in a help text is replaced by
// the command's own, and a command without one gets it appended. A
// command missing from exitCodesOf keeps the generic block.
func setExitCodeHelp(c *cobra.Command) {
	path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), "conda-trust"), " ")
	if strings.HasPrefix(path, "trust ") { // the hidden alias
		path = strings.TrimPrefix(path, "trust ")
	}
	if codes, ok := exitCodesOf[path]; ok && c.Name() != "trust" {
		text := exitCodesText(codes)
		switch {
		case strings.Contains(c.Long, exitCodeHelp):
			c.Long = strings.Replace(c.Long, exitCodeHelp, text, 1)
		case c.Long != "":
			c.Long = strings.TrimRight(c.Long, "\n") + "\n\n" + text
		default:
			c.Long = c.Short + ".\n\n" + text
		}
	}
	for _, sub := range c.Commands() {
		setExitCodeHelp(sub)
	}
}
