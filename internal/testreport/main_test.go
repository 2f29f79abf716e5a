package main

import (
	"strings"
	"testing"
)

const run = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestKAT"}
{"Action":"output","Package":"p","Test":"TestKAT","Output":"=== RUN   TestKAT\n"}
{"Action":"output","Package":"p","Test":"TestKAT","Output":"    kat_test.go:12: shared vectors not found; skipping known-answer test\n"}
{"Action":"output","Package":"p","Test":"TestKAT","Output":"--- SKIP: TestKAT (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestKAT"}
{"Action":"run","Package":"p","Test":"TestBad"}
{"Action":"output","Package":"p","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"p","Test":"TestBad","Output":"    bad_test.go:3: got 1, want 2\n"}
{"Action":"output","Package":"p","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"p","Test":"TestBad"}
{"Action":"run","Package":"p","Test":"TestOK"}
{"Action":"output","Package":"p","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"pass","Package":"p","Test":"TestOK"}
{"Action":"output","Package":"p","Output":"FAIL\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.01s\n"}
{"Action":"fail","Package":"p"}
{"Action":"output","Package":"q","Output":"ok  \tq\t0.02s\n"}
{"Action":"pass","Package":"q"}
`

func TestReport(t *testing.T) {
	var out strings.Builder
	r := &report{out: &out, buffers: map[string]*strings.Builder{}, skips: map[string][]string{}}
	if err := r.read(strings.NewReader(run)); err != nil {
		t.Fatal(err)
	}
	r.summary()
	want := `=== RUN   TestBad
    bad_test.go:3: got 1, want 2
--- FAIL: TestBad (0.00s)
FAIL	p	0.01s
ok  	q	0.02s
skipped: 1 test(s)
  1: shared vectors not found; skipping known-answer test
      p TestKAT
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if !r.failed {
		t.Error("a failed test did not fail the report")
	}
}

func TestReportBuildError(t *testing.T) {
	var out strings.Builder
	r := &report{out: &out, buffers: map[string]*strings.Builder{}, skips: map[string][]string{}}
	r.read(strings.NewReader("# p\nx.go:1: syntax error\n"))
	if !r.failed || !strings.Contains(out.String(), "syntax error") {
		t.Errorf("build error: failed=%v, output %q", r.failed, out.String())
	}
}

func TestSkipReasonTestscript(t *testing.T) {
	out := "=== RUN   TestScripts/v\n    testscript.go:558: WORK=$WORK PATH=/x HOME=/no-home # Upstream vectors. (0.000s) > [!vectors] skip 'shared vectors not present'\n--- SKIP: TestScripts/v (0.00s)\n"
	if got := skipReason(out); got != "shared vectors not present" {
		t.Errorf("got %q", got)
	}
}
