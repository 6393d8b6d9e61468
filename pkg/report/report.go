// Package report turns check outcomes into the DoctorReport document and
// prints it as a table, JSON or YAML. The JSON/YAML schema is public.
package report

import (
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
)

// Schema identifiers of the report.
const (
	APIVersion = "acknet.kubectl.io/v1alpha1"
	Kind       = "DoctorReport"
)

// DoctorReport is the machine-readable result of doctor.
type DoctorReport struct {
	Kind       string         `json:"kind"`
	APIVersion string         `json:"apiVersion"`
	Cluster    ClusterInfo    `json:"cluster"`
	Summary    map[string]int `json:"summary"`
	Checks     []CheckResult  `json:"checks"`
}

// ClusterInfo is what doctor detected.
type ClusterInfo struct {
	Server            string `json:"server,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	NetworkPlugin     string `json:"networkPlugin,omitempty"`
	PluginVersion     string `json:"pluginVersion,omitempty"`
	TerwayMode        string `json:"terwayMode,omitempty"`
	KubeProxyMode     string `json:"kubeProxyMode,omitempty"`
	Nodes             int    `json:"nodes"`
	Pods              int    `json:"pods"`
}

// CheckResult is one check in the report.
type CheckResult struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Status   Status    `json:"status"`
	Summary  string    `json:"summary"`
	Findings []Finding `json:"findings"`
	Docs     string    `json:"docs"`
}

// IPv6Kind is the kind of the `ipv6 verify` report, which has the same schema.
const IPv6Kind = "IPv6Report"

// Build assembles the doctor report.
func Build(env *checks.Env, server string, outcomes []checks.Outcome) *DoctorReport {
	info := ClusterInfo{
		Server:            server,
		KubernetesVersion: env.S.ServerVersion,
		NetworkPlugin:     env.Plugin,
		PluginVersion:     env.PluginVersion,
		TerwayMode:        env.TerwayMode,
		Nodes:             len(env.S.Nodes),
		Pods:              env.S.Pods.Total,
	}
	if w := env.WorkerKubeProxy(); w != nil && w.Err == nil {
		info.KubeProxyMode = w.Summary.Mode
	}
	return BuildKind(Kind, info, outcomes)
}

// BuildKind assembles a report of the given kind.
func BuildKind(kind string, info ClusterInfo, outcomes []checks.Outcome) *DoctorReport {
	r := &DoctorReport{Kind: kind, APIVersion: APIVersion, Cluster: info, Summary: map[string]int{}}
	for _, s := range []checks.Status{checks.StatusPass, checks.StatusInfo, checks.StatusWarn, checks.StatusFail, checks.StatusSkip} {
		r.Summary[string(s)] = 0
	}
	for _, o := range outcomes {
		findings := o.Result.Findings
		if findings == nil {
			findings = []checks.Finding{}
		}
		r.Checks = append(r.Checks, CheckResult{
			ID: o.Check.ID, Title: o.Check.Title, Status: o.Result.Status,
			Summary: o.Result.Summary, Findings: findings, Docs: o.Check.Docs(),
		})
		r.Summary[string(o.Result.Status)]++
	}
	return r
}

// Worst returns the highest-ranked status in the report.
func (r *DoctorReport) Worst() checks.Status {
	worst := checks.StatusPass
	for _, c := range r.Checks {
		if c.Status.Rank() > worst.Rank() {
			worst = c.Status
		}
	}
	return worst
}

// ConnectivityKind is the kind of the `connectivity test` report, whose
// entries are tests (paths tried) rather than checks.
const ConnectivityKind = "ConnectivityReport"

// noun is what the table calls an entry.
func (r *DoctorReport) noun() string {
	if r.Kind == ConnectivityKind {
		return "test"
	}
	return "check"
}
