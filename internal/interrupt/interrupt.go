// Package interrupt is the process-wide SIGINT and SIGTERM handler of the
// condatrust commands. On a signal it stops the command's output, removes
// every temporary file in flight and blocks every later write
// (atomicfile.Interrupt), prints one line saying which files were written
// ("PROG: interrupted; nothing written" or "PROG: interrupted; wrote FILE,
// FILE"), and exits with 130 (SIGINT) or 143 (SIGTERM), without waiting
// for a CPU-bound command to notice. A signal that arrives after the
// command finished changes nothing: its exit code stands.
//
// Only process entry points call [Run]; code run in process by tests
// installs no handler.
package interrupt

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/condatrust/condatrust/internal/atomicfile"
)

// Exit codes of a run stopped by a signal: 128 + the signal's number, as
// shells report a process killed by it.
const (
	ExitInterrupt = 130 // SIGINT (Ctrl-C)
	ExitTerminate = 143 // SIGTERM
)

// Run runs the command run under the handler; prog names the tool in the
// message. It returns run's exit code, or does not return when a signal
// stopped the command.
func Run(prog string, run func(stdout, stderr io.Writer) int, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	g := &gate{}
	go func() {
		sig := <-sigs
		if !g.interrupt() {
			return // the command has finished: its exit code stands
		}
		committed := atomicfile.Interrupt()
		fmt.Fprintf(stderr, "%s: %s\n", prog, atomicfile.InterruptedMessage(committed))
		os.Exit(ExitCode(sig))
	}()
	code := run(g.writer(stdout), g.writer(stderr))
	if !g.finish() {
		select {} // the handler is exiting the process
	}
	signal.Stop(sigs)
	return code
}

// ExitCode is the exit code for a run stopped by sig.
func ExitCode(sig os.Signal) int {
	if sig == syscall.SIGTERM {
		return ExitTerminate
	}
	return ExitInterrupt
}

// gate passes the command's output through until a signal arrives, and
// drops it after, so that the handler's line is the only word about the
// interruption.
type gate struct {
	mu          sync.Mutex
	interrupted bool
	finished    bool
}

// interrupt closes the gate; it reports false when the command has already
// finished.
func (g *gate) interrupt() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.finished {
		return false
	}
	g.interrupted = true
	return true
}

// finish marks the command finished; it reports false when a signal came
// first.
func (g *gate) finish() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.interrupted {
		return false
	}
	g.finished = true
	return true
}

func (g *gate) writer(w io.Writer) io.Writer { return gatedWriter{g, w} }

type gatedWriter struct {
	g *gate
	w io.Writer
}

func (w gatedWriter) Write(p []byte) (int, error) {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	if w.g.interrupted {
		return len(p), nil
	}
	return w.w.Write(p)
}
