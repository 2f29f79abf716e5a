// Command conda-trust signs and verifies conda content-trust metadata,
// repodata and packages. Installed on PATH it also works as the conda
// subcommand `conda trust`.
//
// Exit codes:
//
//	0    success: everything verified
//	1    verification failed: something is not trusted
//	2    usage error: wrong command, flag or argument
//	3    unreadable or malformed input, or another error
//	4    partial: index skipped some packages
//	130  interrupted by SIGINT (Ctrl-C)
//	143  stopped by SIGTERM
//
// On SIGINT or SIGTERM every temporary file is removed, every file keeps
// its old content or has its new content in full, and one line on stderr
// says which files were written ("conda-trust: interrupted; nothing
// written"). docs/operations.md has the details.
package main

import (
	"os"
)

func main() {
	os.Exit(runInterruptible(os.Args[1:], os.Stdout, os.Stderr))
}
