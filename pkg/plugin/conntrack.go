package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/pkg/checks"
	"github.com/kubectl-acknet/kubectl-acknet/pkg/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/pkg/nodescripts"
)

// ConntrackOptions are the options of `kubectl acknet conntrack`.
type ConntrackOptions struct {
	genericiooptions.IOStreams
	Global *GlobalOptions
	NodeOptions

	client kubernetes.Interface
	config *rest.Config
}

func newConntrackCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &ConntrackOptions{IOStreams: streams, Global: g}
	cmd := &cobra.Command{
		Use:   "conntrack",
		Short: "Show connection tracking usage of nodes (node.conntrack-usage)",
		Long: `conntrack reads nf_conntrack_count and nf_conntrack_max of each node, counts
the entries per protocol (streamed on the node, the table may hold millions),
and shows the last "nf_conntrack: table full, dropping packet" kernel message.
A node is warn at 80 % usage, fail at 95 % or when the table has overflowed.
It changes nothing.`,
		Example: `  kubectl acknet conntrack --node cn-hangzhou.192.168.0.10
  kubectl acknet conntrack -l node.kubernetes.io/instance-type=ecs.g7.xlarge`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			cs, cfg, err := g.Clientset()
			if err != nil {
				return &ExitCodeError{Code: ExitError, Err: err}
			}
			o.client, o.config = cs, cfg
			return o.Run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// Run reads conntrack on every node and prints one line per node.
func (o *ConntrackOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	nodes, err := o.resolve(ctx, o.client)
	if err != nil {
		return &ExitCodeError{Code: ExitError, Err: err}
	}
	runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
	ctx, stop := o.interruptible(ctx, o.IOStreams, runner)
	defer stop()
	stats, results := collect(ctx, runner, "conntrack", nodes, func(ctx context.Context, s *nodeexec.Session) (*nodescripts.ConntrackStats, error) {
		return runScript(ctx, s, nodescripts.Conntrack, s.HostRoot(), nil, nil, nodescripts.ParseConntrack)
	})
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tSTATUS\tCOUNT\tMAX\tUSAGE\tBUCKETS\tPROTOCOLS\tTABLE FULL")
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
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.1f%%\t%s\t%s\t%s\n", n, status, c.Count, c.Max, c.Usage(), buckets, protocols(c.Protocols), full)
	}
	if err := w.Flush(); err != nil {
		return err
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
