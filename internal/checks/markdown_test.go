package checks

import (
	"os"
	"testing"
)

func TestDocsAreCurrent(t *testing.T) {
	got, err := os.ReadFile("../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != Markdown() {
		t.Fatal("docs/checks.md is stale: run make docs")
	}
	for _, c := range All() {
		if c.Why == "" || c.Fix == "" || c.Title == "" || c.Severity == "" || c.Evidence == "" {
			t.Errorf("%s lacks documentation", c.ID)
		}
		page, err := os.ReadFile("../../docs/checks/" + c.ID + ".md")
		if err != nil || string(page) != Page(c) {
			t.Errorf("docs/checks/%s.md is missing or stale: run make docs", c.ID)
		}
	}
}
