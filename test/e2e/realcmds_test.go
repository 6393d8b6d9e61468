//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conntrack reads the node's own table: its count and max, per protocol.
func TestRealConntrack(t *testing.T) {
	useRealRig(t)
	counts := func() []int {
		var out []int
		for i := 0; i < realNodes; i++ {
			c, err := onNode(t, i, "cat", "/proc/sys/net/netfilter/nf_conntrack_count")
			if err != nil {
				t.Fatal(err)
			}
			n, _ := strconv.Atoi(strings.TrimSpace(c))
			out = append(out, n)
		}
		return out
	}
	countsBefore := counts()
	r := acknet(t, "conntrack", "--all-nodes")
	countsAfter := counts()
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i := 0; i < realNodes; i++ {
		maxOut, err := onNode(t, i, "cat", "/proc/sys/net/netfilter/nf_conntrack_max")
		if err != nil {
			t.Fatal(err)
		}
		var row []string
		for _, l := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(l); len(f) > 3 && f[0] == nodeName(i) {
				row = f
			}
		}
		// NODE STATUS COUNT MAX USAGE BUCKETS DNS (SHARE) PROTOCOLS TABLE-FULL
		if len(row) < 9 || row[1] != "pass" || row[3] != strings.TrimSpace(maxOut) || !regexp.MustCompile(`^\d+$`).MatchString(row[6]) || !strings.Contains(row[8], "tcp=") {
			t.Errorf("node %d: row %v, node max %q\n%s", i, row, maxOut, r.stdout)
			continue
		}
		// The table is the node's network namespace's: kube-proxy's, the
		// kubelet's and CoreDNS's connections, not the machine's. It moves
		// while the command runs (DNS entries come and go), so the count must lie
		// between what the node held before and after, give or take.
		lo, hi := min(countsBefore[i], countsAfter[i]), max(countsBefore[i], countsAfter[i])
		slack := max(50, hi/4)
		if got, _ := strconv.Atoi(row[2]); got < 1 || got > hi+slack || got < lo-slack {
			t.Errorf("node %d: count %s, the node's table held %d before and %d after", i, row[2], countsBefore[i], countsAfter[i])
		}
	}
	t.Logf("conntrack:\n%s", r.stdout)
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

// This kernel has no IPVS and no loadable modules: the commands say so, and
// change nothing on the node or on the machine.
func TestRealIPVSOnAKernelWithoutIPVS(t *testing.T) {
	useRealRig(t)
	machineModules := listDir(t, "/etc/modules-load.d")

	check := acknet(t, "ipvs", "modules", "--all-nodes")
	if check.code != 0 || !strings.Contains(check.stdout, "2 nodes have kernels without these modules") ||
		!regexp.MustCompile(`nf_conntrack\s+yes\s+yes\s+built-in`).MatchString(check.stdout) || !strings.Contains(check.stdout, "--apply cannot add them") {
		t.Errorf("check: exit %d\n%s%s", check.code, check.stdout, check.stderr)
	}
	apply := acknet(t, "ipvs", "modules", "--all-nodes", "--apply", "--yes")
	if apply.code != 1 || !strings.Contains(apply.stderr, "4 modules could not be loaded; nothing was persisted on those nodes") ||
		!strings.Contains(apply.stdout, "load failed: modprobe: FATAL: Module ip_vs not found in directory /lib/modules/") {
		t.Errorf("apply: exit %d\n%s%s", apply.code, apply.stdout, apply.stderr)
	}
	for i := 0; i < realNodes; i++ {
		if _, err := os.Stat(filepath.Join(nodeRoot(i), "etc/modules-load.d/ack-ipvs-modules.conf")); err == nil {
			t.Errorf("node %d: a persist file was written although nothing could be loaded", i)
		}
	}
	for _, args := range [][]string{{"ipvs", "timeout", "--all-nodes"}, {"ipvs", "timeout", "--all-nodes", "--set", "900,120,10", "--yes"}} {
		r := acknet(t, args...)
		if r.code != 1 || strings.Count(r.stderr, "the kernel has no IPVS (ip_vs is neither loaded nor available to modprobe)") != realNodes {
			t.Errorf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	if bad := acknet(t, "ipvs", "modules", "--node", nodeName(0), "--scheduler", "lc;reboot"); bad.code != 1 || !strings.Contains(bad.stderr, "no IPVS scheduler") {
		t.Errorf("bad scheduler accepted: exit %d %s", bad.code, bad.stderr)
	}
	if got := listDir(t, "/etc/modules-load.d"); got != machineModules {
		t.Errorf("the machine's /etc/modules-load.d changed: %q -> %q", machineModules, got)
	}
	t.Logf("ipvs modules:\n%s\nwith --apply:\n%s%s", check.stdout, apply.stdout, apply.stderr)
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// setKubeProxyMode rewrites mode: in kube-proxy-worker's config.conf and
// replaces the kube-proxy pods, as the FAQ says to after a change.
func setKubeProxyMode(t *testing.T, from, to string) {
	t.Helper()
	cs := adminClient(t)
	ctx := context.Background()
	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-proxy-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conf := cm.Data["config.conf"]
	if !strings.Contains(conf, "mode: "+from+"\n") {
		t.Fatalf("config.conf has no mode: %s:\n%s", from, conf)
	}
	cm.Data["config.conf"] = strings.Replace(conf, "mode: "+from+"\n", "mode: "+to+"\n", 1)
	if _, err := cs.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods("kube-system").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "k8s-app=kube-proxy-worker"}); err != nil {
		t.Fatal(err)
	}
}

// agentPods waits until every real node has a pod of the DaemonSet
// selected by selector (in kube-system) for which ok holds.
func agentPods(t *testing.T, selector, what string, ok func(*corev1.Pod) bool) {
	t.Helper()
	cs := adminClient(t)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		l, err := cs.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			n := 0
			for i := range l.Items {
				if l.Items[i].DeletionTimestamp == nil && ok(&l.Items[i]) {
					n++
				}
			}
			if n == realNodes {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s pods not %s after 2m", selector, what)
}

// exited: the container has exited and is not running again yet, so its
// log is that of the run that failed.
func exited(p *corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Terminated != nil || (c.State.Waiting != nil && c.State.Waiting.Reason == "CrashLoopBackOff") {
			return true
		}
	}
	return false
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.Ready {
			return true
		}
	}
	return false
}

// --set-max on a real node: the dry run reads the node's own table, a value
// below its count is refused, and --apply meets the node's read-only limit
// (a network namespace's nf_conntrack_max is not writable) and persists
// nothing. (The successful write: TestConntrackSetMaxThroughDebugPods.)
func TestRealConntrackSetMax(t *testing.T) {
	useRealRig(t)
	node := nodeName(0)
	dry := acknet(t, "conntrack", "--node", node, "--set-max", "655350")
	if dry.code != 0 || !strings.Contains(dry.stdout, "655350 (dry run)") {
		t.Fatalf("dry run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	low := acknet(t, "conntrack", "--node", node, "--set-max", "1", "--apply", "--yes")
	if low.code != 1 || !strings.Contains(low.stderr, "refused: 1 is below the") {
		t.Errorf("below the count: exit %d\n%s%s", low.code, low.stdout, low.stderr)
	}
	lower := acknet(t, "conntrack", "--node", node, "--set-max", "100000", "--apply", "--yes")
	if lower.code != 1 || !strings.Contains(lower.stderr, "below the current limit") || !strings.Contains(lower.stderr, "--allow-lower") {
		t.Errorf("below the limit: exit %d\n%s%s", lower.code, lower.stdout, lower.stderr)
	}
	ro := acknet(t, "conntrack", "--node", node, "--set-max", "655350", "--apply", "--yes")
	if ro.code != 1 || !strings.Contains(ro.stderr, "nf_conntrack_max: the kernel refused it") {
		t.Errorf("read-only: exit %d\n%s%s", ro.code, ro.stdout, ro.stderr)
	}
	if _, err := os.Stat(filepath.Join(nodeRoot(0), "etc/sysctl.d/99-acknet-conntrack.conf")); !os.IsNotExist(err) {
		t.Errorf("a drop-in was written although the kernel refused: %v", err)
	}
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

// kube-proxy in IPVS mode on a kernel without IPVS: the real kube-proxy says
// why it cannot run, and doctor reports it from its real log; the node check
// says the kernel lacks the modules.
func TestRealKubeProxyWithoutIPVS(t *testing.T) {
	useRealRig(t)
	// First the healthy rig: each real kube-proxy's start line tells the
	// proxier it runs, the ConfigMap's.
	healthy := parseReport(t, acknet(t, "doctor", "--logs", "--checks", "kubeproxy.proxier", "-o", "json"))
	if want := fmt.Sprintf("iptables %d", realNodes); healthy.status("kubeproxy.proxier") != "pass" || !strings.Contains(healthy.summary("kubeproxy.proxier"), want) {
		t.Errorf("healthy rig: kubeproxy.proxier %s %q, want pass with %q", healthy.status("kubeproxy.proxier"), healthy.summary("kubeproxy.proxier"), want)
	}
	setKubeProxyMode(t, "iptables", "ipvs")
	t.Cleanup(func() {
		setKubeProxyMode(t, "ipvs", "iptables")
		agentPods(t, "k8s-app=kube-proxy-worker", "Ready again in iptables mode", ready)
	})
	agentPods(t, "k8s-app=kube-proxy-worker", "exited", exited)

	// A kube-proxy that just restarted in its crash loop may not have
	// logged yet, and doctor reads the current container's log only: then
	// that pod is "unknown" (or the check skips when no pod has logged).
	// Ask again until every pod has (a minute at most).
	var logs report
	for i := 0; i < 30; i++ {
		logs = parseReport(t, acknet(t, "doctor", "--logs", "--checks", "kubeproxy.proxier", "-o", "json"))
		if logs.status("kubeproxy.proxier") == "fail" && len(logs.findingObjects("kubeproxy.proxier")) == realNodes {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if logs.status("kubeproxy.proxier") != "fail" || len(logs.findingObjects("kubeproxy.proxier")) != realNodes {
		t.Fatalf("kubeproxy.proxier %s (%s) %v", logs.status("kubeproxy.proxier"), logs.summary("kubeproxy.proxier"), logs.findingObjects("kubeproxy.proxier"))
	}
	msgs := findingMessages(logs, "kubeproxy.proxier")
	if !strings.Contains(msgs, `err="can't use the IPVS proxier: ipvs not supported"`) || !strings.Contains(msgs, "it exited: no Service is served from this node") {
		t.Errorf("findings: %s", msgs)
	}

	nodes := parseReport(t, acknet(t, "doctor", "--node-checks", "--all-nodes", "--checks", "node.ipvs-modules,node.ipvs-timeouts", "-o", "json"))
	if nodes.status("node.ipvs-modules") != "fail" || !strings.Contains(findingMessages(nodes, "node.ipvs-modules"), "the kernel has no ip_vs, ip_vs_rr (neither loaded nor available to modprobe)") {
		t.Errorf("node.ipvs-modules %s: %s", nodes.status("node.ipvs-modules"), findingMessages(nodes, "node.ipvs-modules"))
	}
	if nodes.status("node.ipvs-timeouts") != "skip" {
		t.Errorf("node.ipvs-timeouts %s", nodes.status("node.ipvs-timeouts"))
	}
	// A node without ipvsadm: the check names it with the FAQ's install
	// step, where before it only counted an exit status.
	if out, err := onNode(t, 0, "mv", "/usr/sbin/ipvsadm", "/usr/sbin/ipvsadm.off"); err != nil {
		t.Fatalf("hide ipvsadm: %v %s", err, out)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if out, err := onNode(t, 0, "mv", "/usr/sbin/ipvsadm.off", "/usr/sbin/ipvsadm"); err != nil {
				t.Errorf("restore ipvsadm: %v %s", err, out)
			}
		}
	}
	defer restore()
	noTool := parseReport(t, acknet(t, "doctor", "--node-checks", "--all-nodes", "--checks", "node.ipvs-timeouts", "-o", "json"))
	if objs := noTool.findingObjects("node.ipvs-timeouts"); noTool.status("node.ipvs-timeouts") != "info" || len(objs) != 1 || objs[0] != "node/"+nodeName(0) ||
		!strings.Contains(findingMessages(noTool, "node.ipvs-timeouts"), "yum install -y ipvsadm") {
		t.Errorf("without ipvsadm: node.ipvs-timeouts %s %v: %s", noTool.status("node.ipvs-timeouts"), objs, findingMessages(noTool, "node.ipvs-timeouts"))
	}
	restore()

	text := acknet(t, "doctor", "--logs", "--checks", "kubeproxy.proxier")
	t.Logf("doctor --logs:\n%s", text.stdout)
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}
