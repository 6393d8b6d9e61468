package checks

import (
	"fmt"
	"strings"
)

// Markdown renders the catalog as the reference page docs/checks.md; each
// check's Docs() link points at its heading there.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Check catalog\n\n")
	b.WriteString("Generated from `pkg/checks/registry.go` by `make docs`; do not edit by hand.\n\n")
	b.WriteString("Statuses: `pass`, `info`, `warn`, `fail`, `skip`. A check that does not apply, or that could not read what it\n")
	b.WriteString("needs (RBAC, a missing ConfigMap), reports `skip` with the reason. Check IDs are a public contract.\n\n")
	b.WriteString("| ID | Severity | Title |\n|---|---|---|\n")
	for _, c := range All() {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", c.ID, anchor(c.ID), c.Severity, c.Title)
	}
	for _, c := range All() {
		fmt.Fprintf(&b, "\n## %s\n\n**%s** (severity: %s)\n\n%s\n\n**Fix:** %s\n", c.ID, c.Title, c.Severity, c.Why, c.Fix)
	}
	return b.String()
}

func anchor(id string) string { return strings.ReplaceAll(id, ".", "") }
