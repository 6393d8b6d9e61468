//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-acknet/kubectl-acknet/pkg/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/test/scenario"
)

const (
	liveA = "7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678a"
	liveB = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29180706f5e4d3c2b1a0f9e8d7c6b"
)

func goneID(i int) string { return fmt.Sprintf("dead%060d", i) }

// kwokNode creates a node that kwok manages (so its pods run and exec works)
// and a workload pod on it; it returns the pod's IP.
func kwokNode(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	cs := adminClient(t)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels:      map[string]string{scenario.LabelKey: "nodes", "acknet-test": "kwok"},
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.7.0/24", PodCIDRs: []string{"10.244.7.0/24"}}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-" + name, Namespace: "default", Labels: map[string]string{scenario.LabelKey: "nodes"}},
		Spec: corev1.PodSpec{NodeName: name, Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/web:1"}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return waitRunning(t, "default", pod.Name)
}

// waitRunning waits until kwok runs the pod and returns its IP.
func waitRunning(t *testing.T, ns, name string) string {
	t.Helper()
	cs := adminClient(t)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			return p.Status.PodIP
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("kwok did not run pod %s/%s", ns, name)
	return ""
}

// flannelCluster loads the Flannel scenario whose kube-flannel-cfg names
// network cb0 and the IPAM data dir /var/run/cni/networks.
func flannelCluster(t *testing.T) {
	t.Helper()
	load(t, "flannel-healthy")
}

func debugPodsLeft(t *testing.T) int {
	t.Helper()
	l, err := adminClient(t).CoreV1().Pods("").List(context.Background(), metav1.ListOptions{LabelSelector: nodeexec.Selector})
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

func TestFlannelGCThroughDebugPods(t *testing.T) {
	flannelCluster(t)
	// Fixed allocations use .2xx addresses; kwok hands the workload pod a low one.
	podIP := kwokNode(t, "kwok-gc-0")
	root := newFakeRoot(t)
	root.stub("crictl", `[ "$1" = pods ] || exit 9; echo `+liveA+`; echo `+liveB)
	net := "var/lib/cni/networks/cb0"
	alloc := func(dir, ip, id string, age time.Duration) { root.write(dir+"/"+ip, id+"\r\neth0", age) }
	alloc(net, "10.244.7.202", liveA, 2*time.Hour)                      // live sandbox
	alloc("var/run/cni/networks/cb0", "10.244.7.203", liveB, time.Hour) // live, in the tmpfs dir
	alloc(net, podIP, goneID(1), 2*time.Hour)                           // held by the running pod
	alloc(net, "10.244.7.220", goneID(2), 2*time.Hour)                  // leaked
	alloc(net, "10.244.7.221", goneID(3), 3*time.Hour)                  // leaked
	alloc(net, "fd00:10:244:7::22", goneID(4), 3*time.Hour)             // leaked, IPv6
	alloc(net, "10.244.7.223", goneID(5), time.Minute)                  // too young
	root.write(net+"/lock", "", 0)
	root.write(net+"/last_reserved_ip.0", "10.244.7.223", 0)

	dry := acknet(t, "flannel", "gc", "--node", "kwok-gc-0", "--host-root", root.dir)
	if dry.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	for _, want := range []string{
		"node kwok-gc-0: 7 allocations, 3 leaked (dry run)",
		"10.244.7.220", "fd00:10:244:7::22", "kept: live sandbox", "kept: held by pod default/web-kwok-gc-0", "kept: younger than 10m0s",
		"3 leaked IPs; nothing was changed",
	} {
		if !strings.Contains(dry.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, dry.stdout)
		}
	}
	if got := len(root.list(net)); got != 8 {
		t.Fatalf("the dry run changed files: %v", root.list(net))
	}

	apply := acknet(t, "flannel", "gc", "--node", "kwok-gc-0", "--host-root", root.dir, "--apply", "--yes")
	if apply.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", apply.code, apply.stdout, apply.stderr)
	}
	left := root.list(net)
	sort.Strings(left)
	want := []string{"10.244.7.202", "10.244.7.223", podIP, "last_reserved_ip.0", "lock"}
	sort.Strings(want)
	if strings.Join(left, " ") != strings.Join(want, " ") {
		t.Errorf("left in %s: %v, want %v", net, left, want)
	}
	backups := root.list("var/lib/cni/acknet-backup")
	if len(backups) != 1 {
		t.Fatalf("backups %v", backups)
	}
	moved := root.list("var/lib/cni/acknet-backup/" + backups[0])
	if strings.Join(moved, " ") != "10.244.7.220 10.244.7.221 fd00:10:244:7::22" {
		t.Errorf("moved %v", moved)
	}
	if !strings.Contains(apply.stdout, "to restore, on the node: mv /var/lib/cni/acknet-backup/"+backups[0]+"/* /var/lib/cni/networks/cb0/") {
		t.Errorf("no restore hint:\n%s", apply.stdout)
	}
	if !root.exists("var/run/cni/networks/cb0/10.244.7.203") {
		t.Error("a live allocation in the tmpfs dir was touched")
	}
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
	t.Logf("dry run:\n%s\napply:\n%s", dry.stdout, apply.stdout)
}

func TestFlannelGCRefusesWithoutARuntimeListing(t *testing.T) {
	flannelCluster(t)
	kwokNode(t, "kwok-gc-1")
	for name, crictl := range map[string]string{
		"listing fails": `echo 'connect: connection refused' >&2; exit 1`,
		"listing empty": `exit 0`,
	} {
		t.Run(name, func(t *testing.T) {
			root := newFakeRoot(t)
			root.stub("crictl", crictl)
			root.write("var/lib/cni/networks/cb0/10.244.7.30", goneID(9)+"\r\neth0", 5*time.Hour)
			r := acknet(t, "flannel", "gc", "--node", "kwok-gc-1", "--host-root", root.dir, "--apply", "--yes")
			if r.code != 1 || !strings.Contains(r.stdout, "REFUSED") {
				t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if !root.exists("var/lib/cni/networks/cb0/10.244.7.30") {
				t.Error("a file was moved although the node was refused")
			}
		})
	}
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

func TestConntrackThroughDebugPods(t *testing.T) {
	flannelCluster(t)
	kwokNode(t, "kwok-ct-0")
	root := newFakeRoot(t)
	root.write("proc/sys/net/netfilter/nf_conntrack_count", "980\n", 0)
	root.write("proc/sys/net/netfilter/nf_conntrack_max", "1000\n", 0)
	root.write("proc/sys/net/netfilter/nf_conntrack_buckets", "256\n", 0)
	root.write("proc/net/nf_conntrack", "ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1\nipv4     2 udp      17 29 src=10.0.0.1\nipv4     2 udp      17 29 src=10.0.0.2\n", 0)
	r := acknet(t, "conntrack", "--node", "kwok-ct-0", "--host-root", root.dir)
	if r.code != 0 || !strings.Contains(r.stdout, "kwok-ct-0") || !strings.Contains(r.stdout, "fail") || !strings.Contains(r.stdout, "98.0%") || !strings.Contains(r.stdout, "tcp=1,udp=2") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("conntrack:\n%s", r.stdout)
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

// The fault matrix: whatever goes wrong, no debug pod stays behind.
func TestNodeCommandFaults(t *testing.T) {
	flannelCluster(t)
	kwokNode(t, "kwok-fault-0")
	// A node kwok does not manage: its pods never run.
	if _, err := adminClient(t).CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: "unmanaged-0", Labels: map[string]string{scenario.LabelKey: "nodes"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	okRoot := newFakeRoot(t)
	okRoot.write("proc/sys/net/netfilter/nf_conntrack_count", "1\n", 0)
	okRoot.write("proc/sys/net/netfilter/nf_conntrack_max", "100\n", 0)
	badRoot := newFakeRoot(t) // no conntrack files: the script fails
	slowRoot := newFakeRoot(t)
	slowRoot.stub("crictl", "sleep 20")

	type fault struct {
		name    string
		args    []string
		signal  time.Duration // send SIGINT after this long (0: none)
		code    int
		message string
	}
	faults := []fault{
		{name: "pod never runs", args: []string{"conntrack", "--node", "unmanaged-0", "--start-timeout", "2s", "--host-root", okRoot.dir},
			code: 1, message: "not running after 2s"},
		{name: "script fails", args: []string{"conntrack", "--node", "kwok-fault-0", "--host-root", badRoot.dir},
			code: 1, message: "is nf_conntrack loaded"},
		{name: "namespace missing (API error on create)", args: []string{"conntrack", "--node", "kwok-fault-0", "--node-namespace", "no-such-ns", "--host-root", okRoot.dir},
			code: 1, message: "create debug pod"},
		{name: "unknown node", args: []string{"conntrack", "--node", "no-such-node", "--host-root", okRoot.dir},
			code: 1, message: "nodes not found: no-such-node"},
		{name: "Ctrl-C while waiting for the pod", args: []string{"conntrack", "--node", "unmanaged-0", "--start-timeout", "1m", "--host-root", okRoot.dir},
			signal: 1500 * time.Millisecond, code: 1, message: "context canceled"},
		{name: "Ctrl-C while the script runs", args: []string{"flannel", "gc", "--node", "kwok-fault-0", "--host-root", slowRoot.dir},
			signal: 1500 * time.Millisecond, code: 1, message: "context canceled"},
		{name: "one node fails, the other still runs", args: []string{"conntrack", "--node", "unmanaged-0,kwok-fault-0", "--start-timeout", "2s", "--host-root", okRoot.dir},
			code: 1, message: "1 of 2 nodes failed"},
	}
	var table []string
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			var r result
			if f.signal > 0 {
				r = runInterrupted(t, f.signal, f.args...)
			} else {
				r = acknet(t, f.args...)
			}
			if r.code != f.code || !strings.Contains(r.stderr, f.message) {
				t.Errorf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", r.code, f.code, f.message, r.stdout, r.stderr)
			}
			left := debugPodsLeft(t)
			if left != 0 {
				t.Errorf("%d debug pods left", left)
			}
			table = append(table, fmt.Sprintf("%-45s exit %d  pods left %d  (%s)", f.name, r.code, left, r.elapsed.Round(100*time.Millisecond)))
		})
	}
	t.Logf("fault matrix:\n%s", strings.Join(table, "\n"))
}

// runInterrupted starts the plugin and sends SIGINT after delay.
func runInterrupted(t *testing.T, delay time.Duration, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "kubectl-acknet"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	}
	return r
}

func TestCleanup(t *testing.T) {
	flannelCluster(t)
	ctx := context.Background()
	cs := adminClient(t)
	pod := nodeexec.PodSpec("default", "busybox", "test", "gone-node", "abcde", time.Minute)
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dry := acknet(t, "cleanup", "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stdout, "would delete pod/default/acknet-test-gone-node-abcde") || debugPodsLeft(t) != 1 {
		t.Fatalf("dry run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	r := acknet(t, "cleanup")
	if r.code != 0 || !strings.Contains(r.stdout, "deleted pod/default/acknet-test-gone-node-abcde") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}
