package plugin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/flannelgc"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// gatherNodeFacts runs the node scripts that apply to this cluster in one
// exec per node and parses each script's section.
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
	scripts := []nodescripts.Script{nodescripts.Conntrack}
	vars := map[string]string{"APPLY": "0", "PERSIST_FILE": PersistFile}
	if w := env.WorkerKubeProxy(); w != nil && w.Err == nil && w.Summary.Mode == "ipvs" && nodescripts.ValidScheduler(w.Summary.Scheduler) {
		scripts = append(scripts, nodescripts.IPVSModules, nodescripts.IPVSTimeout)
		vars["SCHEDULER"] = w.Summary.Scheduler
	}
	var pods map[string][]flannelgc.Pod
	if env.Plugin == checks.PluginFlannel {
		network, dirs := env.FlannelCNI.ScanTargets()
		// What the script cannot take is left out here, not refused: flannel
		// gc and flannel tmpfs refuse it with the reason.
		if !networkNameRe.MatchString(network) {
			network = ackconf.DefaultNetworkName
		}
		dirs = slices.DeleteFunc(dirs, func(d string) bool { return !validIPAMDir(d) })
		vars["NETWORK"], vars["IPAM_DIRS"] = network, strings.Join(dirs, " ")
		scripts = append(scripts, nodescripts.FlannelScan)
		var err error
		if pods, err = podsOnNodes(ctx, o.client, nodes); err != nil {
			return nil, err
		}
	}
	all := nodescripts.Combined("node-checks", scripts...)

	runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
	defer o.onInterrupt(ctx, runner)()
	facts := map[string]*checks.NodeFacts{}
	var mu sync.Mutex
	results := runner.Run(ctx, "node-checks", nodes, func(ctx context.Context, s *nodeexec.Session) error {
		argv, err := nodescripts.Command(all, s.HostRoot(), vars)
		if err != nil {
			return err
		}
		out, execErr := s.Exec(ctx, argv)
		if execErr != nil && ctx.Err() != nil {
			return execErr
		}
		f := parseNodeFacts(nodescripts.SplitSections(out))
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

func parseNodeFacts(secs map[string]*nodescripts.Section) *checks.NodeFacts {
	f := &checks.NodeFacts{}
	problem := func(name string) string {
		s := secs[name]
		switch {
		case s == nil:
			return "not run"
		case !s.Ended:
			return "did not finish"
		case s.Status != 0:
			return fmt.Sprintf("exit status %d", s.Status)
		}
		return ""
	}
	if p := problem("conntrack"); p != "" {
		f.ConntrackErr = p
	} else if c, err := nodescripts.ParseConntrack(secs["conntrack"].Output); err == nil {
		f.Conntrack = c
	} else {
		f.ConntrackErr = err.Error()
	}
	if s := secs["ipvs-modules"]; s != nil {
		if m, err := nodescripts.ParseModules(s.Output); err == nil {
			f.Modules = m
		} else {
			f.ModulesErr = err.Error()
		}
	}
	if s := secs["ipvs-timeout"]; s != nil {
		if p := problem("ipvs-timeout"); p != "" {
			f.TimeoutsErr = p
			if s.Ended && s.Status == nodescripts.ExitNoIPVSAdm {
				f.TimeoutsErr = checks.InstallIPVSAdm
			}
		} else if t, err := nodescripts.ParseTimeouts(s.Output); err == nil {
			f.Timeouts = t
		} else {
			f.TimeoutsErr = err.Error()
		}
	}
	if s := secs["flannel-scan"]; s != nil {
		if sc, err := nodescripts.ParseScan(s.Output); err == nil {
			f.Scan = sc
		} else {
			f.ScanErr = err.Error()
		}
	}
	return f
}
