// Command testreport reads `go test -json` on stdin and prints what a
// person needs from a test run: one line per package (ok, FAIL, no test
// files), the full output of every failed test, and at the end which tests
// were skipped and why, grouped by reason, so that a run without the
// shared known-answer vectors says so. It exits 1 if any test or build
// failed. `make test` pipes into it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// report accumulates a run.
type report struct {
	out     io.Writer
	failed  bool
	events  int
	buffers map[string]*strings.Builder // per package/test output
	skips   map[string][]string         // reason -> "pkg Test"
}

func main() {
	r := &report{out: os.Stdout, buffers: map[string]*strings.Builder{}, skips: map[string][]string{}}
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	if r.events == 0 {
		// go test printed nothing on stdout: it failed before running
		// anything (its error went to stderr).
		fmt.Fprintln(os.Stderr, "testreport: no test events read: go test did not run")
		os.Exit(1)
	}
	r.summary()
	if r.failed {
		os.Exit(1)
	}
}

func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event: go itself talking (a build error); show it.
			fmt.Fprintln(r.out, string(line))
			r.failed = true
			continue
		}
		r.events++
		r.event(e)
	}
	return sc.Err()
}

func (r *report) event(e event) {
	key := e.Package + " " + e.Test
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
	case "build-fail":
		r.failed = true
	case "output":
		if e.Test == "" {
			// Package lines: "ok  \tpkg\t1.2s", "FAIL\tpkg", "?   \tpkg\t[no test files]".
			if o := e.Output; strings.HasPrefix(o, "ok ") || strings.HasPrefix(o, "FAIL\t") ||
				strings.HasPrefix(o, "?") || strings.HasPrefix(o, "panic:") || strings.HasPrefix(o, "# ") {
				fmt.Fprint(r.out, o)
			} else if o != "PASS\n" && o != "FAIL\n" && !strings.HasPrefix(o, "testing: warning") {
				r.buf(key).WriteString(o)
			}
			return
		}
		r.buf(key).WriteString(e.Output)
	case "fail":
		r.failed = true
		if e.Test != "" {
			fmt.Fprint(r.out, r.buf(key).String())
		} else if b := r.buffers[key]; b != nil {
			fmt.Fprint(r.out, b.String()) // package-level failure (TestMain, timeout)
		}
		delete(r.buffers, key)
	case "skip":
		if e.Test != "" {
			reason := skipReason(r.buf(key).String())
			r.skips[reason] = append(r.skips[reason], e.Package+" "+e.Test)
		}
		delete(r.buffers, key)
	case "pass":
		delete(r.buffers, key)
	}
}

func (r *report) buf(key string) *strings.Builder {
	b := r.buffers[key]
	if b == nil {
		b = &strings.Builder{}
		r.buffers[key] = b
	}
	return b
}

// skipReason takes the message a skipped test logged: its output without
// the "=== RUN" and "--- SKIP" lines and the file:line prefix.
func skipReason(out string) string {
	// A testscript skips with "> [cond] skip 'message'" after logging its
	// environment: the message is the reason.
	if m := scriptSkip.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	var msg []string
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		if i := strings.Index(t, ": "); i > 0 && strings.Contains(t[:i], ".go:") {
			t = t[i+2:]
		}
		msg = append(msg, t)
	}
	if len(msg) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msg, " ")
}

var scriptSkip = regexp.MustCompile(`> (?:\[[^\]]*\] )?skip '([^']*)'`)

// summary lists the skipped tests, grouped by reason, most frequent first.
func (r *report) summary() {
	if len(r.skips) == 0 {
		fmt.Fprintln(r.out, "skipped: none")
		return
	}
	reasons := make([]string, 0, len(r.skips))
	total := 0
	for reason, tests := range r.skips {
		reasons = append(reasons, reason)
		total += len(tests)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if a, b := len(r.skips[reasons[i]]), len(r.skips[reasons[j]]); a != b {
			return a > b
		}
		return reasons[i] < reasons[j]
	})
	fmt.Fprintf(r.out, "skipped: %d test(s)\n", total)
	for _, reason := range reasons {
		tests := r.skips[reason]
		sort.Strings(tests)
		fmt.Fprintf(r.out, "  %d: %s\n", len(tests), reason)
		for i, t := range tests {
			if i == 8 {
				fmt.Fprintf(r.out, "      ... and %d more\n", len(tests)-i)
				break
			}
			fmt.Fprintf(r.out, "      %s\n", t)
		}
	}
}
