package index

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
)

// TestMarshalMatchesCanonical checks the chunked serializer against the
// canonical encoder applied to the whole document, in both layouts.
func TestMarshalMatchesCanonical(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 1000} {
		r := NewRepodata("linux-64")
		for i := range n {
			rec := mustParse(t, "rec", []byte(fmt.Sprintf(
				`{"name":"p%d","depends":["a >=1", "b"],"summary":"caf\u00e9 \"q\" \ud83d\ude00 / <&>","weight":1.5,"nested":{"x":[],"y":{}},"n":null}`, i)))
			if i%2 == 0 {
				r.Packages[fmt.Sprintf("p%d-1.0-0.tar.bz2", i)] = rec
			} else {
				r.PackagesConda[fmt.Sprintf("p%d-1.0-\u00e9_0.conda", i)] = rec
			}
		}
		if n > 0 {
			r.Removed = []string{"z-1-0.conda", "a-1-0.tar.bz2"}
		}
		for _, layout := range []Layout{Compact, Indented} {
			got, err := r.Marshal(layout)
			if err != nil {
				t.Fatal(err)
			}
			v, err := r.Value()
			if err != nil {
				t.Fatal(err)
			}
			if want := layout.Marshal(v); !bytes.Equal(got, want) {
				t.Errorf("%d records, %s: Marshal differs from the canonical encoding\n got %.300q\nwant %.300q", n, layout, got, want)
			}
		}
	}
}

func TestCompactLayout(t *testing.T) {
	v := mustParse(t, "v", []byte(`{"b": [1, 2.50, "x y\" \n"], "a": {"k": "\u2603"}, "c": []}`))
	if got, want := string(Compact.Marshal(v)), `{"a":{"k":"\u2603"},"b":[1,2.5,"x y\" \n"],"c":[]}`; got != want {
		t.Errorf("compact:\n got %s\nwant %s", got, want)
	}
	if got, want := string(Indented.Marshal(v)), string(canonjson.Marshal(v))+"\n"; got != want {
		t.Errorf("indented:\n got %s\nwant %s", got, want)
	}
}
