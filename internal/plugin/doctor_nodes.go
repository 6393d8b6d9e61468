package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/flannelgc"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// gatherNodeFacts runs the node scripts that apply to this cluster in one
// debug pod per node and parses each script's section (checks.PlanNodeFacts).
func (o *DoctorOptions) gatherNodeFacts(ctx context.Context, env *checks.Env) (map[string]*checks.NodeFacts, error) {
	var nodes []string
	if o.AllNodes && env.S.ReadErr("nodes") == nil {
		for _, n := range env.S.Nodes {
			nodes = append(nodes, n.Name)
		}
	} else {
		var err error
		if nodes, err = o.resolve(ctx, o.client); err != nil {
			return nil, err
		}
	}
	plan, err := checks.PlanNodeFacts(env)
	if err != nil {
		return nil, err
	}
	var pods map[string][]flannelgc.Pod
	if plan.NeedsPods {
		if pods, err = podsOnNodes(ctx, o.client, nodes); err != nil {
			return nil, err
		}
	}

	runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
	defer o.onInterrupt(ctx, runner)()
	argv, err := nodescripts.Command(plan.Script, runner.HostRoot(), plan.Vars)
	if err != nil {
		return nil, err
	}
	facts := map[string]*checks.NodeFacts{}
	for _, out := range runner.Collect(ctx, "node-checks", nodes, func(string) ([]string, error) { return argv, nil }) {
		// A script that failed still printed the sections of the others
		// (nodescripts.Combined); only a pod that gave nothing back is
		// the node's error.
		var failed *nodeexec.ExecError
		if out.Err != nil && !errors.As(out.Err, &failed) {
			facts[out.Node] = &checks.NodeFacts{Err: out.Err.Error()}
			continue
		}
		f := plan.Parse(nodescripts.SplitSections(out.Stdout))
		f.Pods = pods[out.Node]
		facts[out.Node] = f
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("node checks interrupted: %w", ctx.Err())
	}
	return facts, nil
}
