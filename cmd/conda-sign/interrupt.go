package main

import (
	"io"

	"github.com/condatrust/condatrust/internal/interrupt"
)

// runInterruptible runs [run] as the process entry point does, under the
// SIGINT and SIGTERM handler of internal/interrupt: temporary files in
// flight removed, one line naming the files written, exit 130 or 143 (the
// help's "Exit status" lists them). run itself installs no handler, so
// that tests calling it in process are unaffected.
func runInterruptible(args []string, stdout, stderr io.Writer) int {
	return interrupt.Run("conda-sign", func(stdout, stderr io.Writer) int { return run(args, stdout, stderr) }, stdout, stderr)
}
