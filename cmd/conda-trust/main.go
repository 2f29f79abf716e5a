// Command conda-trust signs and verifies conda content-trust metadata,
// repodata and packages. Installed on PATH it also works as the conda
// subcommand `conda trust`.
//
// Exit codes:
//
//	0  success: everything verified
//	1  verification failed: something is not trusted
//	2  usage error: wrong command, flag or argument
//	3  unreadable or malformed input, or another error
//	4  partial: index skipped some packages
package main

import (
	"os"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}
