package interrupt

import (
	"bytes"
	"context"
	"io"
	"os"
	"syscall"
	"testing"
)

func TestGate(t *testing.T) {
	var out bytes.Buffer
	g := &gate{}
	w := g.writer(&out)
	w.Write([]byte("before "))
	if !g.interrupt() {
		t.Fatal("interrupt refused before finish")
	}
	w.Write([]byte("after"))
	if out.String() != "before " {
		t.Errorf("output after the signal passed: %q", out.String())
	}
	if g.finish() {
		t.Error("finish reported no signal after one came")
	}

	g2 := &gate{}
	if !g2.finish() || g2.interrupt() {
		t.Error("a signal after finish must change nothing")
	}
}

func TestExitCode(t *testing.T) {
	if ExitCode(os.Interrupt) != 130 || ExitCode(syscall.SIGTERM) != 143 {
		t.Errorf("exit codes %d, %d", ExitCode(os.Interrupt), ExitCode(syscall.SIGTERM))
	}
}

// TestRunReturnsCode: without a signal, Run is the command: its output
// and its exit code pass through.
func TestRunReturnsCode(t *testing.T) {
	var out bytes.Buffer
	code := Run("prog", func(stdout, _ io.Writer) int {
		io.WriteString(stdout, "done")
		return 7
	}, &out, &out)
	if code != 7 || out.String() != "done" {
		t.Errorf("exit %d, output %q", code, out.String())
	}
}

// TestTake: while a command holds the signals, the first one cancels its
// context and is remembered; after release, signals end the process again.
func TestTake(t *testing.T) {
	ctx, release := Take(context.Background())
	if !taken(syscall.SIGTERM) {
		t.Fatal("first signal not taken")
	}
	if ctx.Err() == nil || Signal() != syscall.SIGTERM {
		t.Errorf("context %v, signal %v", ctx.Err(), Signal())
	}
	if taken(syscall.SIGINT) {
		t.Error("second signal taken: it must end the process")
	}
	release()
	if taken(syscall.SIGINT) {
		t.Error("signal taken after release")
	}
}
