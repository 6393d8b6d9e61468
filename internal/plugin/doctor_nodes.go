package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/flannelgc"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// gatherNodeFacts runs the node scripts that apply to this cluster in one
// debug pod per node and parses each script's section (checks.PlanNodeFacts).
// It also returns what each node gave back, unparsed, for a bundle.
func (n *NodeOptions) gatherNodeFacts(ctx context.Context, cs kubernetes.Interface, cfg *rest.Config, errOut io.Writer, env *checks.Env) (map[string]*checks.NodeFacts, map[string]*checks.NodeRaw, error) {
	var nodes []string
	if n.AllNodes && env.S.ReadErr("nodes") == nil {
		for _, node := range env.S.Nodes {
			nodes = append(nodes, node.Name)
		}
	} else {
		var err error
		if nodes, err = n.resolve(ctx, cs); err != nil {
			return nil, nil, err
		}
	}
	plan, err := checks.PlanNodeFacts(env)
	if err != nil {
		return nil, nil, err
	}
	var pods map[string][]flannelgc.Pod
	if plan.NeedsPods {
		if pods, err = podsOnNodes(ctx, cs, nodes); err != nil {
			return nil, nil, err
		}
	}

	runner := n.runner(cs, cfg, progressWriter(errOut))
	defer n.onInterrupt(ctx, runner)()
	argv, err := nodescripts.Command(plan.Script, runner.HostRoot(), plan.Vars)
	if err != nil {
		return nil, nil, err
	}
	facts := map[string]*checks.NodeFacts{}
	raws := map[string]*checks.NodeRaw{}
	for _, out := range runner.Collect(ctx, "node-checks", nodes, func(string) ([]string, error) { return argv, nil }) {
		// A script that failed still printed the sections of the others
		// (nodescripts.Combined); only a pod that gave nothing back is
		// the node's error.
		raw := &checks.NodeRaw{Pods: pods[out.Node]}
		var failed *nodeexec.ExecError
		if out.Err != nil && !errors.As(out.Err, &failed) {
			raw = &checks.NodeRaw{Err: out.Err.Error()}
		} else {
			raw.Sections = nodescripts.SplitSections(out.Stdout)
		}
		raws[out.Node] = raw
		facts[out.Node] = plan.Facts(raw)
	}
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("node checks interrupted: %w", ctx.Err())
	}
	return facts, raws, nil
}
