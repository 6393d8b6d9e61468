package plugin

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/connectivity"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/pkg/report"
)

func newConnectivityCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "connectivity", Short: "Real traffic between test pods, nodes, Services and CoreDNS"}
	cmd.AddCommand(newConnectivityTestCmd(streams, g))
	return cmd
}

// ConnectivityOptions are the options of `kubectl acknet connectivity test`.
type ConnectivityOptions struct {
	genericiooptions.IOStreams
	Global *GlobalOptions

	Nodes       []string
	Selector    string
	AllZones    bool
	Tests       []string
	External    []string
	Image       string
	HostPort    int
	DialTimeout time.Duration
	Attempts    int
	Timeout     time.Duration
	Concurrency int
	*ReportFlags

	client kubernetes.Interface
	config *rest.Config
	server string
}

const connectivityLong = `test deploys short-lived test pods in a namespace of its own, sends real
traffic along every path of the cluster network, and deletes them again (also
on Ctrl-C; kubectl acknet cleanup removes what a killed run left):

  conn.pod-pod-same-node   pod -> pod on the same node
  conn.pod-pod-cross-node  pod -> pod on another node (the VPC routes of Flannel)
  conn.hairpin             pod -> its own Service (Flannel hairpinMode)
  conn.clusterip           pod -> ClusterIP of a Service on the other node (kube-proxy)
  conn.nodeport            pod -> NodePort on each tested node
  conn.headless            pod -> headless Service by name (CoreDNS)
  conn.host-network        pod -> hostNetwork pod, pod -> node (kubelet port), node -> pod
  conn.dns                 pod -> kube-dns: kubernetes.default over UDP and TCP
  conn.external            pod -> each --external target (only those you name)

Each path is tried per node (pair) and per IP family the test pods have
(ipv4, and ipv6 on dual-stack clusters). A failed path names the doctor
checks that typically cause it and the findings they have on this cluster
now. By default two Ready nodes are tested, in different zones when there are
any; --nodes or -l choose, --all-zones takes one node of every zone and node
pool.

Every pod runs --image (default from ` + nodeexec.ImageEnv + `, else the same
busybox as the node commands): it needs sh, sleep, httpd, nc, nslookup, od
and timeout. The pods listen on port 80 and, for the hostNetwork ones, on
--host-port of their node.`

func newConnectivityTestCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &ConnectivityOptions{IOStreams: streams, Global: g, ReportFlags: NewReportFlags(false)}
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Test pod, Service, node and DNS paths with real traffic from test pods",
		Long:  connectivityLong,
		Example: `  # Two nodes, every path
  kubectl acknet connectivity test

  # Only the Service paths, between two named nodes
  kubectl acknet connectivity test --nodes cn-hangzhou.192.168.0.10,cn-hangzhou.192.168.1.20 --test 'conn.clusterip,conn.hairpin'

  # Everything but DNS, plus a target outside the cluster, as JUnit for CI
  kubectl acknet connectivity test --test '!conn.dns' --external www.aliyun.com:443 -o junit`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Nodes, "nodes", nil, "Nodes to test (comma-separated or repeated; default: two Ready nodes)")
	f.StringVarP(&o.Selector, "selector", "l", "", "Test the nodes matching this label selector")
	f.BoolVar(&o.AllZones, "all-zones", false, "Test one node of every zone and node pool")
	f.StringSliceVar(&o.Tests, "test", nil, "Only these tests: IDs, globs or prefixes of cell names (conn.hairpin, conn.dns*); !PATTERN excludes")
	f.StringSliceVar(&o.External, "external", nil, "Also dial this target outside the cluster, HOST:PORT (repeatable)")
	image := os.Getenv(nodeexec.ImageEnv)
	if image == "" {
		image = nodeexec.DefaultImage
	}
	f.StringVar(&o.Image, "image", image, "Image of the test pods (busybox); default from "+nodeexec.ImageEnv)
	f.IntVar(&o.HostPort, "host-port", 31080, "Port the hostNetwork test pods listen on, on their nodes")
	f.DurationVar(&o.DialTimeout, "dial-timeout", 2*time.Second, "Connect and lookup timeout per try")
	f.IntVar(&o.Attempts, "attempts", 3, "Tries, a second apart, before a path counts as broken")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "Time limit of the whole run: deploy, test, clean up")
	f.IntVar(&o.Concurrency, "concurrency", 8, "How many test pods dial at once")
	o.AddFlags(f, "table, json, yaml, junit or markdown")
	return cmd
}

// Complete builds the client.
func (o *ConnectivityOptions) Complete() error {
	cs, cfg, err := o.Global.Clientset()
	if err != nil {
		return err
	}
	o.client, o.config, o.server = cs, cfg, cfg.Host
	return o.ReportFlags.Complete()
}

// Validate checks the flags.
func (o *ConnectivityOptions) Validate() error {
	if err := o.ReportFlags.Validate(); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{len(o.Nodes) > 0, o.Selector != "", o.AllZones} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		return usageErr("choose nodes with one of --nodes, -l/--selector or --all-zones")
	}
	for _, n := range o.Nodes {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return usageErr("--nodes %q is not a valid node name: %s", n, strings.Join(errs, "; "))
		}
	}
	if o.Image == "" {
		return usageErr("--image must not be empty")
	}
	if o.HostPort < 1024 || o.HostPort > 65535 {
		return usageErr("--host-port must be between 1024 and 65535")
	}
	if o.DialTimeout < time.Second || o.DialTimeout > 30*time.Second {
		return usageErr("--dial-timeout must be between 1s and 30s")
	}
	if o.Attempts < 1 || o.Attempts > 10 {
		return usageErr("--attempts must be between 1 and 10")
	}
	if o.Timeout < 30*time.Second {
		return usageErr("--timeout must be at least 30s")
	}
	if o.Concurrency < 1 || o.Concurrency > 100 {
		return usageErr("--concurrency must be between 1 and 100")
	}
	for _, e := range o.External {
		host, port, err := net.SplitHostPort(e)
		if err != nil {
			return usageErr("--external %q: want HOST:PORT, with [ ] around an IPv6 address", e)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return usageErr("--external %q: bad port", e)
		}
		if net.ParseIP(host) == nil && len(validation.IsDNS1123Subdomain(host)) > 0 {
			return usageErr("--external %q: host is neither an address nor a DNS name", e)
		}
	}
	// The patterns are checked against the full plan before anything is
	// deployed.
	if _, err := connectivity.Select(connectivity.Plan(connectivity.Input{
		Nodes: []string{"a", "b"}, Families: []connectivity.Family{connectivity.IPv4, connectivity.IPv6}, External: o.External,
	}), o.Tests); err != nil {
		return usageErr("%v", err)
	}
	return nil
}

// Run reads the cluster, deploys, tests, explains, cleans up and prints.
func (o *ConnectivityOptions) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	snap, err := cluster.Read(ctx, o.client, cluster.Options{})
	if err != nil {
		return fmt.Errorf("read the cluster: %w", err)
	}
	env := checks.NewEnv(snap)
	nodes, err := o.chooseNodes(ctx)
	if err != nil {
		return err
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	all := connectivity.Plan(connectivity.Input{Nodes: names, Families: []connectivity.Family{connectivity.IPv4, connectivity.IPv6}, External: o.External})
	cells, err := connectivity.Select(all, o.Tests)
	if err != nil {
		return usageErr("%v", err)
	}
	ns := "acknet-connectivity-" + nodeexec.RandomSuffix()
	progress := progressWriter(o.ErrOut)
	runner := connectivity.NewRunner(o.client, o.config, nodes, connectivity.Options{
		Image: o.Image, Namespace: ns, HostPort: o.HostPort, DialTimeout: o.DialTimeout, Attempts: o.Attempts,
		Concurrency: o.Concurrency, WaitTimeout: min(2*time.Minute, o.Timeout/2), Deadline: o.Timeout + time.Minute,
		ClusterDomain: env.ClusterDomain(), Progress: progress,
	})
	restore := onInterrupt(ctx, "interrupted: deleting the test namespace "+ns, func() []string {
		return []string{"namespace/" + ns}
	})
	results, testPods, runErr := o.deployAndTest(ctx, runner, names, cells)
	if runner.Created() {
		runner.Progress("tested; deleting namespace %s", ns)
	}
	if err := runner.Delete(); err != nil {
		runErr = joinErr(runErr, err)
	} else if runner.Created() {
		runner.Progress("deleted")
	}
	// Only now: a second interrupt while the namespace is deleted names it.
	restore()
	if interrupted(ctx) {
		return joinErr(ErrInterrupted, runErr)
	}
	if runErr != nil {
		return runErr
	}
	var doctor []checks.Outcome
	for _, r := range results {
		if r.Status == checks.StatusFail {
			doctor = checks.Run(env, clusterSideChecks())
			break
		}
	}
	outcomes := connectivity.Outcomes(results, doctor)
	info := report.ClusterInfo{
		Server: o.server, KubernetesVersion: snap.ServerVersion, NetworkPlugin: env.Plugin, PluginVersion: env.PluginVersion,
		TerwayMode: env.TerwayMode, Nodes: len(nodes), Pods: testPods,
	}
	if w := env.WorkerKubeProxy(); w != nil && w.Err == nil {
		info.KubeProxyMode = w.Summary.Mode
	}
	rep := report.BuildKind(report.ConnectivityKind, info, outcomes)
	return o.Print(o.Out, o.Global.NoColor, rep)
}

// deployAndTest returns the results and how many test pods ran them.
func (o *ConnectivityOptions) deployAndTest(ctx context.Context, runner *connectivity.Runner, names []string, cells []connectivity.Cell) ([]connectivity.Result, int, error) {
	dep, err := runner.Deploy(ctx, cells)
	if err != nil {
		return nil, 0, err
	}
	// Now the families are known: plan them, with the same selection.
	planned, err := connectivity.Select(connectivity.Plan(connectivity.Input{Nodes: names, Families: dep.Families, External: o.External}), o.Tests)
	if err != nil {
		return nil, 0, err
	}
	return runner.Test(ctx, dep, planned), len(dep.PodIPs), ctx.Err()
}

// clusterSideChecks are doctor's checks that need no node access and no logs.
func clusterSideChecks() []checks.Check {
	var out []checks.Check
	for _, c := range checks.All() {
		if !c.Node {
			out = append(out, c)
		}
	}
	return out
}

func joinErr(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return fmt.Errorf("%w; %w", a, b)
}

// chooseNodes resolves the node flags to the nodes under test, with their
// InternalIPs by family.
func (o *ConnectivityOptions) chooseNodes(ctx context.Context) ([]connectivity.Node, error) {
	var picked []corev1.Node
	switch {
	case len(o.Nodes) > 0:
		for _, name := range sortedUnique(o.Nodes) {
			n, err := o.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", name, err)
			}
			picked = append(picked, *n)
		}
	default:
		l, err := o.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		var ready []corev1.Node
		for _, n := range l.Items {
			if nodeUsable(&n) {
				ready = append(ready, n)
			}
		}
		sort.Slice(ready, func(i, j int) bool { return ready[i].Name < ready[j].Name })
		switch {
		case o.Selector != "":
			picked = ready
		case o.AllZones:
			picked = onePerGroup(ready)
		default:
			picked = twoApart(ready)
		}
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("no Ready node to test")
	}
	out := make([]connectivity.Node, len(picked))
	for i, n := range picked {
		out[i] = connectivity.Node{Name: n.Name, IPs: map[connectivity.Family]string{}}
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			f := connectivity.IPv4
			if ip := net.ParseIP(a.Address); ip != nil && ip.To4() == nil {
				f = connectivity.IPv6
			}
			if out[i].IPs[f] == "" {
				out[i].IPs[f] = a.Address
			}
		}
	}
	return out, nil
}

// nodeUsable: Ready, schedulable, Linux, and not refusing new pods.
func nodeUsable(n *corev1.Node) bool {
	if n.Spec.Unschedulable || (n.Labels[corev1.LabelOSStable] != "" && n.Labels[corev1.LabelOSStable] != "linux") {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Zone and node pool labels: ACK sets both.
const (
	labelZone     = corev1.LabelTopologyZone
	labelNodePool = "alibabacloud.com/nodepool-id"
)

// twoApart picks two nodes, in different zones (or node pools) when the
// cluster has more than one.
func twoApart(nodes []corev1.Node) []corev1.Node {
	if len(nodes) <= 2 {
		return nodes
	}
	first := nodes[0]
	for _, n := range nodes[1:] {
		if n.Labels[labelZone] != first.Labels[labelZone] || n.Labels[labelNodePool] != first.Labels[labelNodePool] {
			return []corev1.Node{first, n}
		}
	}
	return nodes[:2]
}

// onePerGroup picks a node of every zone and of every node pool.
func onePerGroup(nodes []corev1.Node) []corev1.Node {
	seenZone, seenPool := map[string]bool{}, map[string]bool{}
	var out []corev1.Node
	for _, n := range nodes {
		z, p := n.Labels[labelZone], n.Labels[labelNodePool]
		if !seenZone[z] || !seenPool[p] {
			out = append(out, n)
		}
		seenZone[z], seenPool[p] = true, true
	}
	return out
}
