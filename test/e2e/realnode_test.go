//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
)

// useRealRig points the helpers (acknet, adminClient, debugPodsLeft, the
// proxies) at the rig with real nodes for the rest of the test.
func useRealRig(t *testing.T) {
	t.Helper()
	old := kubeconfig
	kubeconfig = realKubeconfig
	t.Cleanup(func() { kubeconfig = old })
}

// nodeName is the name of real node i.
func nodeName(i int) string { return fmt.Sprintf("cn-hangzhou.172.18.0.%d", 10+i) }

// nodeRoot is real node i's root filesystem as the test machine sees it.
func nodeRoot(i int) string { return filepath.Join(realDir, "nodes", strconv.Itoa(i), "root") }

// nodeSh runs hack/node.sh against the real rig.
func nodeSh(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "node.sh"), args...)
	cmd.Env = append(os.Environ(), "ACKNET_RIG_DIR="+realDir)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node.sh %v: %v\n%s%s", args, err, out, stderr)
	}
	return string(out)
}

// onNode runs a command on real node i (its namespaces and root).
func onNode(t *testing.T, i int, argv ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "node.sh"), append([]string{"exec", strconv.Itoa(i), "--"}, argv...)...)
	cmd.Env = append(os.Environ(), "ACKNET_RIG_DIR="+realDir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fromVPC fetches http://ip/ from the rig's VPC namespace, as another host
// in the VPC would.
func fromVPC(t *testing.T, ip string) (string, error) {
	t.Helper()
	vpc := rigID(realDir) + "-vpc"
	out, err := exec.Command("ip", "netns", "exec", vpc, "curl", "-sS", "-m", "3", "http://"+ip+"/").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// testNamespace creates a namespace for the test and deletes it after,
// waiting until its pods are gone so the next test starts clean.
func testNamespace(t *testing.T, name string) string {
	t.Helper()
	cs := adminClient(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := cs.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Errorf("namespace %s still there after 90s", name)
	})
	return name
}

// webPod is a pod that answers HTTP on port 80 with its own name, on the
// node given, from the rig's busybox image.
func webPod(ns, name, node string) *corev1.Pod {
	grace := int64(1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name:    "web",
				Image:   nodeexec.DefaultImage,
				Command: []string{"sh", "-c", "mkdir -p /www && echo \"$HOSTNAME\" > /www/index.html && exec httpd -f -p 80 -h /www"},
				Ports:   []corev1.ContainerPort{{ContainerPort: 80}},
			}},
		},
	}
}

func createPod(t *testing.T, p *corev1.Pod) {
	t.Helper()
	if _, err := adminClient(t).CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// podIP waits until the pod runs with an IP other than not, and returns it.
func podIP(t *testing.T, ns, name, not string) string {
	t.Helper()
	cs := adminClient(t)
	deadline := time.Now().Add(2 * time.Minute)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.Status.PodIP != not {
				for _, c := range p.Status.ContainerStatuses {
					if c.Ready {
						return p.Status.PodIP
					}
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s not running with a new IP after 2m: %+v", ns, name, last.Status)
	return ""
}

// podNetworkPods lists the running pods on the pod network of a node, in
// every namespace: "namespace/name" -> pod IP.
func podNetworkPods(t *testing.T, node string) map[string]string {
	t.Helper()
	pods, err := adminClient(t).CoreV1().Pods("").List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if !p.Spec.HostNetwork && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			out[p.Namespace+"/"+p.Name] = p.Status.PodIP
		}
	}
	return out
}

// waitAnswers waits until the pod answers on its IP from the VPC.
func waitAnswers(t *testing.T, ip, want string) {
	t.Helper()
	var out string
	var err error
	for i := 0; i < 40; i++ {
		if out, err = fromVPC(t, ip); err == nil && out == want {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s does not answer %q: %q %v", ip, want, out, err)
}

// ipamFiles lists the host-local files of network cb0 on node i: IP -> the
// container ID on the file's first line.
func ipamFiles(t *testing.T, i int, dir string) map[string]string {
	t.Helper()
	d := filepath.Join(nodeRoot(i), dir)
	entries, err := os.ReadDir(d)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.Name() == "lock" || strings.HasPrefix(e.Name(), "last_reserved_ip") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		id, _, _ := strings.Cut(string(b), "\n")
		out[e.Name()] = strings.TrimSpace(id)
	}
	return out
}

// sandboxCount is how many sandboxes containerd on node i has, in any state.
func sandboxCount(t *testing.T, i int) int {
	t.Helper()
	// stdout only: crictl may warn on stderr.
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "node.sh"), "exec", strconv.Itoa(i), "--", "crictl", "pods", "-q")
	cmd.Env = append(os.Environ(), "ACKNET_RIG_DIR="+realDir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crictl pods: %v\n%s", err, out)
	}
	return len(strings.Fields(string(out)))
}

// rebootLosingRuntime powers node i off, wipes containerd's state (its
// sandboxes), keeps /var/lib/cni, and boots it: how the container-network FAQ
// says IPs leak on a reboot when IPAM state is not on tmpfs.
func rebootLosingRuntime(t *testing.T, i int) {
	t.Helper()
	nodeSh(t, "stop", strconv.Itoa(i))
	nodeSh(t, "wipe-runtime", strconv.Itoa(i))
	nodeSh(t, "start", strconv.Itoa(i))
}

func TestRealNodesRun(t *testing.T) {
	useRealRig(t)
	ns := testNamespace(t, "rig")
	cs := adminClient(t)
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != realNodes {
		t.Fatalf("%v %d nodes", err, len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if n.Status.NodeInfo.ContainerRuntimeVersion == "" || !strings.HasPrefix(n.Status.NodeInfo.KubeletVersion, "v1.37") || n.Spec.PodCIDR == "" {
			t.Errorf("node %s: %+v %s", n.Name, n.Status.NodeInfo, n.Spec.PodCIDR)
		}
	}
	// Pod to pod across nodes through the VPC routes, and a ClusterIP through
	// kube-proxy, from a pod on the other node.
	createPod(t, webPod(ns, "a", nodeName(0)))
	createPod(t, webPod(ns, "b", nodeName(1)))
	ipA := podIP(t, ns, "a", "")
	ipB := podIP(t, ns, "b", "")
	waitAnswers(t, ipA, "a")
	waitAnswers(t, ipB, "b")
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}}
	svc.Spec.Selector = map[string]string{"app": "web"}
	if _, err := cs.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := onNode(t, 1, "curl", "-sS", "-m", "3", "http://"+ipA+"/")
	if err != nil || strings.TrimSpace(out) != "a" {
		t.Errorf("pod a from node 1: %q %v", out, err)
	}
	got, err := cs.CoreV1().Services(ns).Get(context.Background(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var answers []string
	for i := 0; i < 30 && len(answers) < 2; i++ {
		out, err := onNode(t, 1, "curl", "-sS", "-m", "3", "http://"+got.Spec.ClusterIP+"/")
		if err == nil {
			a := strings.TrimSpace(out)
			if !contains(answers, a) {
				answers = append(answers, a)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(answers) != 2 {
		t.Errorf("ClusterIP %s answered by %v, want both pods", got.Spec.ClusterIP, answers)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
