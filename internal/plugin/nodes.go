package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

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

	// exit ends the process on a second interrupt; tests replace it.
	exit func(int)
	// onInterrupt is what the first interrupt prints; commands that do more
	// than run debug pods say what stops.
	onInterrupt string
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
	f.IntVar(&n.Concurrency, "concurrency", 10, "How many nodes to work on at once")
	f.DurationVar(&n.Timeout, "node-timeout", 2*time.Minute, "Time limit per node: create the debug pod, run, delete")
	f.DurationVar(&n.StartTimeout, "start-timeout", time.Minute, "How long to wait for a debug pod to run")
	image := os.Getenv(nodeexec.ImageEnv)
	if image == "" {
		image = nodeexec.DefaultImage
	}
	f.StringVar(&n.Image, "image", image, "Debug pod image; it needs chroot and sleep (busybox). Default from "+nodeexec.ImageEnv)
	f.StringVar(&n.Namespace, "node-namespace", nodeexec.DefaultNamespace, "Namespace of the debug pods; it must allow privileged pods")
	f.StringVar(&n.HostRoot, "host-root", nodeexec.DefaultHostRoot, "Where the debug pod mounts the host's / (for tests)")
	_ = f.MarkHidden("host-root")
}

func (n *NodeOptions) validateRunner() error {
	if n.Concurrency < 1 || n.Concurrency > 500 {
		return usageErr("--concurrency must be between 1 and 500")
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
	opts := metav1.ListOptions{LabelSelector: n.Selector, Limit: 500}
	for {
		l, err := cs.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		for _, node := range l.Items {
			names = append(names, node.Name)
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
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
		Namespace: n.Namespace, Image: n.Image, HostRoot: n.HostRoot, Concurrency: n.Concurrency,
		NodeTimeout: n.Timeout, StartTimeout: n.StartTimeout, Progress: progress,
	})
}

// progressWriter is stderr on a terminal, nothing otherwise.
func progressWriter(errOut io.Writer) io.Writer {
	if printers.IsTerminal(errOut) {
		return errOut
	}
	return nil
}

// interruptible returns a context that the first SIGINT/SIGTERM cancels, so
// the runner deletes its pods; a second one exits at once and says what may
// be left behind.
func (n *NodeOptions) interruptible(parent context.Context, streams genericiooptions.IOStreams, r *nodeexec.Runner) (context.Context, func()) {
	msg := n.onInterrupt
	if msg == "" {
		msg = "interrupted: deleting the debug pods"
	}
	return interruptible(parent, streams, msg, n.exit, r.Leftovers)
}

// interruptible is the two-stage Ctrl-C of every command that creates
// objects: the first SIGINT/SIGTERM prints msg and cancels the context (the
// command then deletes what it made, with a fresh context); a second one
// exits at once, naming what may be left (leftovers) and the cleanup
// command. exit is os.Exit unless a test replaces it.
func interruptible(parent context.Context, streams genericiooptions.IOStreams, msg string, exit func(int), leftovers func() []string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan struct{})
	if exit == nil {
		exit = os.Exit
	}
	go func() {
		select {
		case <-sigs:
			fmt.Fprintln(streams.ErrOut, msg+" (interrupt again to exit at once)")
			cancel()
		case <-stopped:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintf(streams.ErrOut, "exiting; what may be left: %s\nremove it with: kubectl acknet cleanup\n", strings.Join(leftovers(), ", "))
			exit(130)
		case <-stopped:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(stopped)
		cancel()
	}
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
