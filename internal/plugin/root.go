// Package plugin holds the cobra commands of kubectl-acknet. Each command
// has an Options struct with Complete, Validate and Run; flags live here and
// only here.
package plugin

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	// Auth plugins (OIDC, exec) that users' kubeconfigs may name.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// Defaults of the client rate limits. doctor makes a few dozen requests;
// the node commands fan out, about one write per node for a read (the debug
// pod's create; ended pods are deleted 50 at a time), so 100 per second
// reads 1,000 nodes in about 10 s. The server keeps
// its own ceiling: API Priority and Fairness puts these requests in a
// priority level of their user and answers 429 with Retry-After when that
// level is full, which client-go waits out and retries.
const (
	DefaultQPS   = 100
	DefaultBurst = 200
)

// GlobalOptions are the flags every command shares.
type GlobalOptions struct {
	ConfigFlags *genericclioptions.ConfigFlags
	QPS         float32
	Burst       int
	NoColor     bool
	// RESTConfigHook lets tests adjust the client config.
	RESTConfigHook func(*rest.Config)
	// RequestStats counts API requests and reports them on stderr (for
	// benchmarks; hidden flag --request-stats).
	RequestStats bool
	requests     atomic.Int64
}

type countingRoundTripper struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countingRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// Requests is how many API requests were sent, when RequestStats is on.
func (g *GlobalOptions) Requests() int64 { return g.requests.Load() }

// RESTConfig builds the client config from the kubeconfig flags, with our
// rate limits and the protobuf content type for built-in types.
func (g *GlobalOptions) RESTConfig() (*rest.Config, error) {
	cfg, err := g.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = g.QPS, g.Burst
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.UserAgent = "kubectl-acknet/" + Version
	if g.RequestStats {
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingRoundTripper{rt: rt, n: &g.requests} })
	}
	if g.RESTConfigHook != nil {
		g.RESTConfigHook(cfg)
	}
	return cfg, nil
}

// Clientset builds a clientset.
func (g *GlobalOptions) Clientset() (kubernetes.Interface, *rest.Config, error) {
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("build client: %w", err)
	}
	return cs, cfg, nil
}

// NewRootCmd builds `kubectl acknet`.
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	g := &GlobalOptions{ConfigFlags: genericclioptions.NewConfigFlags(true)}
	return newRootCmd(streams, g)
}

func newRootCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-acknet",
		Short: "Diagnose and repair container networking on Alibaba Cloud ACK clusters",
		Long: `kubectl acknet diagnoses the container network of an ACK cluster (Terway or
Flannel, kube-proxy, CoreDNS) in one read of the cluster, and says for each
problem which object is wrong and the exact fix.

Start with:
  kubectl acknet doctor`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Help and usage read "kubectl acknet ...", as users type it.
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl acknet",
		},
	}
	flags := cmd.PersistentFlags()
	g.ConfigFlags.AddFlags(flags)
	flags.Float32Var(&g.QPS, "qps", DefaultQPS, "Maximum queries per second to the API server")
	flags.IntVar(&g.Burst, "burst", DefaultBurst, "Maximum burst of queries to the API server")
	flags.BoolVar(&g.NoColor, "no-color", false, "Never color the output (also NO_COLOR; color is only used on a terminal)")
	flags.BoolVar(&g.RequestStats, "request-stats", false, "Print the number of API requests on stderr (for benchmarks)")
	_ = flags.MarkHidden("request-stats")

	cmd.AddCommand(newDoctorCmd(streams, g))
	cmd.AddCommand(newFlannelCmd(streams, g))
	cmd.AddCommand(newConntrackCmd(streams, g))
	cmd.AddCommand(newIPVSCmd(streams, g))
	cmd.AddCommand(newIPv6Cmd(streams, g))
	cmd.AddCommand(newConnectivityCmd(streams, g))
	cmd.AddCommand(newFixCmd(streams, g))
	cmd.AddCommand(newCleanupCmd(streams, g))
	cmd.AddCommand(newBundleCmd(streams, g))
	reportRequests(cmd, g, streams)
	registerCompletions(cmd, g)
	cmd.AddCommand(newVersionCmd(streams))
	return cmd
}

// reportRequests makes every command print its API request count on stderr
// when --request-stats is set, whatever its exit code.
func reportRequests(c *cobra.Command, g *GlobalOptions, streams genericiooptions.IOStreams) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			if g.RequestStats {
				fmt.Fprintf(streams.ErrOut, "api-requests: %d\n", g.Requests())
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		reportRequests(sub, g, streams)
	}
}
