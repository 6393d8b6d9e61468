package checks

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/flannelgc"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// A node fact is one thing doctor --node-checks reads on every node: a
// script, when it applies, the variables it reads and the parser of its
// output, declared once below. doctor runs the facts that apply in one debug pod
// per node; a check reads a fact through its typed key (ConntrackFact.On).
// Adding a fact is a script under nodescripts/scripts and one entry here.

// NodeFactDef declares one node fact; defineFact adds its parser.
type NodeFactDef struct {
	Script nodescripts.Script
	// Vars says whether the fact applies to this cluster and, if so, the
	// environment its script reads. nil: always, with no variables.
	Vars func(e *Env) (vars map[string]string, ok bool)
	// NeedsPods: the facts are judged against the node's unfinished pods
	// (NodeFacts.Pods), which doctor then reads once for all nodes.
	NeedsPods bool
}

// nodeFact is a registered fact: its declaration and its parser, whose
// error becomes the fact's problem, which the checks show.
type nodeFact struct {
	NodeFactDef
	parse func(s *nodescripts.Section) (any, error)
}

// Fact is the typed key of one registered node fact.
type Fact[T any] struct{ name string }

// On returns the fact as gathered on a node, and the problem that kept it
// from being read; both are zero when the fact did not apply.
func (k Fact[T]) On(f *NodeFacts) (T, string) {
	if f == nil {
		var zero T
		return zero, ""
	}
	v, _ := f.values[k.name].(T)
	return v, f.problems[k.name]
}

// nodeFacts is the registry, in the order the scripts run.
var nodeFacts []nodeFact

func defineFact[T any](d NodeFactDef, parse func(*nodescripts.Section) (T, error)) Fact[T] {
	nodeFacts = append(nodeFacts, nodeFact{NodeFactDef: d, parse: func(s *nodescripts.Section) (any, error) { return parse(s) }})
	return Fact[T]{name: d.Script.Name}
}

// finished parses the output of a script that ran to its end with status 0.
func finished[T any](parse func(string) (T, error)) func(*nodescripts.Section) (T, error) {
	return func(s *nodescripts.Section) (T, error) {
		if p := sectionProblem(s); p != "" {
			var zero T
			return zero, errors.New(p)
		}
		return parse(s.Output)
	}
}

// anyStatus parses what a script printed whatever its exit status: the
// script reports its findings in the output and exits non-zero on them.
func anyStatus[T any](parse func(string) (T, error)) func(*nodescripts.Section) (T, error) {
	return func(s *nodescripts.Section) (T, error) { return parse(s.Output) }
}

func sectionProblem(s *nodescripts.Section) string {
	switch {
	case !s.Ended:
		return "did not finish"
	case s.Status != 0:
		return fmt.Sprintf("exit status %d", s.Status)
	}
	return ""
}

// ipvsVars applies when kube-proxy runs IPVS with a scheduler the script
// can take.
func ipvsVars(e *Env) (map[string]string, bool) {
	w := e.WorkerKubeProxy()
	if w == nil || w.Err != nil || w.Summary.Mode != "ipvs" || !nodescripts.ValidScheduler(w.Summary.Scheduler) {
		return nil, false
	}
	return nodescripts.ModulesEnv(w.Summary.Scheduler, false), true
}

// The node facts.
var (
	ConntrackFact = defineFact(NodeFactDef{Script: nodescripts.Conntrack}, finished(nodescripts.ParseConntrack))

	ModulesFact = defineFact(NodeFactDef{Script: nodescripts.IPVSModules, Vars: ipvsVars}, anyStatus(nodescripts.ParseModules))

	TimeoutsFact = defineFact(NodeFactDef{Script: nodescripts.IPVSTimeout, Vars: ipvsVars},
		func(s *nodescripts.Section) (*nodescripts.TimeoutsResult, error) {
			if s.Ended && s.Status == nodescripts.ExitNoIPVSAdm {
				return nil, errors.New(InstallIPVSAdm)
			}
			return finished(nodescripts.ParseTimeouts)(s)
		})

	ScanFact = defineFact(NodeFactDef{Script: nodescripts.FlannelScan, NeedsPods: true,
		Vars: func(e *Env) (map[string]string, bool) {
			if e.Plugin != PluginFlannel {
				return nil, false
			}
			network, dirs := e.FlannelCNI.ScanTargets()
			// What the script cannot take is left out here, not refused:
			// flannel gc and flannel tmpfs refuse it with the reason.
			if !nodescripts.ValidNetworkName(network) {
				network = ackconf.DefaultNetworkName
			}
			dirs = slices.DeleteFunc(dirs, func(d string) bool { return !nodescripts.ValidIPAMDir(d) })
			return map[string]string{"NETWORK": network, "IPAM_DIRS": strings.Join(dirs, " ")}, true
		}}, anyStatus(nodescripts.ParseScan))
)

// NodeFactPlan is what doctor runs on each node for this cluster.
type NodeFactPlan struct {
	Script nodescripts.Script
	Vars   map[string]string
	// NeedsPods: read the pods of the examined nodes for NodeFacts.Pods.
	NeedsPods bool
	defs      []nodeFact
}

// PlanNodeFacts picks the facts that apply to the cluster and combines
// their scripts into one. Two facts that want one variable with different
// values are a programming error, reported rather than guessed at.
func PlanNodeFacts(e *Env) (*NodeFactPlan, error) {
	p := &NodeFactPlan{Vars: map[string]string{}}
	var scripts []nodescripts.Script
	for _, d := range nodeFacts {
		vars, ok := map[string]string(nil), true
		if d.Vars != nil {
			vars, ok = d.Vars(e)
		}
		if !ok {
			continue
		}
		for k, v := range vars {
			if old, dup := p.Vars[k]; dup && old != v {
				return nil, fmt.Errorf("node facts disagree on %s: %q and %q", k, old, v)
			}
			p.Vars[k] = v
		}
		scripts = append(scripts, d.Script)
		p.defs = append(p.defs, d)
		p.NeedsPods = p.NeedsPods || d.NeedsPods
	}
	p.Script = nodescripts.Combined("node-checks", scripts...)
	return p, nil
}

// Parse reads the planned facts from the sections of one node's output; a
// fact whose section is missing is "not run".
func (p *NodeFactPlan) Parse(secs map[string]*nodescripts.Section) *NodeFacts {
	f := &NodeFacts{values: map[string]any{}, problems: map[string]string{}}
	for _, d := range p.defs {
		s := secs[d.Script.Name]
		if s == nil {
			f.problems[d.Script.Name] = "not run"
			continue
		}
		v, err := d.parse(s)
		if err != nil {
			f.problems[d.Script.Name] = err.Error()
			continue
		}
		f.values[d.Script.Name] = v
	}
	return f
}

// NodeRaw is what one node's debug pod gave back, before parsing: a bundle
// keeps it and a replay parses it again with the same plan.
type NodeRaw struct {
	Err      string                          `json:"err,omitempty"`
	Sections map[string]*nodescripts.Section `json:"sections,omitempty"`
	Pods     []flannelgc.Pod                 `json:"pods,omitempty"`
}

// Facts parses a node's raw output as Parse does.
func (p *NodeFactPlan) Facts(r *NodeRaw) *NodeFacts {
	if r.Err != "" {
		return &NodeFacts{Err: r.Err}
	}
	f := p.Parse(r.Sections)
	f.Pods = r.Pods
	return f
}

// NodeFacts is what doctor --node-checks gathered on one node.
type NodeFacts struct {
	// Err is set when the node could not be examined at all (no pod, no exec).
	Err string
	// Pods are the pods on the node that have not finished, for the leak decision.
	Pods     []flannelgc.Pod
	values   map[string]any
	problems map[string]string
}
