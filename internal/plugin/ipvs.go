package plugin

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

func newIPVSCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "ipvs", Short: "IPVS node actions: kernel modules and timeouts"}
	cmd.AddCommand(newIPVSModulesCmd(streams, g), newIPVSTimeoutCmd(streams, g))
	return cmd
}

// nodeAction holds what the ipvs commands share.
type nodeAction struct {
	nodeCommand
	Yes bool
}

// confirmChange asks before changing host state.
func (a *nodeAction) confirmChange(ctx context.Context, what string, nodes int) error {
	return confirm(ctx, a.IOStreams, a.Yes, "this changes host state", fmt.Sprintf("%s on %d nodes?", what, nodes))
}

// IPVSModulesOptions are the options of `kubectl acknet ipvs modules`.
type IPVSModulesOptions struct {
	nodeAction
	Scheduler string
	Apply     bool
}

func newIPVSModulesCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &IPVSModulesOptions{nodeAction: nodeAction{nodeCommand: nodeCommand{IOStreams: streams, Global: g}}}
	cmd := &cobra.Command{
		Use:   "modules",
		Short: "Check, and with --apply load and persist, the kernel modules of IPVS mode (node.ipvs-modules)",
		Long: `modules checks on each node that ip_vs, ip_vs_<scheduler> and nf_conntrack are
loaded, available to modprobe, and persisted under /etc/modules-load.d/ so
they come back after a reboot. The scheduler defaults to the one in
kube-system/kube-proxy-worker.

With --apply it loads what is missing and appends what is not persisted to
` + nodescripts.ModulesPersistFile + ` (never twice).`,
		Example: `  kubectl acknet ipvs modules --all-nodes
  kubectl acknet ipvs modules --scheduler lc --node cn-hangzhou.192.168.0.10 --apply`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.Scheduler, "scheduler", "", "IPVS scheduler (default: from kube-proxy-worker, else rr)")
	cmd.Flags().BoolVar(&o.Apply, "apply", false, "Load and persist missing modules (default: only check)")
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "With --apply: do not ask for confirmation")
	return cmd
}

// schedulerFromCluster reads ipvs.scheduler of kube-proxy-worker.
func schedulerFromCluster(ctx context.Context, cs kubernetes.Interface) string {
	cm, err := cs.CoreV1().ConfigMaps(cluster.SystemNamespace).Get(ctx, cluster.CMKubeProxyWorker, metav1.GetOptions{})
	if err != nil {
		return "rr"
	}
	cfg, err := ackconf.ParseKubeProxyConfig(cm.Data[ackconf.KeyKubeProxyConfig])
	if err != nil || cfg.IPVS.Scheduler == "" {
		return "rr"
	}
	return cfg.IPVS.Scheduler
}

// Run checks (and with --apply fixes) the modules on every node.
func (o *IPVSModulesOptions) Run(ctx context.Context) error {
	if o.Scheduler == "" {
		o.Scheduler = schedulerFromCluster(ctx, o.client)
	}
	if !nodescripts.ValidScheduler(o.Scheduler) {
		return usageErr("--scheduler %q is no IPVS scheduler (one of %s)", o.Scheduler, strings.Join(nodescripts.IPVSSchedulers, ", "))
	}
	nodes, err := o.resolve(ctx, o.client)
	if err != nil {
		return err
	}
	if o.Apply {
		if err := o.confirmChange(ctx, "Load and persist ip_vs, ip_vs_"+o.Scheduler+" and nf_conntrack", len(nodes)); err != nil {
			return err
		}
	}
	runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
	defer o.onInterrupt(ctx, runner)()
	env := nodescripts.ModulesEnv(o.Scheduler, o.Apply)
	res := map[string]*nodescripts.ModulesResult{}
	var mu sync.Mutex
	results := runner.Run(ctx, "ipvs-modules", nodes, func(ctx context.Context, s *nodeexec.Session) error {
		argv, err := nodescripts.Command(nodescripts.IPVSModules, s.HostRoot(), env)
		if err != nil {
			return err
		}
		out, execErr := s.Exec(ctx, argv)
		r, perr := nodescripts.ParseModules(out)
		if perr == nil {
			mu.Lock()
			res[s.Node] = r
			mu.Unlock()
		}
		if execErr != nil && len(r.Failed) == 0 {
			return execErr
		}
		return perr
	})
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tMODULE\tLOADED\tAVAILABLE\tPERSISTED\tACTION")
	missing := 0
	absent := map[string][]string{} // node -> modules the kernel cannot load
	for _, n := range nodes {
		r := res[n]
		if r == nil {
			continue
		}
		for _, m := range r.Modules {
			unloadable := !m.Loaded && !m.Available
			if unloadable {
				absent[n] = append(absent[n], m.Name)
			}
			action := "-"
			switch {
			case r.Failed[m.Name] != "":
				action = "load failed: " + r.Failed[m.Name]
			case contains(r.Loaded, m.Name) && contains(r.Persisted, m.Name):
				action = "loaded, persisted"
			case contains(r.Loaded, m.Name):
				action = "loaded"
			case contains(r.Persisted, m.Name):
				action = "persisted"
			case !unloadable && (!m.Loaded || !m.Persisted):
				missing++
			}
			persisted := yesNo(m.Persisted)
			if m.Builtin {
				persisted = "built-in"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", n, m.Name, yesNo(m.Loaded), yesNo(m.Available), persisted, action)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(absent) > 0 {
		var lines []string
		for _, n := range nodes {
			if a := absent[n]; len(a) > 0 {
				lines = append(lines, fmt.Sprintf("  %s: %s", n, strings.Join(a, ", ")))
			}
		}
		fmt.Fprintf(o.Out, "%d nodes have kernels without these modules (neither loaded nor available to modprobe):\n%s\n"+
			"kube-proxy cannot run in IPVS mode there (it logs \"can't use the IPVS proxier\"); --apply cannot add them: use an OS image with IPVS, or mode iptables\n",
			len(lines), strings.Join(lines, "\n"))
	}
	if missing > 0 && !o.Apply {
		fmt.Fprintf(o.Out, "%d modules not loaded or not persisted; to fix: kubectl acknet ipvs modules --scheduler %s <nodes> --apply\n", missing, o.Scheduler)
	}
	failed := 0
	for _, r := range res {
		failed += len(r.Failed)
	}
	if err := nodeFailures(results); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d modules could not be loaded; nothing was persisted on those nodes", failed)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// IPVSTimeoutOptions are the options of `kubectl acknet ipvs timeout`.
type IPVSTimeoutOptions struct {
	nodeAction
	Set string

	timeouts *nodescripts.Timeouts
}

func newIPVSTimeoutCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &IPVSTimeoutOptions{nodeAction: nodeAction{nodeCommand: nodeCommand{IOStreams: streams, Global: g}}}
	cmd := &cobra.Command{
		Use:   "timeout",
		Short: "Show, and with --set change, the IPVS timeouts of nodes (node.ipvs-timeouts)",
		Long: `timeout shows the IPVS tcp, tcpfin and udp timeouts of each node (ipvsadm -L
--timeout). With --set TCP,TCPFIN,UDP it changes them (ipvsadm --set) and shows
old and new.

Where the UDP timeout is set: ` + checks.UDPTimeoutRule + `.
For the clusters before 1.18 the FAQ's value is 900,120,10; the setting does
not survive a node reboot, so set it again on new or rebooted nodes. On 1.18 and
later use kubectl acknet fix kubeproxy.ipvs-udp-timeout instead: kube-proxy
then keeps the timeout itself.

A node without ipvsadm fails with the FAQ's step: yum install -y ipvsadm.`,
		Example: `  kubectl acknet ipvs timeout --all-nodes
  kubectl acknet ipvs timeout --set 900,120,10 -l kubernetes.io/os=linux --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.parseSet(); err != nil {
				return err
			}
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.Set, "set", "", "New timeouts in seconds: TCP,TCPFIN,UDP (0 leaves one unchanged)")
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "With --set: do not ask for confirmation")
	return cmd
}

func (o *IPVSTimeoutOptions) parseSet() error {
	if o.Set == "" {
		return nil
	}
	parts := strings.Split(o.Set, ",")
	if len(parts) != 3 {
		return usageErr("--set takes TCP,TCPFIN,UDP, got %q", o.Set)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 || n > 7*24*3600 {
			return usageErr("--set: %q is not a number of seconds between 0 and 604800", p)
		}
		v[i] = n
	}
	o.timeouts = &nodescripts.Timeouts{TCP: v[0], TCPFin: v[1], UDP: v[2]}
	return nil
}

// Run shows or sets the timeouts on every node.
func (o *IPVSTimeoutOptions) Run(ctx context.Context) error {
	nodes, err := o.resolve(ctx, o.client)
	if err != nil {
		return err
	}
	env := map[string]string{}
	if o.timeouts != nil {
		if err := o.confirmChange(ctx, "Set IPVS timeouts to "+o.timeouts.String(), len(nodes)); err != nil {
			return err
		}
		env["TCP"], env["TCPFIN"], env["UDP"] = strconv.Itoa(o.timeouts.TCP), strconv.Itoa(o.timeouts.TCPFin), strconv.Itoa(o.timeouts.UDP)
	}
	runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
	defer o.onInterrupt(ctx, runner)()
	var res map[string]*nodescripts.TimeoutsResult
	var results []nodeexec.Result
	if o.timeouts == nil {
		res, results = readScript(ctx, runner, "ipvs-timeout", nodes, nodescripts.IPVSTimeout, env, nil, nodescripts.ParseTimeouts)
	} else {
		res, results = collect(ctx, runner, "ipvs-timeout", nodes, func(ctx context.Context, s *nodeexec.Session) (*nodescripts.TimeoutsResult, error) {
			return runScript(ctx, s, nodescripts.IPVSTimeout, s.HostRoot(), env, nil, nodescripts.ParseTimeouts)
		})
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	if o.timeouts == nil {
		fmt.Fprintln(w, "NODE\tTCP\tTCPFIN\tUDP")
	} else {
		fmt.Fprintln(w, "NODE\tOLD (TCP TCPFIN UDP)\tNEW (TCP TCPFIN UDP)")
	}
	sorted := append([]string{}, nodes...)
	sort.Strings(sorted)
	for _, n := range sorted {
		r := res[n]
		switch {
		case r == nil:
		case r.Current != nil:
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", n, r.Current.TCP, r.Current.TCPFin, r.Current.UDP)
		case r.Old != nil && r.New != nil:
			fmt.Fprintf(w, "%s\t%s\t%s\n", n, r.Old, r.New)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return nodeFailures(results)
}
