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
	b.WriteString("Generated from `internal/checks/registry.go` by `make docs`; do not edit by hand.\n\n")
	b.WriteString("Statuses: `pass`, `info`, `warn`, `fail`, `skip`. A check that does not apply, or that could not read what it\n")
	b.WriteString("needs (RBAC, a missing ConfigMap), reports `skip` with the reason. Check IDs are a public contract.\n\n")
	b.WriteString("| ID | Severity | Title |\n|---|---|---|\n")
	for _, c := range All() {
		fmt.Fprintf(&b, "| [`%s`](checks/%s.md) | %s | %s |\n", c.ID, c.ID, c.Severity, c.Title)
	}
	return b.String()
}

// Page renders the reference page of one check, docs/checks/<id>.md.
func Page(c Check) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", c.ID)
	b.WriteString("Generated from `internal/checks` by `make docs`; do not edit by hand.\n\n")
	fmt.Fprintf(&b, "**%s**, severity %s", c.Title, c.Severity)
	if c.Node {
		b.WriteString(", node-side: runs with `kubectl acknet doctor --node-checks`")
	}
	fmt.Fprintf(&b, ".\n\n## What and why\n\n%s\n\n## Evidence\n\n%s\n\n## Fix\n\n%s\n\n## See also\n\n- [ACK container network FAQ](%s)\n- [All checks](../checks.md)\n",
		c.Why, c.Evidence, c.Fix, FAQ)
	return b.String()
}
