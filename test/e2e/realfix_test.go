//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	t.Run("flannel.ipam-datadir: new pods keep IPAM state on tmpfs", func(t *testing.T) {
		ns := testNamespace(t, "tmpfs")
		applyFix(t, "flannel.ipam-datadir")
		conf, err := os.ReadFile(filepath.Join(nodeRoot(0), "etc/cni/net.d/10-flannel.conflist"))
		if err != nil || !strings.Contains(string(conf), "/var/run/cni/networks") {
			t.Fatalf("the node's CNI config after the fix: %v\n%s", err, conf)
		}
		createPod(t, webPod(ns, "web", nodeName(0)))
		ip := podIP(t, ns, "web", "")
		// /var/run is the node's tmpfs /run (mounted inside the node, so read
		// there): the file is gone after a reboot.
		if out, err := onNode(t, 0, "cat", "/var/run/cni/networks/cb0/"+ip); err != nil {
			t.Errorf("the new pod's IPAM file is not under /var/run/cni/networks/cb0: %v %s", err, out)
		}
		if _, err := os.Stat(filepath.Join(nodeRoot(0), cb0, ip)); err == nil {
			t.Error("the new pod's IPAM file is still under /var/lib/cni/networks/cb0")
		}
		r := parseReport(t, acknet(t, "doctor", "--node-checks", "--node", nodeName(0), "--checks", "node.flannel-ipam-tmpfs", "-o", "json"))
		if !strings.Contains(r.summary("node.flannel-ipam-tmpfs"), "1 of 1 node keep IPAM state under /var/run") {
			t.Errorf("node.flannel-ipam-tmpfs: %s", r.summary("node.flannel-ipam-tmpfs"))
		}
	})
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
