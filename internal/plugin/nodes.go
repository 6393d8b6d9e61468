package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// NodeOptions are the flags every node command shares: which nodes, and how
// the debug pods run.
type NodeOptions struct {
	Nodes        []string
	Selector     string
	AllNodes     bool
	Concurrency  int
	Timeout      time.Duration
	StartTimeout time.Duration
	Image        string
	Namespace    string
	// HostRoot is where the debug pod mounts the host's /. Tests point it
	// at a fake host root; users never need it.
	HostRoot string
	// Via is how read-only scripts run: "pod" (as the debug pod's own
	// command) or "exec" (into a sleeping pod, as the commands that act do).
	Via string

	// interruptMsg is what the first interrupt prints; commands that do
	// more than run debug pods say what stops.
	interruptMsg string
}

func (n *NodeOptions) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&n.Nodes, "node", nil, "Node to work on (repeatable, or comma-separated)")
	f.StringVarP(&n.Selector, "selector", "l", "", "Work on the nodes matching this label selector")
	f.BoolVar(&n.AllNodes, "all-nodes", false, "Work on every node")
	n.addRunnerFlags(f)
}

// addRunnerFlags adds the flags of how debug pods run, for commands that
// choose their nodes otherwise.
func (n *NodeOptions) addRunnerFlags(f *pflag.FlagSet) {
	f.IntVar(&n.Concurrency, "concurrency", 0, "How many nodes to work on at once; 0 picks twice --qps for reads (debug pods in flight) and 10 for changes (exec streams)")
	f.DurationVar(&n.Timeout, "node-timeout", 2*time.Minute, "Time limit per node: create the debug pod, run, delete")
	f.DurationVar(&n.StartTimeout, "start-timeout", time.Minute, "How long to wait for a debug pod to run")
	image := os.Getenv(nodeexec.ImageEnv)
	if image == "" {
		image = nodeexec.DefaultImage
	}
	f.StringVar(&n.Image, "image", image, "Debug pod image; it needs busybox (sh, chroot, sleep, cat, tail, wc). Default from "+nodeexec.ImageEnv)
	f.StringVar(&n.Namespace, "node-namespace", nodeexec.DefaultNamespace, "Namespace of the debug pods; it must allow privileged pods")
	f.StringVar(&n.HostRoot, "host-root", nodeexec.DefaultHostRoot, "Where the debug pod mounts the host's / (for tests)")
	_ = f.MarkHidden("host-root")
	f.StringVar(&n.Via, "via", viaPod, "How read-only scripts run: pod (the debug pod's own command) or exec (into a sleeping debug pod)")
	_ = f.MarkHidden("via")
}

// Ways read-only scripts run (--via).
const (
	viaPod  = "pod"
	viaExec = "exec"
)

func (n *NodeOptions) validateRunner() error {
	if n.Concurrency < 0 || n.Concurrency > 500 {
		return usageErr("--concurrency must be between 1 and 500, or 0 for the default")
	}
	if n.Via != viaPod && n.Via != viaExec {
		return usageErr("--via must be pod or exec")
	}
	if n.Timeout < 10*time.Second {
		return usageErr("--node-timeout must be at least 10s")
	}
	if n.Image == "" {
		return usageErr("--image must not be empty")
	}
	return nil
}

func (n *NodeOptions) validate() error {
	modes := 0
	for _, set := range []bool{len(n.Nodes) > 0, n.Selector != "", n.AllNodes} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return usageErr("say which nodes: exactly one of --node, -l/--selector or --all-nodes")
	}
	for _, name := range n.Nodes {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return usageErr("--node %q is not a valid node name: %s", name, strings.Join(errs, "; "))
		}
	}
	return n.validateRunner()
}

// resolve turns the node flags into node names, checking that named nodes
// exist so a typo is an error rather than a debug pod that never starts.
func (n *NodeOptions) resolve(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	if len(n.Nodes) > 0 {
		var missing []string
		for _, name := range n.Nodes {
			_, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				missing = append(missing, name)
			case err != nil:
				return nil, fmt.Errorf("get node %s: %w", name, err)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("nodes not found: %s", strings.Join(missing, ", "))
		}
		return sortedUnique(n.Nodes), nil
	}
	var names []string
	err := cluster.ListPaged(ctx, cluster.DefaultChunkSize, metav1.ListOptions{LabelSelector: n.Selector}, func(opts metav1.ListOptions) (string, error) {
		l, err := cs.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return "", err
		}
		for _, node := range l.Items {
			names = append(names, node.Name)
		}
		return l.Continue, nil
	}, func() { names = nil })
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no node matches")
	}
	sort.Strings(names)
	return names, nil
}

// sortedUnique returns a sorted copy without duplicates.
func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

func (n *NodeOptions) runner(cs kubernetes.Interface, cfg *rest.Config, progress io.Writer) *nodeexec.Runner {
	return nodeexec.NewRunner(cs, cfg, nodeexec.Options{
		Namespace: n.Namespace, Image: n.Image, HostRoot: n.HostRoot, Concurrency: n.Concurrency, QPS: cfg.QPS,
		NodeTimeout: n.Timeout, StartTimeout: n.StartTimeout, Progress: progress, Exec: n.Via == viaExec,
	})
}

// progressWriter is stderr on a terminal, nothing otherwise.
func progressWriter(errOut io.Writer) io.Writer {
	if printers.IsTerminal(errOut) {
		return errOut
	}
	return nil
}

// onInterrupt says that the first interrupt deletes the runner's debug
// pods, and names them if a second one exits at once.
func (n *NodeOptions) onInterrupt(ctx context.Context, r *nodeexec.Runner) func() {
	msg := n.interruptMsg
	if msg == "" {
		msg = "interrupted: deleting the debug pods"
	}
	return onInterrupt(ctx, msg, r.Leftovers)
}

// nodeFailures summarizes per-node errors as one error, or nil.
func nodeFailures(results []nodeexec.Result) error {
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", r.Node, r.Err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d nodes failed:\n%w", len(errs), len(results), errors.Join(errs...))
}

// collect runs job on every node and gathers each node's value; nodes whose
// job failed are absent from the map and carry their error in the results.
func collect[T any](ctx context.Context, r *nodeexec.Runner, purpose string, nodes []string,
	job func(context.Context, *nodeexec.Session) (T, error)) (map[string]T, []nodeexec.Result) {
	out := map[string]T{}
	var mu sync.Mutex
	results := r.Run(ctx, purpose, nodes, func(ctx context.Context, s *nodeexec.Session) error {
		v, err := job(ctx, s)
		if err != nil {
			return err
		}
		mu.Lock()
		out[s.Node] = v
		mu.Unlock()
		return nil
	})
	return out, results
}

// readScript runs a read-only script on every node (as the debug pods' own
// command, or through exec with --via exec) and parses each node's output;
// args gives a node's positional arguments (nil for none). Nodes whose
// script failed, or whose output did not parse, carry the error in the
// results and are absent from the map.
func readScript[T any](ctx context.Context, r *nodeexec.Runner, purpose string, nodes []string, script nodescripts.Script,
	env map[string]string, args func(node string) []string, parse func(string) (T, error)) (map[string]T, []nodeexec.Result) {
	outs := r.Collect(ctx, purpose, nodes, func(node string) ([]string, error) {
		var a []string
		if args != nil {
			a = args(node)
		}
		return nodescripts.Command(script, r.HostRoot(), env, a...)
	})
	values := map[string]T{}
	results := make([]nodeexec.Result, len(outs))
	for i, o := range outs {
		results[i] = o.Result
		if o.Err != nil {
			continue
		}
		v, err := parse(o.Stdout)
		if err != nil {
			results[i].Err = fmt.Errorf("%s output: %w", purpose, err)
			continue
		}
		values[o.Node] = v
	}
	return values, results
}

// runScript execs one embedded script in the session and parses its output.
func runScript[T any](ctx context.Context, s *nodeexec.Session, script nodescripts.Script, root string,
	env map[string]string, args []string, parse func(string) (T, error)) (T, error) {
	var zero T
	argv, err := nodescripts.Command(script, root, env, args...)
	if err != nil {
		return zero, err
	}
	out, err := s.Exec(ctx, argv)
	if err != nil {
		return zero, err
	}
	return parse(out)
}
