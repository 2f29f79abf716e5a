package main

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
	exitInterrupt = 130 // SIGINT (Ctrl-C)
	exitTerminate = 143 // SIGTERM
)

// runInterruptible runs [run] as the process entry point does: SIGINT and
// SIGTERM stop the run at once. The handler removes every temporary file
// in flight and blocks every later write (atomicfile.Interrupt), prints one
// line saying which files were written, "conda-sign: interrupted; nothing
// written" or "conda-sign: interrupted; wrote FILE, FILE", and exits with
// 130 (SIGINT) or 143 (SIGTERM) without waiting for the command to notice.
// From the signal on, the command's own output is dropped, so that line is
// the only word about the interruption. run itself installs no handler,
// so that tests calling it in process are unaffected.
//
// The help text does not list these codes yet: 130 (SIGINT) and 143
// (SIGTERM) belong under "Exit status" there.
func runInterruptible(args []string, stdout, stderr io.Writer) int {
	return withSignals(func(stdout, stderr io.Writer) int { return run(args, stdout, stderr) }, "conda-sign", stdout, stderr)
}

// withSignals runs run under the process-wide handler described at
// [runInterruptible]; prog names the tool in the message.
func withSignals(run func(stdout, stderr io.Writer) int, prog string, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	g := &outputGate{}
	go func() {
		sig := <-sigs
		if !g.interrupt() {
			return // the command has finished: its exit code stands
		}
		committed := atomicfile.Interrupt()
		fmt.Fprintf(stderr, "%s: %s\n", prog, atomicfile.InterruptedMessage(committed))
		os.Exit(signalExitCode(sig))
	}()
	code := run(g.writer(stdout), g.writer(stderr))
	if !g.finish() {
		select {} // the handler is exiting the process
	}
	signal.Stop(sigs)
	return code
}

func signalExitCode(sig os.Signal) int {
	if sig == syscall.SIGTERM {
		return exitTerminate
	}
	return exitInterrupt
}

// outputGate passes the command's output through until a signal arrives,
// and drops it after.
type outputGate struct {
	mu          sync.Mutex
	interrupted bool
	finished    bool
}

// interrupt closes the gate; it reports false when the command has already
// finished.
func (g *outputGate) interrupt() bool {
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
func (g *outputGate) finish() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.interrupted {
		return false
	}
	g.finished = true
	return true
}

func (g *outputGate) writer(w io.Writer) io.Writer { return gatedWriter{g, w} }

type gatedWriter struct {
	g *outputGate
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
