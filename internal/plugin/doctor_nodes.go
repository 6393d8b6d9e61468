package plugin

import (
	"context"
	"fmt"
	"sync"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/flannelgc"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// gatherNodeFacts runs the node scripts that apply to this cluster in one
// exec per node and parses each script's section (checks.PlanNodeFacts).
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
	facts := map[string]*checks.NodeFacts{}
	var mu sync.Mutex
	results := runner.Run(ctx, "node-checks", nodes, func(ctx context.Context, s *nodeexec.Session) error {
		argv, err := nodescripts.Command(plan.Script, s.HostRoot(), plan.Vars)
		if err != nil {
			return err
		}
		out, execErr := s.Exec(ctx, argv)
		if execErr != nil && ctx.Err() != nil {
			return execErr
		}
		f := plan.Parse(nodescripts.SplitSections(out))
		f.Pods = pods[s.Node]
		mu.Lock()
		facts[s.Node] = f
		mu.Unlock()
		return nil
	})
	for _, r := range results {
		if r.Err != nil {
			facts[r.Node] = &checks.NodeFacts{Err: r.Err.Error()}
		}
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("node checks interrupted: %w", ctx.Err())
	}
	return facts, nil
}
