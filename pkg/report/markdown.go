package report

import (
	"io"
	"strings"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
)

// markdown writes the report for a ticket: a table of checks, then the
// findings of the checks that did not pass.
func markdown(out io.Writer, r *DoctorReport) error {
	w := &errWriter{w: out}
	title := "kubectl acknet doctor"
	if r.Kind == IPv6Kind {
		title = "kubectl acknet ipv6 verify"
	}
	c := r.Cluster
	w.printf("# %s\n\n", title)
	w.printf("Cluster `%s`", mdCode(orDash(c.Server)))
	if c.KubernetesVersion != "" {
		w.printf(", Kubernetes %s", mdText(c.KubernetesVersion))
	}
	if c.NetworkPlugin != "" {
		w.printf(", %s %s", mdText(c.NetworkPlugin), mdText(c.PluginVersion))
	}
	w.printf(", %d nodes, %d pods.\n\n", c.Nodes, c.Pods)
	s := r.Summary
	w.printf("**%d fail, %d warn, %d info, %d pass, %d skip**\n\n", s["fail"], s["warn"], s["info"], s["pass"], s["skip"])
	w.printf("| Status | Check | Summary |\n|---|---|---|\n")
	for _, cr := range r.Checks {
		w.printf("| %s | `%s` | %s |\n", symbols[cr.Status], cr.ID, mdText(cr.Summary))
	}
	for _, cr := range r.Checks {
		if cr.Status == checks.StatusPass || cr.Status == checks.StatusSkip || len(cr.Findings) == 0 {
			continue
		}
		w.printf("\n## %s `%s`\n\n", symbols[cr.Status], cr.ID)
		for _, f := range cr.Findings {
			obj := f.Object
			if obj == "" {
				obj = "cluster"
			}
			w.printf("- `%s`: %s\n", mdCode(obj), mdText(f.Message))
			if f.Remediation != "" {
				w.printf("  - Fix: %s\n", mdText(f.Remediation))
			}
		}
	}
	return w.err
}

// mdText keeps cluster strings from breaking the table or the markup.
func mdText(s string) string {
	s = esc(s)
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "\n", " ").Replace(s)
}

func mdCode(s string) string { return strings.ReplaceAll(esc(s), "`", "'") }
