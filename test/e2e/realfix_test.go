//go:build e2e

package e2e

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// applyFix runs `fix ID --apply --yes --restart` and returns the backup's
// name; the rollback (with a restart) runs when the test ends.
func applyFix(t *testing.T, id string) {
	t.Helper()
	r := acknet(t, "fix", id, "--apply", "--yes", "--restart")
	m := backupRe.FindStringSubmatch(r.stdout + r.stderr)
	if r.code != 0 || m == nil {
		t.Fatalf("fix %s: exit %d\n%s%s", id, r.code, r.stdout, r.stderr)
	}
	dropBackups(t) // after the rollback below, which keeps one of its own
	t.Cleanup(func() {
		rb := acknet(t, "fix", "--rollback", m[1], "--yes", "--restart")
		if rb.code != 0 {
			t.Errorf("rollback %s: exit %d\n%s%s", m[1], rb.code, rb.stdout, rb.stderr)
		}
	})
}

// The Flannel fixes reach new pods on a real node: the Flannel pods install
// the new cni-conf.json, and the flannel CNI plugin builds each new pod's
// network from it. (fix flannel.hairpin: TestRealConnectivityHairpin.)
func TestRealFlannelFixesReachNewPods(t *testing.T) {
	useRealRig(t)
	t.Run("flannel.ipam-datadir: new pods keep IPAM state on tmpfs, and may get a held IP", func(t *testing.T) {
		ns := testNamespace(t, "tmpfs")
		// A pod from before the change: its IP is recorded on disk.
		createPod(t, webPod(ns, "old", nodeName(0)))
		held := podIP(t, ns, "old", "")
		applyFix(t, "flannel.ipam-datadir")
		conf, err := os.ReadFile(filepath.Join(nodeRoot(0), "etc/cni/net.d/10-flannel.conflist"))
		if err != nil || !strings.Contains(string(conf), "/var/run/cni/networks") {
			t.Fatalf("the node's CNI config after the fix: %v\n%s", err, conf)
		}
		// host-local on tmpfs starts from an empty directory and does not
		// read the old one. Where it starts is its own last_reserved_ip
		// file; set so that its next IP is the one the old pod holds, the
		// hazard happens now rather than after some pods.
		prev := netip.MustParseAddr(held).Prev()
		if out, err := onNode(t, 0, "sh", "-c", `mkdir -p /var/run/cni/networks/cb0 && printf %s "$1" > /var/run/cni/networks/cb0/last_reserved_ip.0`, "sh", prev.String()); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		createPod(t, webPod(ns, "web", nodeName(0)))
		ip := podIP(t, ns, "web", "")
		// /var/run is the node's tmpfs /run (mounted inside the node, so read
		// there): the file is gone after a reboot.
		if out, err := onNode(t, 0, "cat", "/var/run/cni/networks/cb0/"+ip); err != nil {
			t.Errorf("the new pod's IPAM file is not under /var/run/cni/networks/cb0: %v %s", err, out)
		}
		if ip != held {
			t.Fatalf("the new pod got %s; host-local on tmpfs was to hand out %s, which pod old still holds", ip, held)
		}
		r := parseReport(t, acknet(t, "doctor", "--node-checks", "--node", nodeName(0), "--checks", "node.flannel-ipam-tmpfs", "-o", "json"))
		if r.status("node.flannel-ipam-tmpfs") != "warn" || !strings.Contains(findingMessages(r, "node.flannel-ipam-tmpfs"), "allocated twice") ||
			!strings.Contains(findingMessages(r, "node.flannel-ipam-tmpfs"), held) {
			t.Errorf("node.flannel-ipam-tmpfs %s: %s", r.status("node.flannel-ipam-tmpfs"), findingMessages(r, "node.flannel-ipam-tmpfs"))
		}
		tm := acknet(t, "flannel", "tmpfs", "--node", nodeName(0))
		if tm.code != 0 || !strings.Contains(tm.stdout, "IPs allocated twice (two pods share each; drain this node first): "+held) {
			t.Errorf("flannel tmpfs: exit %d\n%s%s", tm.code, tm.stdout, tm.stderr)
		}
	})
}

// The FAQ's move of IPAM state to tmpfs, done on a real node the way the
// FAQ says, with flannel tmpfs checking each step: the cluster's part
// first (Flannel version, kube-flannel-cfg), then per node (drain, remove
// /etc/cni and /var/lib/cni, reboot).
func TestRealFlannelTmpfsMigration(t *testing.T) {
	useRealRig(t)
	cs := adminClient(t)
	ctx := context.Background()
	ns := testNamespace(t, "migrate")
	// A pod on node 1 from before: its allocation is on disk.
	createPod(t, webPod(ns, "before", nodeName(1)))
	podIP(t, ns, "before", "")

	before := acknet(t, "flannel", "tmpfs", "--all-nodes")
	if before.code != 0 || !strings.Contains(before.stdout, "first, cluster-wide: upgrade the Flannel add-on (ACK console, add-ons) from v0.15.1.5-7a1c2f0e-aliyun") ||
		!strings.Contains(before.stdout, "kubectl acknet fix flannel.ipam-datadir --apply --restart") ||
		!strings.Contains(before.stdout, "Do the cluster-wide steps above first") || strings.Contains(before.stdout, "Next node:") {
		t.Fatalf("before: exit %d\n%s%s", before.code, before.stdout, before.stderr)
	}

	// "Upgrade" Flannel: the rig's image under a tag from after the fix.
	const oldImage = "registry-cn-hangzhou.ack.aliyuncs.com/acs/flannel:v0.15.1.5-7a1c2f0e-aliyun"
	const newImage = "registry-cn-hangzhou.ack.aliyuncs.com/acs/flannel:v0.15.1.22-20a397e6-aliyun"
	for i := 0; i < realNodes; i++ {
		if out, err := onNode(t, i, "ctr", "-n", "k8s.io", "images", "tag", "--force", oldImage, newImage); err != nil {
			t.Fatalf("tag the image on node %d: %v %s", i, err, out)
		}
	}
	setImage := func(image string) {
		ds, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-flannel-ds", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range ds.Spec.Template.Spec.InitContainers {
			ds.Spec.Template.Spec.InitContainers[i].Image = image
		}
		for i := range ds.Spec.Template.Spec.Containers {
			ds.Spec.Template.Spec.Containers[i].Image = image
		}
		if _, err := cs.AppsV1().DaemonSets("kube-system").Update(ctx, ds, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		restartFlannel(t)
	}
	setImage(newImage)
	t.Cleanup(func() { setImage(oldImage) })
	applyFix(t, "flannel.ipam-datadir")

	mid := acknet(t, "flannel", "tmpfs", "--all-nodes")
	n1 := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(nodeName(1)) + `\s+on disk\s+.*/var/lib/cni/networks/cb0 still holds \d+ allocation`)
	if mid.code != 0 || strings.Contains(mid.stdout, "first, cluster-wide") || !n1.MatchString(mid.stdout) || !strings.Contains(mid.stdout, "Next node: ") ||
		!strings.Contains(mid.stdout, "rm -rf /etc/cni/ /var/lib/cni/") {
		t.Fatalf("after the cluster's part: exit %d\n%s%s", mid.code, mid.stdout, mid.stderr)
	}
	t.Logf("flannel tmpfs after the cluster's part:\n%s", mid.stdout)

	// The node's part, for node 1, as printed: drain, remove, reboot.
	cordon := func(on bool) {
		b := []byte(`{"spec":{"unschedulable":` + strconv.FormatBool(on) + `}}`)
		if _, err := cs.CoreV1().Nodes().Patch(ctx, nodeName(1), types.StrategicMergePatchType, b, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cordon(true)
	t.Cleanup(func() { cordon(false) })
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "before", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	nodeSh(t, "stop", "1")
	for _, d := range []string{"etc/cni", "var/lib/cni"} {
		if err := os.RemoveAll(filepath.Join(nodeRoot(1), d)); err != nil {
			t.Fatal(err)
		}
	}
	nodeSh(t, "start", "1")
	agentPods(t, "app=flannel", "Ready after the reboot", ready)
	// Ready can still be the status of the pod from before the reboot: wait
	// until the new one has written the CNI config the check reads.
	conf := filepath.Join(nodeRoot(1), "etc/cni/net.d/10-flannel.conflist")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if _, err := os.Stat(conf); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s a minute after the reboot", conf)
		}
	}

	after := acknet(t, "flannel", "tmpfs", "--node", nodeName(1))
	done := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(nodeName(1)) + `\s+tmpfs\s*$`)
	if after.code != 0 || !done.MatchString(after.stdout) || !strings.Contains(after.stdout, "1 of 1 nodes keep IPAM state on tmpfs only") {
		t.Errorf("after the reboot: exit %d\n%s%s", after.code, after.stdout, after.stderr)
	}
	r := parseReport(t, acknet(t, "doctor", "--node-checks", "--node", nodeName(1), "--checks", "node.flannel-ipam-tmpfs", "-o", "json"))
	if !strings.Contains(r.summary("node.flannel-ipam-tmpfs"), "1 of 1 nodes keep IPAM state on tmpfs only") || len(r.findingObjects("node.flannel-ipam-tmpfs")) != 0 {
		t.Errorf("node.flannel-ipam-tmpfs: %s %v", r.summary("node.flannel-ipam-tmpfs"), r.findingObjects("node.flannel-ipam-tmpfs"))
	}
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

// restartFlannel replaces the Flannel pods and waits until each node has a
// Ready one again, so the node's CNI config is what the ConfigMap says.
func restartFlannel(t *testing.T) {
	t.Helper()
	cs := adminClient(t)
	ctx := context.Background()
	if err := cs.CoreV1().Pods("kube-system").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=flannel"}); err != nil {
		t.Fatal(err)
	}
	agentPods(t, "app=flannel", "Ready again", ready)
}
