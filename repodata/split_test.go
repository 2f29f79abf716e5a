package repodata

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// withSmallChunks makes parse split even tiny inputs into many chunks.
func withSmallChunks(t testing.TB, size int) {
	oldT, oldC := parallelThreshold, minChunk
	parallelThreshold, minChunk = 0, size
	t.Cleanup(func() { parallelThreshold, minChunk = oldT, oldC })
}

// sameParse checks that splitting data on several workers gives exactly
// what the sequential scan gives, errors included.
func sameParse(t *testing.T, data []byte) {
	t.Helper()
	a, errA := parse(data, 1, false)
	b, errB := parse(data, 3, false)
	if fmt.Sprint(errA) != fmt.Sprint(errB) {
		t.Fatalf("errors differ: %v vs %v", errA, errB)
	}
	if errA != nil {
		return
	}
	a.release, b.release = nil, nil
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("parallel split differs from the sequential one")
	}
}

func TestParallelSplit(t *testing.T) {
	withSmallChunks(t, 64)
	// Records with nested objects and strings that look like record
	// boundaries, so that many anchors are wrong guesses.
	var b strings.Builder
	b.WriteString(`{"info": {"a": {"b": 1}, "c": 2}, "packages": {`)
	for i := range 300 {
		if i > 0 {
			b.WriteString(",\n ")
		}
		fmt.Fprintf(&b, `"p-%03d.tar.bz2": {"name": "p", "n": %d, "x": {"y": {}, "z": [1, {}]}, "s": "},\"q\": {\"", "t": "\\\\"}`, i, i)
	}
	b.WriteString(`}, "packages.conda": {`)
	for i := range 300 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"c-%03d.conda":{"name":"c","build":"%d"}`, i, i)
	}
	b.WriteString(`}, "removed": [], "signatures": {`)
	for i := range 300 {
		if i > 0 {
			b.WriteString(",\n    ")
		}
		fmt.Fprintf(&b, `"c-%03d.conda": {"k": {"signature": "%064d"}}`, i, i)
	}
	b.WriteString("}}")
	data := []byte(b.String())
	sameParse(t, data)
	f, err := parse(data, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 600 || len(f.sigs) != 300 {
		t.Fatalf("%d records, %d signatures", f.Len(), len(f.sigs))
	}
	if chunks := speculate(data, 3, false); len(chunks) < 10 {
		t.Errorf("only %d chunks were usable", len(chunks))
	}
	// Every way of cutting the document short or breaking it.
	for _, cut := range []int{1, 100, len(data) / 3, len(data) / 2, len(data) - 1} {
		sameParse(t, data[:cut])
		broken := []byte(string(data))
		broken[cut] = '"'
		sameParse(t, broken)
	}
}
