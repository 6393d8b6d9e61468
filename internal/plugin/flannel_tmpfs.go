package plugin

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

const flannelTmpfsExample = `  # Where every node keeps its IPAM state, and the steps for the next node
  kubectl acknet flannel tmpfs --all-nodes

  # After the reboot: did it take on this node?
  kubectl acknet flannel tmpfs --node cn-hangzhou.192.168.0.10`

// FlannelTmpfsOptions are the options of `kubectl acknet flannel tmpfs`.
type FlannelTmpfsOptions struct {
	nodeCommand

	cni      *ackconf.FlannelCNI
	version  string
	network  string
	ipamDirs []string
}

func newFlannelTmpfsCmd(streams genericiooptions.IOStreams, g *GlobalOptions) *cobra.Command {
	o := &FlannelTmpfsOptions{nodeCommand: nodeCommand{IOStreams: streams, Global: g}}
	cmd := &cobra.Command{
		Use:   "tmpfs",
		Short: "Check, per node, that IPAM state moved to tmpfs, and print the FAQ's steps for the next node",
		Long: `Flannel v0.15.1.11-7e95fe23-aliyun and later keep IPAM state under /var/run,
which a reboot clears, so a reboot no longer leaks pod IPs. The FAQ moves a
cluster there in steps: upgrade Flannel, add dataDir and ipam.dataDir under
/var/run to kube-flannel-cfg (kubectl acknet fix flannel.ipam-datadir), restart
Flannel, then one node at a time: drain it, remove /etc/cni and /var/lib/cni,
reboot it, check it.

tmpfs checks the cluster's part, then reads on each node (in a debug pod; it
changes nothing) the CNI config the kubelet uses, the filesystem under the IPAM
dir and any allocations left on disk, and says per node whether the move took.
For the first node still on disk it prints exactly what to run. The tool never
drains, deletes or reboots anything itself: a reboot is the operator's call.`,
		Example: flannelTmpfsExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// Validate has nothing to check beyond the node flags (checked in Complete).
func (o *FlannelTmpfsOptions) Validate() error { return nil }

// readCluster reads Flannel's ConfigMap and version.
func (o *FlannelTmpfsOptions) readCluster(ctx context.Context) error {
	var err error
	if o.cni, o.network, o.ipamDirs, err = readScanTargets(ctx, o.client, "flannel tmpfs"); err != nil {
		return err
	}
	ds, err := o.client.AppsV1().DaemonSets(cluster.SystemNamespace).Get(ctx, "kube-flannel-ds", metav1.GetOptions{})
	switch {
	case err == nil:
		for _, c := range ds.Spec.Template.Spec.Containers {
			if strings.Contains(c.Image, "flannel") {
				o.version = ackconf.ImageTag(c.Image)
			}
		}
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read kube-system/kube-flannel-ds: %w", err)
	}
	return nil
}

// clusterReady says what must happen cluster-wide before any node moves.
func (o *FlannelTmpfsOptions) clusterReady() []string {
	var todo []string
	v, err := ackconf.ParseImageVersion(o.version)
	switch {
	case o.version == "" || err != nil:
		todo = append(todo, fmt.Sprintf("cannot tell the Flannel version (%q): it must be %s or later", o.version, checks.FlannelIPAMFixSince.Raw))
	case v.Less(checks.FlannelIPAMFixSince):
		todo = append(todo, fmt.Sprintf("upgrade the Flannel add-on (ACK console, add-ons) from %s to %s or later", o.version, checks.FlannelIPAMFixSince.Raw))
	}
	if !o.cni.OnTmpfs() {
		todo = append(todo, fmt.Sprintf("kube-flannel-cfg keeps state on disk (dataDir %s, ipam dataDir %s): kubectl acknet fix flannel.ipam-datadir --apply --restart",
			o.cni.EffectiveDataDir(), o.cni.EffectiveIPAMDataDir()))
	}
	return todo
}

// Run checks the cluster, scans the nodes and prints their state and the
// steps for the next one.
func (o *FlannelTmpfsOptions) Run(ctx context.Context) error {
	if err := o.readCluster(ctx); err != nil {
		return err
	}
	nodes, err := o.resolve(ctx, o.client)
	if err != nil {
		return err
	}
	todo := o.clusterReady()
	fmt.Fprintf(o.Out, "Flannel %s, kube-flannel-cfg: dataDir %s, ipam dataDir %s\n", orUnknownVersion(o.version), o.cni.EffectiveDataDir(), o.cni.EffectiveIPAMDataDir())
	for _, t := range todo {
		fmt.Fprintf(o.Out, "  first, cluster-wide: %s\n", t)
	}

	runner := o.runner(o.client, o.config, progressWriter(o.ErrOut))
	defer o.onInterrupt(ctx, runner)()
	env := map[string]string{"NETWORK": o.network, "IPAM_DIRS": strings.Join(o.ipamDirs, " ")}
	scans, results := readScript(ctx, runner, "flannel-tmpfs", nodes, nodescripts.FlannelScan, env, nil, nodescripts.ParseScan)

	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tIPAM STATE\tWHY")
	next, done := "", 0
	for _, n := range sortedUnique(nodes) {
		sc := scans[n]
		if sc == nil {
			continue
		}
		why := checks.IPAMNotOnTmpfs(sc)
		if dups := checks.DuplicateIPs(sc); len(dups) > 0 {
			why = append([]string{"IPs allocated twice (two pods share each; drain this node first): " + strings.Join(dups, ", ")}, why...)
		}
		if len(why) == 0 {
			done++
			fmt.Fprintf(w, "%s\ttmpfs\t\n", n)
			continue
		}
		if next == "" {
			next = n
		}
		fmt.Fprintf(w, "%s\ton disk\t%s\n", n, strings.Join(why, "; "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "%d of %d nodes keep IPAM state on tmpfs only\n", done, len(scans))
	switch {
	case next == "":
	case len(todo) > 0:
		fmt.Fprintln(o.Out, "Do the cluster-wide steps above first: a node rebooted before them comes back on disk.")
	default:
		fmt.Fprint(o.Out, nodeSteps(next))
	}
	return nodeFailures(results)
}

// nodeSteps are the FAQ's steps for one node, to run by hand.
func nodeSteps(node string) string {
	return fmt.Sprintf(`Next node: %[1]s. One node at a time; run these yourself (this tool changes nothing):
  kubectl drain %[1]s --ignore-daemonsets --delete-emptydir-data
  # on the node %[1]s, as root:
  rm -rf /etc/cni/ /var/lib/cni/
  reboot
  # once it is Ready again:
  kubectl acknet flannel tmpfs --node %[1]s      # expect: tmpfs
  kubectl uncordon %[1]s
`, node)
}

func orUnknownVersion(v string) string {
	if v == "" {
		return "(version unknown)"
	}
	return v
}
