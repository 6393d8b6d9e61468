//go:build e2e

package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/test/scenario"
)

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

// runInterrupted starts the plugin and sends SIGINT after delay.
func runInterrupted(t *testing.T, delay time.Duration, args ...string) result {
	t.Helper()
	return runSignalled(t, syscall.SIGINT, delay, args...)
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
