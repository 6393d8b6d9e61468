package plugin

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/ipv6"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
	"github.com/kubectl-acknet/kubectl-acknet/pkg/report"
)

func newIPv6Cmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "ipv6", Short: "Dual-stack (IPv6) verification"}
	cmd.AddCommand(newIPv6VerifyCmd(streams, g))
	return cmd
}

// IPv6VerifyOptions are the options of `kubectl acknet ipv6 verify`.
type IPv6VerifyOptions struct {
	genericiooptions.IOStreams
	Global *GlobalOptions
	NodeOptions

	AllNamespaces bool
	LabelSelector string
	FieldSelector string
	*ReportFlags
	Listen      bool
	MaxPods     int
	Probe       bool
	ProbeNode   string
	PerNode     bool
	External    []string
	DialTimeout time.Duration

	namespace string
	external  [][2]string
	client    kubernetes.Interface
	config    *rest.Config
	server    string
}

func newIPv6VerifyCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &IPv6VerifyOptions{IOStreams: streams, Global: g, ReportFlags: NewReportFlags(true)}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify dual-stack: nodes, pod IPs, Service families, listeners (--listen) and reachability (--probe)",
		Long: `verify checks, in one command, the layers the FAQ walks through by hand:

  ipv6.cluster           Flannel: every node has an IPv6 pod CIDR and InternalIP; Terway (no pod
                         CIDRs): eni_conf ip_stack is dual and each node's pods got IPv6 addresses
  ipv6.pod-ips           every running pod on the pod network has an IPv6 address in status.podIPs
  ipv6.service-families  Services ask for IPv6 (SingleStack warns) and got an IPv6 ClusterIP;
                         default/kubernetes is left out (the API server keeps it SingleStack)
  ipv6.listen            --listen: declared TCP ports listen on IPv6, read from each pod's own
                         network namespace on its node (no ephemeral container is added)
  ipv6.reachability      --probe: a probe pod dials the IPv6 pod IPs and ClusterIPs on their ports
  ipv6.internet          --probe --external HOST:PORT: the probe pods dial out to an IPv6
                         address outside the cluster (outbound only)

The probe runs in a debug pod in the host network namespace of --probe-node
(default: the first Ready node), or of every node with --per-node. It changes
nothing.`,
		Example: `  kubectl acknet ipv6 verify -n shop
  kubectl acknet ipv6 verify -A -l app=web --listen
  kubectl acknet ipv6 verify -n shop --probe --external '[2400:3200::1]:53'`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Pods and Services of every namespace")
	f.StringVarP(&o.LabelSelector, "selector", "l", "", "Only pods and Services matching this label selector")
	f.StringVar(&o.FieldSelector, "field-selector", "", "Only pods matching this field selector")
	o.AddFlags(f, "table, json, yaml, junit or markdown")
	f.BoolVar(&o.Listen, "listen", false, "Read the listening sockets of the selected pods from their nodes (one debug pod per node)")
	f.IntVar(&o.MaxPods, "max-pods", 50, "With --listen: examine at most this many pods")
	f.BoolVar(&o.Probe, "probe", false, "Dial the IPv6 pod IPs and ClusterIPs from a probe pod")
	f.StringVar(&o.ProbeNode, "probe-node", "", "With --probe: the node of the probe pod (default: the first Ready node)")
	f.BoolVar(&o.PerNode, "per-node", false, "With --probe: one probe pod on every node")
	f.StringSliceVar(&o.External, "external", nil, "With --probe: an IPv6 target outside the cluster, HOST:PORT (repeatable)")
	f.DurationVar(&o.DialTimeout, "dial-timeout", 3*time.Second, "With --probe: connect timeout per target")
	o.addRunnerFlags(f)
	return cmd
}

// Complete resolves the namespace and builds the client.
func (o *IPv6VerifyOptions) Complete() error {
	var err error
	if err = o.ReportFlags.Complete(); err != nil {
		return err
	}
	if o.AllNamespaces {
		o.namespace = metav1.NamespaceAll
	} else if o.namespace, _, err = o.Global.ConfigFlags.ToRawKubeConfigLoader().Namespace(); err != nil {
		return usageErr("namespace: %v", err)
	}
	cs, cfg, err := o.Global.Clientset()
	if err != nil {
		return err
	}
	o.client, o.config, o.server = cs, cfg, cfg.Host
	return nil
}

// Validate checks flag combinations and the external targets.
func (o *IPv6VerifyOptions) Validate() error {
	if err := o.ReportFlags.Validate(); err != nil {
		return err
	}
	if !o.Probe && (o.ProbeNode != "" || o.PerNode || len(o.External) > 0) {
		return usageErr("--probe-node, --per-node and --external go with --probe")
	}
	if o.ProbeNode != "" && o.PerNode {
		return usageErr("--probe-node and --per-node exclude each other")
	}
	if o.ProbeNode != "" {
		if errs := validation.IsDNS1123Subdomain(o.ProbeNode); len(errs) > 0 {
			return usageErr("--probe-node %q: %s", o.ProbeNode, strings.Join(errs, "; "))
		}
	}
	if o.MaxPods < 1 {
		return usageErr("--max-pods must be positive")
	}
	if o.DialTimeout < time.Second || o.DialTimeout > time.Minute {
		return usageErr("--dial-timeout must be between 1s and 1m")
	}
	for _, e := range o.External {
		host, port, err := net.SplitHostPort(e)
		if err != nil {
			return usageErr("--external %q: want HOST:PORT, with [ ] around an IPv6 address", e)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return usageErr("--external %q: bad port", e)
		}
		if _, err := netip.ParseAddr(host); err != nil && len(validation.IsDNS1123Subdomain(host)) > 0 {
			return usageErr("--external %q: host is neither an address nor a DNS name", e)
		}
		o.external = append(o.external, [2]string{host, port})
	}
	if o.Listen || o.Probe {
		return o.validateRunner()
	}
	return nil
}

// Run reads, verifies and prints.
func (o *IPv6VerifyOptions) Run(ctx context.Context) error {
	in, err := o.read(ctx)
	if err != nil {
		return err
	}
	if o.Listen || o.Probe {
		runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
		restore := o.onInterrupt(ctx, runner)
		if o.Listen {
			o.readListeners(ctx, runner, &in)
		}
		if o.Probe {
			o.probe(ctx, runner, &in)
		}
		restore()
		if err := context.Cause(ctx); err != nil {
			return fmt.Errorf("ipv6 verify: %w", err)
		}
	}
	outcomes := ipv6.Verify(in, o.Listen, o.Probe)
	pods := 0
	for _, p := range in.Pods {
		if !p.HostNetwork {
			pods++
		}
	}
	rep := report.BuildKind(report.IPv6Kind, report.ClusterInfo{Server: o.server, Nodes: len(in.Nodes), Pods: pods}, outcomes)
	return o.Print(o.Out, o.Global.NoColor, rep)
}

// read lists nodes, pods and Services page by page, keeping of each only
// what the checks read (ipv6.Compact*), so memory stays small on a large
// cluster.
func (o *IPv6VerifyOptions) read(ctx context.Context) (ipv6.Input, error) {
	var in ipv6.Input
	err := cluster.ListPaged(ctx, cluster.DefaultChunkSize, metav1.ListOptions{}, func(opts metav1.ListOptions) (string, error) {
		l, err := o.client.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			in.Nodes = append(in.Nodes, ipv6.CompactNode(&l.Items[i]))
		}
		return l.Continue, nil
	}, func() { in.Nodes = nil })
	if err != nil {
		return in, fmt.Errorf("list nodes: %w", err)
	}
	err = cluster.ListPaged(ctx, cluster.DefaultChunkSize, metav1.ListOptions{LabelSelector: o.LabelSelector, FieldSelector: o.FieldSelector}, func(opts metav1.ListOptions) (string, error) {
		l, err := o.client.CoreV1().Pods(o.namespace).List(ctx, opts)
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			in.Pods = append(in.Pods, ipv6.CompactPod(&l.Items[i]))
		}
		return l.Continue, nil
	}, func() { in.Pods = nil })
	if err != nil {
		return in, fmt.Errorf("list pods: %w", err)
	}
	err = cluster.ListPaged(ctx, cluster.DefaultChunkSize, metav1.ListOptions{LabelSelector: o.LabelSelector}, func(opts metav1.ListOptions) (string, error) {
		l, err := o.client.CoreV1().Services(o.namespace).List(ctx, opts)
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			in.Services = append(in.Services, ipv6.CompactService(&l.Items[i]))
		}
		return l.Continue, nil
	}, func() { in.Services = nil })
	if err != nil {
		return in, fmt.Errorf("list services: %w", err)
	}
	if cm, err := o.client.CoreV1().ConfigMaps(cluster.SystemNamespace).Get(ctx, cluster.CMENIConfig, metav1.GetOptions{}); err == nil {
		if c := ackconf.ParseENIConfig(cm.Data); c.ENIConf != nil {
			in.TerwayIPStack = c.ENIConf.IPStack
			if in.TerwayIPStack == "" {
				in.TerwayIPStack = "ipv4"
			}
		}
	}
	return in, nil
}

func (o *IPv6VerifyOptions) readListeners(ctx context.Context, runner *nodeexec.Runner, in *ipv6.Input) {
	byNode := map[string][]string{}
	picked := 0
	for i := range in.Pods {
		p := &in.Pods[i]
		if !p.OnPodNetwork() || p.Node == "" || len(p.TCPPorts()) == 0 {
			continue
		}
		if picked == o.MaxPods {
			break
		}
		picked++
		byNode[p.Node] = append(byNode[p.Node], p.Namespace, p.Name)
	}
	if picked == 0 {
		in.ListenErr = "no running pod with a declared TCP port matches"
		return
	}
	nodes := make([]string, 0, len(byNode))
	for n := range byNode {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	found, results := readScript(ctx, runner, "ipv6-listen", nodes, nodescripts.Listen, nil, func(node string) []string { return byNode[node] }, nodescripts.ParseListen)
	in.Listen = map[string]*nodescripts.PodSockets{}
	for _, res := range found {
		for k, v := range res {
			in.Listen[k] = v
		}
	}
	for _, r := range results {
		if r.Err != nil {
			args := byNode[r.Node]
			for i := 0; i+1 < len(args); i += 2 {
				in.Listen[args[i]+"/"+args[i+1]] = &nodescripts.PodSockets{Err: "node " + r.Node + ": " + r.Err.Error()}
			}
		}
	}
}

func (o *IPv6VerifyOptions) probe(ctx context.Context, runner *nodeexec.Runner, in *ipv6.Input) {
	type target struct{ addr, port, object string }
	var targets []target
	for i := range in.Pods {
		p := &in.Pods[i]
		if !p.OnPodNetwork() {
			continue
		}
		for _, ip := range p.IPs {
			if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
				for _, port := range p.TCPPorts() {
					targets = append(targets, target{ip, strconv.Itoa(port), p.Namespace + "/Pod/" + p.Name})
				}
			}
		}
	}
	for _, s := range in.Services {
		for _, ip := range s.ClusterIPs {
			if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
				for _, port := range s.Ports {
					if port.TCP() {
						targets = append(targets, target{ip, strconv.Itoa(int(port.Port)), s.Namespace + "/Service/" + s.Name})
					}
				}
			}
		}
	}
	nInternal := len(targets)
	for _, e := range o.external {
		targets = append(targets, target{e[0], e[1], "external/" + net.JoinHostPort(e[0], e[1])})
	}
	if len(targets) == 0 {
		return
	}
	nodes, err := o.probeNodes(in)
	if err != nil {
		in.ProbeErr = err.Error()
		return
	}
	var args []string
	for _, t := range targets {
		args = append(args, t.addr, t.port)
	}
	env := map[string]string{"TIMEOUT": strconv.Itoa(int(o.DialTimeout.Seconds()))}
	var mu sync.Mutex
	results := runner.Run(ctx, "ipv6-probe", nodes, func(ctx context.Context, s *nodeexec.Session) error {
		// The probe dials with the debug image's own busybox nc, so it runs
		// in the image's root (""), not the host's.
		argv, err := nodescripts.Command(nodescripts.Probe, "", env, args...)
		if err != nil {
			return err
		}
		out, err := s.Exec(ctx, argv)
		if err != nil {
			return err
		}
		res, err := nodescripts.ParseProbe(out)
		if err != nil {
			return err
		}
		if res, err = nodescripts.InOrder(res, args); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for i, r := range res {
			t := ipv6.Target{ProbeResult: r, Object: targets[i].object, From: s.Node}
			if i < nInternal {
				in.Probe = append(in.Probe, t)
			} else {
				in.Internet = append(in.Internet, t)
			}
		}
		return nil
	})
	var errs []string
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Node+": "+r.Err.Error())
		}
	}
	if len(errs) > 0 && len(in.Probe)+len(in.Internet) == 0 {
		in.ProbeErr = "the probe could not run: " + strings.Join(errs, "; ")
	}
}

func (o *IPv6VerifyOptions) probeNodes(in *ipv6.Input) ([]string, error) {
	if o.ProbeNode != "" {
		return []string{o.ProbeNode}, nil
	}
	var ready []string
	for _, n := range in.Nodes {
		if n.Ready {
			ready = append(ready, n.Name)
		}
	}
	sort.Strings(ready)
	if len(ready) == 0 {
		return nil, fmt.Errorf("no Ready node for the probe pod; name one with --probe-node")
	}
	if o.PerNode {
		return ready, nil
	}
	return ready[:1], nil
}
