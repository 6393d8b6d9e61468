package plugin

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/flannelgc"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

func newFlannelCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flannel",
		Short: "Flannel node actions",
	}
	cmd.AddCommand(newFlannelGCCmd(streams, g), newFlannelTmpfsCmd(streams, g))
	return cmd
}

const flannelGCExample = `  # Show which pod IPs of a node are leaked (dry run: nothing changes)
  kubectl acknet flannel gc --node cn-hangzhou.192.168.0.10

  # Move the leaked IPAM files of every node aside, without asking
  kubectl acknet flannel gc --all-nodes --apply --yes`

// FlannelGCOptions are the options of `kubectl acknet flannel gc`.
type FlannelGCOptions struct {
	nodeCommand
	Apply       bool
	Yes         bool
	MinAge      time.Duration
	LockTimeout time.Duration
	Cordon      bool

	network  string
	ipamDirs []string
	now      func() time.Time
}

func newFlannelGCCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &FlannelGCOptions{nodeCommand: nodeCommand{IOStreams: streams, Global: g}, now: time.Now}
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Find, and with --apply release, pod IPs that Flannel's host-local IPAM leaked",
		Long: `gc looks at the host-local IPAM files of the Flannel network (cb0) on each node,
under /var/lib/cni/networks and /var/run/cni/networks, and calls an IP leaked
only when all of these hold:
  - its container is no sandbox the runtime (crictl or docker) knows, in any state;
  - no pod on the node that has not finished holds the IP;
  - the file is older than --min-age (containerd reserves an IP before it
    lists the sandbox).
It refuses a node whose runtime listing failed, or came back empty while the
node has allocations or pods.

Without --apply nothing changes. With --apply (after a confirmation, or with
--yes) each node is scanned again in a fresh debug pod, and only what both
scans call leaked is released: under the IPAM lock that host-local itself
takes (waiting at most --lock-timeout), each file is read again and moved only
if it still names the same container, into a backup directory outside the
network directory; the output says how to restore it.

The FAQ cordons a node for its cleanup so that no pod starts meanwhile. gc
does not need that: it takes the same lock as host-local, so no IP is handed
out while it moves files, it re-reads each file under that lock, and a file
younger than --min-age is never released. --cordon does it the FAQ's way
anyway: each node is cordoned for its apply and uncordoned after (also on
Ctrl-C); a node that was cordoned already stays so. With --cordon gc works on
one node at a time.`,
		Example: flannelGCExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&o.Apply, "apply", false, "Move the leaked files aside (default: dry run)")
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "With --apply: do not ask for confirmation")
	cmd.Flags().DurationVar(&o.MinAge, "min-age", checks.LeakMinAge, "Never release an allocation younger than this")
	cmd.Flags().DurationVar(&o.LockTimeout, "lock-timeout", 30*time.Second, "With --apply: how long to wait for the IPAM lock held by CNI; then move nothing on that node")
	cmd.Flags().BoolVar(&o.Cordon, "cordon", false, "With --apply: cordon each node while its files move, as the FAQ does (not needed: see above)")
	return cmd
}

// readScanTargets reads the Flannel network name and IPAM dirs from the
// cluster and refuses what the node script cannot take.
func readScanTargets(ctx context.Context, cs kubernetes.Interface, what string) (*ackconf.FlannelCNI, string, []string, error) {
	cni, err := readFlannelCNI(ctx, cs, what)
	if err != nil {
		return nil, "", nil, err
	}
	network, dirs := cni.ScanTargets()
	if !nodescripts.ValidNetworkName(network) {
		return nil, "", nil, fmt.Errorf("kube-system/%s: the Flannel network name %q is not a plain name", cluster.CMFlannel, network)
	}
	for _, d := range dirs {
		if !nodescripts.ValidIPAMDir(d) {
			return nil, "", nil, fmt.Errorf("kube-system/%s: IPAM data dir %q must be a clean absolute path without blanks", cluster.CMFlannel, d)
		}
	}
	return cni, network, dirs, nil
}

// readFlannelCNI reads and parses cni-conf.json of kube-flannel-cfg; what
// names the command for the error on a cluster without Flannel.
func readFlannelCNI(ctx context.Context, cs kubernetes.Interface, what string) (*ackconf.FlannelCNI, error) {
	cm, err := cs.CoreV1().ConfigMaps(cluster.SystemNamespace).Get(ctx, cluster.CMFlannel, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("kube-system/%s not found: %s is for Flannel clusters", cluster.CMFlannel, what)
	}
	if err != nil {
		return nil, fmt.Errorf("read kube-system/%s: %w", cluster.CMFlannel, err)
	}
	cni, err := ackconf.ParseFlannelCNI(cm.Data[ackconf.KeyFlannelCNIConf])
	if err != nil {
		return nil, fmt.Errorf("kube-system/%s: %w", cluster.CMFlannel, err)
	}
	return cni, nil
}

// Validate checks the flags.
func (o *FlannelGCOptions) Validate() error {
	if o.MinAge < 0 {
		return usageErr("--min-age must not be negative")
	}
	if o.Cordon && !o.Apply {
		return usageErr("--cordon only goes with --apply: a dry run changes nothing")
	}
	if o.LockTimeout < time.Second || o.LockTimeout > 10*time.Minute {
		return usageErr("--lock-timeout must be between 1s and 10m")
	}
	// The wait for the lock happens inside the node's time limit.
	if o.Apply && o.LockTimeout >= o.Timeout {
		return usageErr("--lock-timeout (%s) must be shorter than --node-timeout (%s)", o.LockTimeout, o.Timeout)
	}
	if o.Apply && !o.Yes && !interactive(o.IOStreams) {
		return usageErr("--apply asks for confirmation: not run on a terminal, so pass --yes to confirm")
	}
	return nil
}

// nodePlan is one node's scan, decision and, with --apply, what moved.
type nodePlan struct {
	plan     flannelgc.Plan
	now      time.Time
	runtime  flannelgc.Runtime
	moved    []nodescripts.ApplyRecord
	restores []string
}

// Run scans, decides, prints and, with --apply, moves files. Files move only
// after a second scan, in a fresh debug pod, calls them leaked again: with
// --yes as well as after the prompt.
func (o *FlannelGCOptions) Run(ctx context.Context) error {
	var err error
	if _, o.network, o.ipamDirs, err = readScanTargets(ctx, o.client, "flannel gc"); err != nil {
		return err
	}
	nodes, err := o.resolve(ctx, o.client)
	if err != nil {
		return err
	}
	pods, err := podsOnNodes(ctx, o.client, nodes)
	if err != nil {
		return err
	}
	if o.Cordon {
		// The FAQ cordons one node at a time; never a whole small cluster.
		o.Concurrency = 1
	}
	runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
	cordoned := &cordonSet{}
	msg := "interrupted: deleting the debug pods"
	if o.Cordon {
		msg += ", uncordoning the node"
	}
	defer onInterrupt(ctx, msg, func() []string {
		return append(runner.Leftovers(), cordoned.leftovers()...)
	})()

	plans := map[string]*nodePlan{}
	var mu sync.Mutex
	results := runner.Run(ctx, "flannel-gc", nodes, func(ctx context.Context, s *nodeexec.Session) error {
		np, err := o.scanAndDecide(ctx, s, pods[s.Node], nil)
		if err != nil {
			return err
		}
		mu.Lock()
		plans[s.Node] = np
		mu.Unlock()
		return nil
	})
	// With --apply --yes the second scan's table is the one that counts;
	// refusals of the first are shown either way.
	o.printPlans(nodes, plans, false, o.Apply && o.Yes)

	if o.Apply && ctx.Err() == nil {
		confirmed := map[string]*nodePlan{}
		var targets []string
		for _, n := range nodes {
			if np := plans[n]; np != nil && np.plan.Refused == "" && len(np.plan.Leaked) > 0 {
				confirmed[n] = np
				targets = append(targets, n)
			}
		}
		switch {
		case len(targets) == 0:
			fmt.Fprintln(o.Out, "nothing to release on the nodes scanned")
		case o.Yes || askYes(ctx, o.IOStreams, fmt.Sprintf("Move the leaked files of %d nodes aside? [y/N] ", len(targets))):
			applied := map[string]*nodePlan{}
			second := runner.Run(ctx, "flannel-gc", targets, func(ctx context.Context, s *nodeexec.Session) error {
				if o.Cordon {
					uncordon, err := cordonNode(ctx, o.client, s.Node, o.ErrOut, cordoned)
					defer uncordon()
					if err != nil {
						return err
					}
				}
				np, err := o.scanAndDecide(ctx, s, pods[s.Node], confirmed[s.Node])
				if err != nil {
					return err
				}
				if np.plan.Refused == "" {
					if err := o.apply(ctx, s, np); err != nil {
						return err
					}
				}
				mu.Lock()
				applied[s.Node] = np
				mu.Unlock()
				return nil
			})
			o.printPlans(targets, applied, true, false)
			for n, np := range applied {
				plans[n] = np
			}
			results = mergeResults(results, second)
		default:
			fmt.Fprintln(o.Out, "not confirmed; nothing changed")
		}
	}
	if err := nodeFailures(results); err != nil {
		return err
	}
	for _, n := range nodes {
		if np := plans[n]; np != nil && np.plan.Refused != "" {
			return fmt.Errorf("refused on node %s: %s", np.plan.Node, np.plan.Refused)
		}
	}
	return nil
}

// cordonSet holds the nodes gc cordoned and has not uncordoned yet, to name
// them if a second interrupt ends the process at once.
type cordonSet struct {
	mu    sync.Mutex
	nodes map[string]bool
}

func (c *cordonSet) set(node string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes == nil {
		c.nodes = map[string]bool{}
	}
	if on {
		c.nodes[node] = true
	} else {
		delete(c.nodes, node)
	}
}

func (c *cordonSet) leftovers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for n := range c.nodes {
		out = append(out, "node "+n+" cordoned (kubectl uncordon "+n+")")
	}
	sort.Strings(out)
	return out
}

// cordonNode marks a node unschedulable and returns what undoes it, also
// when the cordon failed half way (a cancelled call may have landed); a node
// that was cordoned already is left as it is, now and after.
func cordonNode(ctx context.Context, cs kubernetes.Interface, node string, log io.Writer, held *cordonSet) (func(), error) {
	n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return func() {}, fmt.Errorf("cordon %s: %w", node, err)
	}
	if n.Spec.Unschedulable {
		fmt.Fprintf(log, "node %s was cordoned already; it stays so\n", node)
		return func() {}, nil
	}
	set := func(ctx context.Context, on bool) error {
		patch := []byte(`{"spec":{"unschedulable":` + strconv.FormatBool(on) + `}}`)
		_, err := cs.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}
	held.set(node, true)
	undo := func() {
		// Also after Ctrl-C: the run's context is gone, so take a fresh one.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := set(ctx, false); err != nil {
			fmt.Fprintf(log, "WARNING: could not uncordon %s: %v; run: kubectl uncordon %s\n", node, err, node)
			return
		}
		held.set(node, false)
		fmt.Fprintf(log, "node %s uncordoned\n", node)
	}
	if err := set(ctx, true); err != nil {
		return undo, fmt.Errorf("cordon %s: %w", node, err)
	}
	fmt.Fprintf(log, "node %s cordoned for the cleanup\n", node)
	return undo, nil
}

// mergeResults replaces the first run's result of each node that ran again.
func mergeResults(first, second []nodeexec.Result) []nodeexec.Result {
	again := map[string]nodeexec.Result{}
	for _, r := range second {
		again[r.Node] = r
	}
	out := make([]nodeexec.Result, len(first))
	for i, r := range first {
		if r2, ok := again[r.Node]; ok {
			r = r2
		}
		out[i] = r
	}
	return out
}

// scanAndDecide runs the scan script and decides. With only set, leaked
// allocations are limited to those also leaked in that earlier plan.
func (o *FlannelGCOptions) scanAndDecide(ctx context.Context, s *nodeexec.Session, pods []flannelgc.Pod, only *nodePlan) (*nodePlan, error) {
	argv, err := nodescripts.Command(nodescripts.FlannelScan, s.HostRoot(), map[string]string{
		"NETWORK": o.network, "IPAM_DIRS": strings.Join(o.ipamDirs, " "),
	})
	if err != nil {
		return nil, err
	}
	out, err := s.Exec(ctx, argv)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	scan, err := nodescripts.ParseScan(out)
	if err != nil {
		return nil, fmt.Errorf("scan output: %w", err)
	}
	plan := flannelgc.Decide(flannelgc.Input{
		Node: s.Node, Allocations: scan.Allocations, Runtime: scan.Runtime, Pods: pods, Now: scan.Now, MinAge: o.MinAge,
	})
	if only != nil {
		prev := map[string]string{}
		for _, a := range only.plan.Leaked {
			prev[a.Dir+"/"+a.IP.String()] = a.ContainerID
		}
		var leaked []flannelgc.Allocation
		for _, a := range plan.Leaked {
			if prev[a.Dir+"/"+a.IP.String()] == a.ContainerID {
				leaked = append(leaked, a)
			} else {
				plan.Kept = append(plan.Kept, flannelgc.Kept{Allocation: a, Reason: "not in the confirmed plan"})
			}
		}
		plan.Leaked = leaked
	}
	return &nodePlan{plan: plan, now: scan.Now, runtime: scan.Runtime}, nil
}

// apply moves the leaked files, one exec per IPAM directory.
func (o *FlannelGCOptions) apply(ctx context.Context, s *nodeexec.Session, np *nodePlan) error {
	byDir := map[string][]string{}
	for _, a := range np.plan.Leaked {
		byDir[a.Dir] = append(byDir[a.Dir], a.IP.String(), a.ContainerID)
	}
	stamp := o.now().UTC().Format("20060102T150405Z")
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		// <datadir>/<net> -> <datadir>/../acknet-backup/<net>-<time>: beside
		// the networks directory, never inside it.
		backup := path.Join(path.Dir(path.Dir(dir)), "acknet-backup", path.Base(dir)+"-"+stamp)
		argv, err := nodescripts.Command(nodescripts.FlannelGCApply, s.HostRoot(), map[string]string{
			"NETWORK_DIR": dir, "BACKUP_DIR": backup,
			"LOCK_TIMEOUT": strconv.Itoa(int(o.LockTimeout / time.Second)),
		}, byDir[dir]...)
		if err != nil {
			return err
		}
		out, err := s.Exec(ctx, argv)
		recs, perr := nodescripts.ParseApply(out)
		np.moved = append(np.moved, recs...)
		np.restores = append(np.restores, fmt.Sprintf("mv %s/* %s/", backup, dir))
		if err != nil {
			return fmt.Errorf("apply in %s: %w", dir, err)
		}
		if perr != nil {
			return fmt.Errorf("apply output: %w", perr)
		}
	}
	return nil
}

// printPlans prints each node's plan; with onlyRefused only the refusals.
func (o *FlannelGCOptions) printPlans(nodes []string, plans map[string]*nodePlan, applied, onlyRefused bool) {
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	leakedTotal := 0
	for _, n := range nodes {
		np := plans[n]
		if np == nil {
			continue
		}
		p := np.plan
		if p.Refused != "" {
			fmt.Fprintf(w, "node %s: REFUSED: %s\n\n", n, p.Refused)
			continue
		}
		if onlyRefused {
			continue
		}
		mode := "dry run"
		if applied {
			mode = "applied after a second scan"
		}
		fmt.Fprintf(w, "node %s: %s, %d leaked (%s); the runtime (%s) lists %s\n",
			n, checks.Count(len(p.Leaked)+len(p.Kept), "allocation"), len(p.Leaked), mode, np.runtime.Name, checks.Count(len(np.runtime.Sandboxes), "sandbox"))
		if len(p.Leaked)+len(p.Kept) == 0 {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintln(w, "  IP\tCONTAINER\tAGE\tDECISION")
		moved := map[string]string{}
		for _, r := range np.moved {
			if r.Moved {
				moved[r.IP] = "moved to " + r.Detail
			} else {
				moved[r.IP] = "kept at apply: " + r.Detail
			}
		}
		for _, a := range p.Leaked {
			decision := "leaked"
			if m := moved[a.IP.String()]; m != "" {
				decision = m
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", a.IP, short(a.ContainerID), age(np.now, a.ModTime), decision)
		}
		for _, k := range p.Kept {
			fmt.Fprintf(w, "  %s\t%s\t%s\tkept: %s\n", k.IP, short(k.ContainerID), age(np.now, k.ModTime), k.Reason)
		}
		for _, r := range np.restores {
			fmt.Fprintf(w, "  to restore, on the node: %s\n", r)
		}
		fmt.Fprintln(w)
		leakedTotal += len(p.Leaked)
	}
	_ = w.Flush()
	if !applied && !onlyRefused && leakedTotal > 0 {
		fmt.Fprintf(o.Out, "%s; nothing was changed. To release them: add --apply (and --yes when not on a terminal)\n", checks.Count(leakedTotal, "leaked IP"))
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	if id == "" {
		return "-"
	}
	return id
}

func age(now, t time.Time) string {
	if t.IsZero() || t.Unix() == 0 {
		return "?"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// podsOnNodes lists the pods that have not finished on each node, with
// their IPs. Few nodes: one field-selected LIST each; many: one paged LIST
// of every pod, which is cheaper than a request per node.
func podsOnNodes(ctx context.Context, cs kubernetes.Interface, nodes []string) (map[string][]flannelgc.Pod, error) {
	want := map[string]bool{}
	for _, n := range nodes {
		want[n] = true
	}
	out := map[string][]flannelgc.Pod{}
	add := func(p *corev1.Pod) {
		if !want[p.Spec.NodeName] || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return
		}
		fp := flannelgc.Pod{Namespace: p.Namespace, Name: p.Name}
		for _, ip := range p.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil {
				fp.IPs = append(fp.IPs, a)
			}
		}
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], fp)
	}
	// reset forgets what a listing that must start over had added.
	list := func(selector string, reset func()) error {
		err := cluster.ListPaged(ctx, cluster.DefaultChunkSize, metav1.ListOptions{FieldSelector: selector}, func(opts metav1.ListOptions) (string, error) {
			l, err := cs.CoreV1().Pods("").List(ctx, opts)
			if err != nil {
				return "", err
			}
			for i := range l.Items {
				add(&l.Items[i])
			}
			return l.Continue, nil
		}, reset)
		if err != nil {
			return fmt.Errorf("list pods: %w", err)
		}
		return nil
	}
	const perNodeLimit = 50
	if len(nodes) > perNodeLimit {
		return out, list("", func() { clear(out) })
	}
	for _, n := range nodes {
		if err := list("spec.nodeName="+n, func() { delete(out, n) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}
