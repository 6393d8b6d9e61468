package connectivity

import (
	"fmt"
	"strings"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
)

// DocsURL is where the connectivity tests are documented.
const DocsURL = "https://github.com/kubectl-acknet/kubectl-acknet/blob/main/docs/connectivity.md"

// Outcomes turns results into report outcomes. A failed cell carries what
// failed, the checks that typically cause it, and the findings those checks
// have on this cluster now (doctor, given only when a cell failed).
func Outcomes(results []Result, doctor []checks.Outcome) []checks.Outcome {
	byID := map[string]checks.Outcome{}
	for _, o := range doctor {
		byID[o.Check.ID] = o
	}
	out := make([]checks.Outcome, 0, len(results))
	for _, r := range results {
		info := Info(r.Cell.Kind)
		c := checks.Check{ID: r.Cell.ID, Title: info.Title + " (" + string(r.Cell.Family) + ")", DocsURL: DocsURL + "#" + strings.ReplaceAll(string(r.Cell.Kind), ".", "")}
		res := checks.Result{Status: r.Status}
		switch r.Status {
		case checks.StatusPass:
			res.Summary = r.From + " -> " + r.To
		case checks.StatusSkip:
			res.Summary = r.Detail
		default:
			res.Summary = fmt.Sprintf("%s -> %s: %s", r.From, r.To, r.Detail)
			res.Findings = explain(r, info, byID, doctor != nil)
		}
		out = append(out, checks.Outcome{Check: c, Result: res})
	}
	return out
}

func explain(r Result, info KindInfo, doctor map[string]checks.Outcome, ranDoctor bool) []checks.Finding {
	node := ""
	if len(r.Cell.Between) > 0 {
		node = r.From
		if i := strings.Index(node, " on "); i >= 0 {
			node = node[i+len(" on "):]
		}
	}
	var matched []string
	var found []checks.Finding
	for _, id := range info.Causes {
		o, ok := doctor[id]
		if !ok || o.Result.Status.Rank() < checks.StatusWarn.Rank() {
			continue
		}
		matched = append(matched, id)
		for _, f := range o.Result.Findings {
			found = append(found, checks.Finding{Object: f.Object, Node: f.Node,
				Message: fmt.Sprintf("doctor %s (%s): %s", id, o.Result.Status, f.Message), Remediation: f.Remediation})
		}
		if len(o.Result.Findings) == 0 {
			found = append(found, checks.Finding{Message: fmt.Sprintf("doctor %s (%s): %s", id, o.Result.Status, o.Result.Summary)})
		}
	}
	hint := "typically " + info.Hint + "; checks: " + strings.Join(info.Causes, ", ")
	if len(matched) > 0 {
		hint += "; on this cluster doctor flags " + strings.Join(matched, ", ") + " (below)"
	} else if ranDoctor {
		hint += "; doctor flags none of them on this cluster"
	}
	first := checks.Finding{Object: "connectivity/" + r.Cell.ID, Node: node,
		Message: fmt.Sprintf("%s cannot reach %s: %s", r.From, r.To, r.Detail), Remediation: hint}
	return append([]checks.Finding{first}, found...)
}
