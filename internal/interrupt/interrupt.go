// Package interrupt is the process-wide SIGINT and SIGTERM handler of the
// condatrust commands. On a signal it stops the command's output, removes
// every temporary file in flight and blocks every later write
// (atomicfile.Interrupt), prints one line saying which files were written
// ("PROG: interrupted; nothing written" or "PROG: interrupted; wrote FILE,
// FILE"), and exits with 130 (SIGINT) or 143 (SIGTERM), without waiting
// for a CPU-bound command to notice. A signal that arrives after the
// command finished changes nothing: its exit code stands.
//
// A server that must shut down gracefully calls [Take]: the first signal
// then cancels its context instead, and a second one ends the process.
//
// Only process entry points call [Run]; code run in process by tests
// installs no handler.
package interrupt

import (
	"context"
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
		for sig := range sigs {
			if taken(sig) {
				continue // a server shuts down gracefully; a second signal ends it
			}
			if !g.interrupt() {
				return // the command has finished: its exit code stands
			}
			committed := atomicfile.Interrupt()
			fmt.Fprintf(stderr, "%s: %s\n", prog, atomicfile.InterruptedMessage(committed))
			os.Exit(ExitCode(sig))
		}
	}()
	code := run(g.writer(stdout), g.writer(stderr))
	if !g.finish() {
		select {} // the handler is exiting the process
	}
	signal.Stop(sigs)
	return code
}

// takeover is the context of a command that handles signals itself.
var takeover struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	sig    os.Signal
}

// Take lets a long-running command (a server) stop gracefully: until
// release is called, the first SIGINT or SIGTERM cancels ctx instead of
// ending the process, and a second one ends it as usual. Signal reports
// which signal cancelled ctx, if any. Without [Run] (in tests) ctx is only
// cancelled with parent or by release.
func Take(parent context.Context) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancel(parent)
	takeover.mu.Lock()
	takeover.cancel, takeover.sig = cancel, nil
	takeover.mu.Unlock()
	return ctx, func() {
		takeover.mu.Lock()
		takeover.cancel = nil
		takeover.mu.Unlock()
		cancel()
	}
}

// Signal returns the signal that cancelled the context of [Take], or nil.
func Signal() os.Signal {
	takeover.mu.Lock()
	defer takeover.mu.Unlock()
	return takeover.sig
}

// taken hands sig to a command that took signals over, the first time.
func taken(sig os.Signal) bool {
	takeover.mu.Lock()
	defer takeover.mu.Unlock()
	if takeover.cancel == nil || takeover.sig != nil {
		return false
	}
	takeover.sig = sig
	takeover.cancel()
	return true
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
