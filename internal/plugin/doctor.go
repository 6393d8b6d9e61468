package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/internal/bundle"
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/pkg/report"
)

const doctorExample = `  # Check the cluster of the current context
  kubectl acknet doctor

  # Only the Flannel checks, as JSON for a pipeline that fails on warnings
  kubectl acknet doctor --checks 'flannel.*' -o json --fail-on warn

  # Everything but the DNS checks, reading kube-proxy and Terway logs of the last hour
  kubectl acknet doctor --skip 'dns.*' --logs --since 1h

  # Also read the VPC through Alibaba Cloud's API: vSwitch headroom, routes,
  # SNAT, ENI quota (credentials from the environment, the aliyun CLI's
  # profile, RRSA or the ECS RAM role)
  kubectl acknet doctor --cloud

  # List the checks and what each looks for
  kubectl acknet doctor --list-checks`

// DoctorOptions are the options of `kubectl acknet doctor`.
type DoctorOptions struct {
	genericiooptions.IOStreams
	Global *GlobalOptions

	*ReportFlags
	Checks       []string
	Skip         []string
	ListChecks   bool
	Logs         bool
	Since        time.Duration
	LogLines     int64
	ChunkSize    int64
	VSwitchCIDRs []string
	NodeChecks   bool
	NodeOptions

	FromBundle string

	Cloud           bool
	Region          string
	CloudEndpoint   string
	RouteEntryQuota int

	selected []checks.Check
	cidrs    []netip.Prefix
	// vswitchByID are the --vswitch-cidrs given as vsw-ID=CIDR.
	vswitchByID map[string][]netip.Prefix
	client      kubernetes.Interface
	config      *rest.Config
	server      string
	// cloudFacts and cloudErr are what the cloud read left (see readCloud).
	cloudFacts *cloud.Facts
	cloudErr   error
}

func newDoctorCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &DoctorOptions{IOStreams: streams, Global: g, ReportFlags: NewReportFlags(true)}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the cluster's container network against the ACK FAQ",
		Long: `doctor reads the cluster once (nodes, pods, Services, DaemonSets, the ACK
ConfigMaps in kube-system and recent Warning events) and runs every check of
the catalog against it. It changes nothing.

Each check reports pass, info, warn, fail or skip. A skip says why: the check
does not apply (a Flannel check on a Terway cluster), or doctor could not read
what it needs (RBAC, a missing ConfigMap).

With --cloud it also reads the cluster's VPC through Alibaba Cloud's API
(read-only Describe calls: vSwitches, route tables, NAT gateways, the nodes'
instances and instance types) and runs the cloud.* checks. Credentials come
from the standard chain, first found wins: ALIBABA_CLOUD_ACCESS_KEY_ID and
ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN); RRSA
(ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN,
ALIBABA_CLOUD_OIDC_TOKEN_FILE); the aliyun CLI's current profile
(~/.aliyun/config.json, ALIBABA_CLOUD_PROFILE); the ECS RAM role named by
ALIBABA_CLOUD_ECS_METADATA. No credential value is ever printed. The region
comes from the nodes' topology.kubernetes.io/region label unless --region
says; ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true uses the VPC endpoints. A call
RAM denies makes only the checks that need it skip.

Exit codes: 0 when no check is at or above --fail-on, 2 when one is, 1 when
doctor could not run (no cluster, bad flags, no or refused cloud
credentials).`,
		Example: doctorExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	f := cmd.Flags()
	o.AddFlags(f, "table, json, yaml, junit (one test case per check) or markdown (for tickets)")
	f.StringSliceVar(&o.Checks, "checks", nil, "Run only these checks (IDs or globs such as 'flannel.*'; comma-separated or repeated)")
	f.StringSliceVar(&o.Skip, "skip", nil, "Do not run these checks (IDs or globs)")
	f.BoolVar(&o.ListChecks, "list-checks", false, "List the checks and exit")
	f.BoolVar(&o.Logs, "logs", false, "Also read kube-proxy and Terway pod logs (one request per pod)")
	f.DurationVar(&o.Since, "since", time.Hour, "With --logs: how far back to read")
	f.Int64Var(&o.LogLines, "log-lines", 2000, "With --logs: at most this many lines per pod")
	f.Int64Var(&o.ChunkSize, "chunk-size", cluster.DefaultChunkSize, "Page size of LIST requests")
	f.StringSliceVar(&o.VSwitchCIDRs, "vswitch-cidrs", nil, "CIDRs of all the vSwitches Terway allocates from (enables terway.pod-outside-vswitch); vsw-ID=CIDR instead checks the pods of the dynamic configs that name that vSwitch (terway.dynamic-config). Offline use: --cloud reads the vSwitches from the API")
	f.BoolVar(&o.NodeChecks, "node-checks", false, "Also run the node.* checks: one debug pod per node (all nodes unless --node or -l)")
	f.StringVar(&o.FromBundle, "from-bundle", "", "Replay a bundle of kubectl acknet bundle offline instead of reading a cluster")
	f.BoolVar(&o.Cloud, "cloud", false, "Also read the VPC through Alibaba Cloud's API and run the cloud.* checks (read-only; see the RAM policy in the README)")
	f.StringVar(&o.Region, "region", "", "With --cloud: the region (default: from the nodes' topology.kubernetes.io/region label)")
	f.StringVar(&o.CloudEndpoint, "cloud-endpoint", "", "With --cloud: send the VPC and ECS calls to this host[:port] or URL (a proxy) instead of the region's public endpoints; plain http only to loopback (the local test API, which then also answers STS and instance metadata)")
	f.IntVar(&o.RouteEntryQuota, "route-entry-quota", checks.DefaultRouteEntryQuota, "With --cloud: custom route entries a route table may hold (raise it when the quota was raised)")
	o.addFlags(f)
	return cmd
}

// Complete fills in what the flags imply.
func (o *DoctorOptions) Complete() error {
	var err error
	if o.ListChecks {
		return nil
	}
	if err = o.ReportFlags.Complete(); err != nil {
		return err
	}
	for _, c := range o.VSwitchCIDRs {
		// CIDR, or vsw-ID=CIDR: by ID they also check the dynamic configs
		// that name the vSwitch.
		id, cidr, byID := strings.Cut(strings.TrimSpace(c), "=")
		if !byID {
			cidr = id
		}
		id = strings.TrimSpace(id)
		p, perr := netip.ParsePrefix(strings.TrimSpace(cidr))
		if perr != nil || (byID && !strings.HasPrefix(id, "vsw-")) {
			return usageErr("--vswitch-cidrs: %q is neither a CIDR nor vsw-ID=CIDR", c)
		}
		// By ID they judge only the nodes of the configs naming them:
		// terway.pod-outside-vswitch wants every vSwitch, so plain CIDRs.
		if !byID {
			o.cidrs = append(o.cidrs, p.Masked())
			continue
		}
		if o.vswitchByID == nil {
			o.vswitchByID = map[string][]netip.Prefix{}
		}
		o.vswitchByID[id] = append(o.vswitchByID[id], p.Masked())
	}
	if o.FromBundle != "" {
		return nil // no cluster: the bundle is the cluster
	}
	cs, cfg, err := o.Global.Clientset()
	if err != nil {
		return err
	}
	o.client, o.config, o.server = cs, cfg, cfg.Host
	return nil
}

// Validate checks flag combinations.
func (o *DoctorOptions) Validate() error {
	if o.ListChecks {
		return nil
	}
	if err := o.ReportFlags.Validate(); err != nil {
		return err
	}
	if o.ChunkSize < 1 {
		return usageErr("--chunk-size must be positive")
	}
	if o.FromBundle != "" && (o.Cloud || o.Logs || len(o.VSwitchCIDRs) > 0) {
		return usageErr("--from-bundle replays what the bundle read: --cloud, --logs and --vswitch-cidrs need a live cluster")
	}
	if !o.Cloud && (o.Region != "" || o.CloudEndpoint != "" || o.RouteEntryQuota != checks.DefaultRouteEntryQuota) {
		return usageErr("--region, --cloud-endpoint and --route-entry-quota configure --cloud; add --cloud")
	}
	if o.RouteEntryQuota < 1 {
		return usageErr("--route-entry-quota must be positive")
	}
	if _, _, err := cloud.ParseEndpoint(o.CloudEndpoint); err != nil {
		return usageErr("%v", err)
	}
	if o.NodeChecks {
		if len(o.Nodes) == 0 && o.Selector == "" {
			o.AllNodes = true
		}
		if err := o.validate(); err != nil {
			return err
		}
	} else if len(o.Nodes) > 0 || o.Selector != "" || o.AllNodes {
		return usageErr("--node, -l and --all-nodes choose the nodes of --node-checks; add --node-checks")
	}
	all := checks.All()
	if len(o.Checks) == 0 {
		// Node-side checks launch pods and cloud checks call Alibaba
		// Cloud; each runs only when asked for (named in --checks, they
		// skip and say which flag they need).
		var wanted []checks.Check
		for _, c := range all {
			if (!c.Node || o.NodeChecks) && (!c.Cloud || o.Cloud) {
				wanted = append(wanted, c)
			}
		}
		all = wanted
	}
	var err error
	if o.selected, err = checks.Select(all, o.Checks, o.Skip); err != nil {
		return usageErr("%v", err)
	}
	if len(o.selected) == 0 {
		return usageErr("--checks and --skip leave no check to run")
	}
	return nil
}

func usageErr(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// Run reads the cluster, runs the checks and prints the report.
func (o *DoctorOptions) Run(ctx context.Context) error {
	if o.ListChecks {
		return o.listChecks()
	}

	if o.FromBundle != "" {
		return o.replay()
	}
	opts := cluster.Options{
		ChunkSize:    o.ChunkSize,
		Logs:         o.Logs,
		LogSince:     o.Since,
		LogLines:     o.LogLines,
		VSwitchCIDRs: o.cidrs,
		VSwitchByID:  o.vswitchByID,
	}
	if o.Cloud {
		opts.ConfigMaps = []string{cluster.CMCloudConfig}
		opts.PodRanges = o.readCloud
	}
	snap, err := cluster.Read(ctx, o.client, opts)
	if err != nil {
		if o.cloudErr != nil {
			err = o.cloudErr
		} else {
			err = o.describeReadError(err)
		}
		if o.Output == "junit" {
			// CI collects the file whatever happened; give it a valid one.
			_ = report.JUnitError(o.Out, report.Kind, err)
		}
		return err
	}
	env := checks.NewEnv(snap)
	env.Cloud, env.RouteEntryQuota = o.cloudFacts, o.RouteEntryQuota
	if o.NodeChecks {
		facts, _, err := o.gatherNodeFacts(ctx, o.client, o.config, o.ErrOut, env)
		if err != nil {
			return err
		}
		env.NodeFacts = facts
	}
	rep := report.Build(env, o.server, checks.Run(env, o.selected))
	return o.Print(o.Out, o.Global.NoColor, rep)
}

// replay runs the checks on a bundle's snapshot, as doctor did live.
// With --node-checks it parses the node facts the bundle kept.
func (o *DoctorOptions) replay() error {
	b, err := bundle.Open(o.FromBundle)
	if err != nil {
		return fmt.Errorf("--from-bundle: %w", err)
	}
	env := checks.NewEnv(b.Snapshot)
	if o.NodeChecks {
		if b.Nodes == nil {
			return fmt.Errorf("--from-bundle %s: the bundle has no node facts (make it with kubectl acknet bundle --node-checks)", o.FromBundle)
		}
		plan, err := checks.PlanNodeFacts(env)
		if err != nil {
			return err
		}
		env.NodeFacts = map[string]*checks.NodeFacts{}
		for node, raw := range b.Nodes {
			env.NodeFacts[node] = plan.Facts(raw)
		}
	}
	rep := report.Build(env, b.Manifest.Server, checks.Run(env, o.selected))
	return o.Print(o.Out, o.Global.NoColor, rep)
}

// describeReadError turns a transport failure into one line that names the
// server and the cause, without client-go's URL noise.
func (o *DoctorOptions) describeReadError(err error) error {
	var unreachable *cluster.UnreachableError
	if !errors.As(err, &unreachable) {
		return fmt.Errorf("read cluster: %w", err)
	}
	cause := unreachable.Err
	var uerr *url.Error
	if errors.As(cause, &uerr) {
		cause = uerr.Err
	}
	ctxName := ""
	if o.Global.ConfigFlags.Context != nil && *o.Global.ConfigFlags.Context != "" {
		ctxName = " (context " + *o.Global.ConfigFlags.Context + ")"
	}
	return fmt.Errorf("cannot reach the API server at %s%s: %w", o.server, ctxName, cause)
}

func (o *DoctorOptions) listChecks() error {
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	if _, err := fmt.Fprintln(w, "CHECK\tSEVERITY\tTITLE"); err != nil {
		return err
	}
	for _, c := range checks.All() {
		title := c.Title
		if c.Node {
			title += " (doctor --node-checks)"
		}
		if c.Cloud {
			title += " (doctor --cloud)"
		}
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\n", c.ID, c.Severity, title); err != nil {
			return err
		}
	}
	return w.Flush()
}
