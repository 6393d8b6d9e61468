// Package checks holds the doctor's check catalog. Every check is a pure
// function of a cluster.Snapshot (through the derived Env); none does I/O.
package checks

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Status of a check result, ordered by severity.
type Status string

// The statuses of the public contract.
const (
	StatusPass Status = "pass"
	StatusInfo Status = "info"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Rank orders statuses for --fail-on: skip and pass rank lowest.
func (s Status) Rank() int {
	switch s {
	case StatusInfo:
		return 1
	case StatusWarn:
		return 2
	case StatusFail:
		return 3
	}
	return 0
}

// ParseStatus accepts the --fail-on values.
func ParseStatus(v string) (Status, error) {
	switch Status(v) {
	case StatusInfo, StatusWarn, StatusFail:
		return Status(v), nil
	}
	return "", fmt.Errorf("must be one of info, warn, fail; got %q", v)
}

// Finding is one thing wrong (or worth knowing) about one object.
type Finding struct {
	// Object is namespace/kind/name, or node/NAME for nodes.
	Object      string `json:"object,omitempty"`
	Node        string `json:"node,omitempty"`
	Message     string `json:"message"`
	Remediation string `json:"remediation,omitempty"`
}

// Result of one check.
type Result struct {
	Status   Status
	Summary  string
	Findings []Finding
}

// Check is one row of the catalog.
type Check struct {
	ID    string
	Title string
	// Severity as the catalog states it, for --list-checks.
	Severity string
	// Why says what the check looks for and why it matters; Fix summarizes
	// the remediation. Both feed --list-checks and docs/checks.md.
	Why string
	Fix string
	// Evidence says what the check reads, for its reference page.
	Evidence string
	// Node is true for node-side checks, which need doctor --node-checks.
	Node bool
	// Cloud is true for checks that read Alibaba Cloud's API (--cloud).
	Cloud bool
	Run   func(*Env) Result
	// DocsURL overrides where the check is documented (reports of other
	// commands than doctor).
	DocsURL string
}

// Docs is where a check is documented.
func (c Check) Docs() string {
	if c.DocsURL != "" {
		return c.DocsURL
	}
	return "https://github.com/kubectl-acknet/kubectl-acknet/blob/main/docs/checks/" + c.ID + ".md"
}

// Outcome is a check with its result.
type Outcome struct {
	Check  Check
	Result Result
}

// Select returns the checks whose ID matches any of include (all when empty)
// and none of exclude. Patterns are IDs or globs such as flannel.*.
func Select(all []Check, include, exclude []string) ([]Check, error) {
	for _, p := range append(append([]string{}, include...), exclude...) {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("bad check pattern %q: %w", p, err)
		}
		if !matchesAny(all, p) {
			return nil, fmt.Errorf("no check matches %q (see --list-checks)", p)
		}
	}
	var out []Check
	for _, c := range all {
		if len(include) > 0 && !match(include, c.ID) {
			continue
		}
		if match(exclude, c.ID) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func matchesAny(all []Check, pattern string) bool {
	for _, c := range all {
		if ok, _ := path.Match(pattern, c.ID); ok {
			return true
		}
	}
	return false
}

func match(patterns []string, id string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, id); ok {
			return true
		}
	}
	return false
}

// Run runs checks against an Env. A panicking check becomes a skip with the
// reason, so one bug never hides the other results.
func Run(env *Env, checks []Check) []Outcome {
	out := make([]Outcome, 0, len(checks))
	for _, c := range checks {
		out = append(out, Outcome{Check: c, Result: runOne(env, c)})
	}
	return out
}

func runOne(env *Env, c Check) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = Skip("internal error in check: %v", p)
		}
	}()
	r = c.Run(env)
	sort.SliceStable(r.Findings, func(i, j int) bool { return r.Findings[i].Object < r.Findings[j].Object })
	return r
}

// Result constructors.

// Pass is a check that found nothing wrong.
func Pass(summary string, args ...any) Result {
	return Result{Status: StatusPass, Summary: fmt.Sprintf(summary, args...)}
}

// Info reports a fact.
func Info(summary string, args ...any) Result {
	return Result{Status: StatusInfo, Summary: fmt.Sprintf(summary, args...)}
}

// Skip is a check that could not run; the summary says why.
func Skip(reason string, args ...any) Result {
	return Result{Status: StatusSkip, Summary: fmt.Sprintf(reason, args...)}
}

// NotApplicable is a skip for a check that does not concern this cluster.
func NotApplicable(reason string, args ...any) Result {
	return Skip("not applicable: "+reason, args...)
}

// WithFindings returns a result of the given status carrying findings.
func WithFindings(status Status, summary string, findings []Finding) Result {
	return Result{Status: status, Summary: summary, Findings: findings}
}

// Count formats "1 pod" / "3 pods": n and the noun, plural when n is not 1.
func Count(n int, noun string) string { return count(n, noun) }

func count(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	if strings.HasSuffix(noun, "ch") || strings.HasSuffix(noun, "sh") || strings.HasSuffix(noun, "ss") || strings.HasSuffix(noun, "x") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
