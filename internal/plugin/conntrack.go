package plugin

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// ConntrackOptions are the options of `kubectl acknet conntrack`.
type ConntrackOptions struct {
	nodeCommand
	// SetMax, when not 0, is the nf_conntrack_max to set (dry run without
	// Apply).
	SetMax     int64
	AllowLower bool
	Apply      bool
	Yes        bool

	// ebpf names the Terway acceleration that tracks Service connections
	// in eBPF maps ("" when none).
	ebpf string
}

func newConntrackCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &ConntrackOptions{nodeCommand: nodeCommand{IOStreams: streams, Global: g}}
	cmd := &cobra.Command{
		Use:   "conntrack",
		Short: "Show connection tracking usage of nodes (node.conntrack-usage), and raise its limit",
		Long: `conntrack reads nf_conntrack_count and nf_conntrack_max of each node, counts
the entries per protocol and those to port 53 (DNS: the FAQ's case for
NodeLocal DNSCache), streamed on the node since the table may hold millions,
and shows the last "nf_conntrack: table full, dropping packet" kernel message.
A node is warn at 80 % usage, fail at 95 % or when the table has overflowed.
On Terway IPvlan and DataPathV2, pods' Service connections are tracked in eBPF
maps, not here: the figures are then not the whole story.

With --set-max N it raises the limit the way the FAQ does by hand: sysctl
net.netfilter.nf_conntrack_max, and the same line in ` + nodescripts.ConntrackDropIn + `
for the next boot. Without --apply it only shows old and new. A value below the
entries a node holds now is refused there, and one below its current limit
unless --allow-lower.

How long it lasts depends on kube-proxy, which sets the limit to
conntrack.maxPerCore x cores (at least conntrack.min) each time it starts:
kube-proxy 1.37 only ever raises it, but some earlier releases write that value
whatever the node had, so a restart of kube-proxy or of the node undoes
--set-max there.
The drop-in also needs nf_conntrack loaded when sysctl runs at boot. For a
limit that lasts on every node, set conntrack.maxPerCore instead
(kubectl acknet fix kubeproxy.conntrack-max-per-core); --set-max is the FAQ's
quick relief for a node whose table is full now.`,
		Example: `  kubectl acknet conntrack --node cn-hangzhou.192.168.0.10
  kubectl acknet conntrack -l node.kubernetes.io/instance-type=ecs.g7.xlarge

  # The FAQ's 655350, on one node: first see it, then do it
  kubectl acknet conntrack --node cn-hangzhou.192.168.0.10 --set-max 655350
  kubectl acknet conntrack --node cn-hangzhou.192.168.0.10 --set-max 655350 --apply --yes`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().Int64Var(&o.SetMax, "set-max", 0, "Set net.netfilter.nf_conntrack_max to this and persist it (dry run without --apply)")
	cmd.Flags().BoolVar(&o.AllowLower, "allow-lower", false, "With --set-max: allow a value below a node's current limit")
	cmd.Flags().BoolVar(&o.Apply, "apply", false, "With --set-max: change the nodes")
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "With --apply: do not ask for confirmation")
	return cmd
}

// readEBPF reads whether Terway tracks connections in eBPF. Best effort:
// without eni-config (Flannel) or the right to read it, there is simply no
// note.
func (o *ConntrackOptions) readEBPF(ctx context.Context) {
	if cm, err := o.client.CoreV1().ConfigMaps(cluster.SystemNamespace).Get(ctx, cluster.CMENIConfig, metav1.GetOptions{}); err == nil {
		if vt := ackconf.ParseENIConfig(cm.Data).VirtualType(); vt == ackconf.VirtualTypeIPVlan || vt == ackconf.VirtualTypeDatapathV2 {
			o.ebpf = vt
		}
	}
}

// Validate checks the flags that go together.
func (o *ConntrackOptions) Validate() error {
	switch {
	case o.SetMax < 0 || o.SetMax > 1<<31-1:
		return usageErr("--set-max must be between 1 and %d", 1<<31-1)
	case (o.Apply || o.AllowLower) && o.SetMax == 0:
		return usageErr("--apply and --allow-lower go with --set-max: reading changes nothing")
	case o.Yes && !o.Apply:
		return usageErr("--yes goes with --apply")
	case o.Apply && !o.Yes && !interactive(o.IOStreams):
		return usageErr("--apply asks for confirmation: not run on a terminal, so pass --yes to confirm")
	}
	return nil
}

// Run reads (or, with --set-max, changes) conntrack on every node and prints
// one line per node.
func (o *ConntrackOptions) Run(ctx context.Context) error {
	o.readEBPF(ctx)
	nodes, err := o.resolve(ctx, o.client)
	if err != nil {
		return err
	}
	if o.SetMax > 0 {
		return o.set(ctx, nodes)
	}
	runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
	defer o.onInterrupt(ctx, runner)()
	stats, results := readScript(ctx, runner, "conntrack", nodes, nodescripts.Conntrack, nil, nil, nodescripts.ParseConntrack)
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tSTATUS\tCOUNT\tMAX\tUSAGE\tBUCKETS\tDNS\tPROTOCOLS\tTABLE FULL")
	for _, n := range nodes {
		c := stats[n]
		if c == nil {
			continue
		}
		status := "pass"
		switch {
		case c.Usage() >= checks.ConntrackFailPct || c.TableFull != "":
			status = "fail"
		case c.Usage() >= checks.ConntrackWarnPct:
			status = "warn"
		}
		full := "-"
		if c.TableFull != "" {
			full = c.TableFull
		}
		buckets := "-"
		if c.Buckets > 0 {
			buckets = fmt.Sprint(c.Buckets)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.1f%%\t%s\t%s\t%s\t%s\n", n, status, c.Count, c.Max, c.Usage(), buckets, dnsShare(c), protocols(c.Protocols), full)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if o.ebpf != "" {
		fmt.Fprintf(o.Out, "Note: Terway %s tracks pods' Service connections in eBPF maps, not in this table: these figures are not the whole story.\n", o.ebpf)
	}
	return nodeFailures(results)
}

// dnsShare is the DNS entries and their share of the table, "-" when unknown.
func dnsShare(c *nodescripts.ConntrackStats) string {
	if c.DNS < 0 {
		return "-"
	}
	if c.Count <= 0 {
		return fmt.Sprint(c.DNS)
	}
	return fmt.Sprintf("%d (%.0f%%)", c.DNS, 100*float64(c.DNS)/float64(c.Count))
}

// set raises nf_conntrack_max on every node: a dry run shows old and new.
func (o *ConntrackOptions) set(ctx context.Context, nodes []string) error {
	if o.Apply {
		if err := confirm(ctx, o.IOStreams, o.Yes, "this changes host state", fmt.Sprintf("Set nf_conntrack_max to %d and persist it on %s?", o.SetMax, checks.Count(len(nodes), "node"))); err != nil {
			return err
		}
	}
	env := map[string]string{"MAX": strconv.FormatInt(o.SetMax, 10), "DROPIN": nodescripts.ConntrackDropIn}
	if o.Apply {
		env["APPLY"] = "1"
	}
	if o.AllowLower {
		env["ALLOW_LOWER"] = "1"
	}
	runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
	defer o.onInterrupt(ctx, runner)()
	res, results := collect(ctx, runner, "conntrack-set", nodes, func(ctx context.Context, s *nodeexec.Session) (*nodescripts.ConntrackSetResult, error) {
		return runScript(ctx, s, nodescripts.ConntrackSet, s.HostRoot(), env, nil, nodescripts.ParseConntrackSet)
	})
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tCOUNT\tOLD MAX\tNEW MAX\tPERSISTED")
	for _, n := range nodes {
		r := res[n]
		if r == nil {
			continue
		}
		switch {
		case !o.Apply:
			fmt.Fprintf(w, "%s\t%d\t%d\t%d (dry run)\t-\n", n, r.Count, r.Old, o.SetMax)
		default:
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", n, r.Count, r.Old, r.New, r.Persisted)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !o.Apply {
		fmt.Fprintln(o.Out, "nothing was changed; to set it: add --apply")
	}
	return nodeFailures(results)
}

func protocols(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}
