package main

import (
	"os"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/trust"
)

// Every rule a refusal can name has a hint here and a row in
// docs/client.md, so no refusal reaches a user unexplained.
func TestRuleVocabularyCovered(t *testing.T) {
	doc, err := os.ReadFile("../../docs/client.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range trust.Rules() {
		if ruleHints[r.Rule] == "" {
			t.Errorf("rule %s has no hint in ruleHints", r.Rule)
		}
		if !strings.Contains(string(doc), "| `"+string(r.Rule)+"` |") {
			t.Errorf("rule %s has no row in docs/client.md", r.Rule)
		}
	}
	for r := range ruleHints {
		found := false
		for _, info := range trust.Rules() {
			found = found || info.Rule == r
		}
		if !found {
			t.Errorf("ruleHints names %s, which is not in trust.Rules()", r)
		}
	}
}
