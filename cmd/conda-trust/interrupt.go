package main

import (
	"io"

	"github.com/condatrust/condatrust/internal/interrupt"
)

// Exit codes of a run stopped by a signal (internal/interrupt).
const (
	exitInterrupt = interrupt.ExitInterrupt // SIGINT (Ctrl-C)
	exitTerminate = interrupt.ExitTerminate // SIGTERM
)

// runInterruptible runs [Main] as the process entry point does, under the
// SIGINT and SIGTERM handler of internal/interrupt: temporary files in
// flight removed, one line naming the files written, exit 130 or 143. Main
// itself installs no handler, so that tests calling it in process are
// unaffected.
func runInterruptible(args []string, stdout, stderr io.Writer) int {
	return interrupt.Run("conda-trust", func(stdout, stderr io.Writer) int { return Main(args, stdout, stderr) }, stdout, stderr)
}
