package client_test

import (
	"testing"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/internal/synth"
)

// BenchmarkParseRepodata splits a 50,000-record repodata.json as the
// client does after each fetch, and looks up one record.
func BenchmarkParseRepodata(b *testing.B) {
	data := synth.Repodata(50000, "")
	fn, _ := synth.Record(12345, "")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rd, err := client.ParseRepodata(data, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rd.Record(fn); err != nil {
			b.Fatal(err)
		}
	}
}
