//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-acknet/kubectl-acknet/test/scenario"
)

// controllerRig starts a second local cluster that also runs the DaemonSet
// controller and the scheduler, so DaemonSets really replace their pods on
// kwok nodes. The main rig runs without them: they would rewrite the
// scenarios' hand-made pods.
func controllerRig(t *testing.T) (string, kubernetes.Interface) {
	t.Helper()
	dir, err := os.MkdirTemp(filepath.Join(repoRoot, ".cache"), "rig-ctrl-")
	if err != nil {
		t.Fatal(err)
	}
	rig := func(arg string) error {
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "rig.sh"), arg)
		cmd.Env = append(os.Environ(), "ACKNET_RIG_DIR="+dir, "ACKNET_RIG_CONTROLLERS=daemonset")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	t.Cleanup(func() { _ = rig("down") })
	if err := rig("up"); err != nil {
		t.Fatalf("rig with controllers: %v", err)
	}
	kc := filepath.Join(dir, "kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kc, cs
}

// unavailability follows a DaemonSet's pods through a watch and records the
// largest number of nodes that had no Ready pod of it at the same time.
type unavailability struct {
	mu    sync.Mutex
	pods  map[types.UID]*corev1.Pod
	nodes []string
	max   int
}

func watchUnavailable(t *testing.T, cs kubernetes.Interface, selector string, nodes []string) (*unavailability, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := &unavailability{pods: map[types.UID]*corev1.Pod{}, nodes: nodes}
	// The state at the start, then every change from there.
	l, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	for i := range l.Items {
		u.pods[l.Items[i].UID] = &l.Items[i]
	}
	u.max = u.down()
	w, err := cs.CoreV1().Pods("kube-system").Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			u.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(u.pods, p.UID)
			} else {
				u.pods[p.UID] = p
			}
			if n := u.down(); n > u.max {
				u.max = n
			}
			u.mu.Unlock()
		}
	}()
	return u, func() { cancel(); w.Stop(); <-done }
}

func (u *unavailability) down() int {
	ready := map[string]bool{}
	for _, p := range u.pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready[p.Spec.NodeName] = true
			}
		}
	}
	n := 0
	for _, node := range u.nodes {
		if !ready[node] {
			n++
		}
	}
	return n
}

func (u *unavailability) peak() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.max
}

// readyPods returns the UIDs of the DaemonSet's pods by node; it waits until
// every node has a Ready one.
func readyPods(t *testing.T, cs kubernetes.Interface, selector string, nodes int) map[string]types.UID {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := cs.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]types.UID{}
		for _, p := range l.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					out[p.Spec.NodeName] = p.UID
				}
			}
		}
		if len(out) == nodes && len(l.Items) == nodes {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d DaemonSet pods Ready after 60s", len(out), nodes)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestFixRestart(t *testing.T) {
	kc, cs := controllerRig(t)
	ctx := context.Background()
	const nodes = 5
	var names []string
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("kwok-ds-%d", i)
		names = append(names, name)
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{"type": "kwok"}}}
		if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// kube-proxy-worker's ConfigMap as the flannel-broken scenario has it,
	// and a DaemonSet shaped like ACK's that mounts it.
	objs, err := scenario.Read(filepath.Join(repoRoot, "test", "scenarios", "flannel-broken"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if cm, ok := o.(*corev1.ConfigMap); ok && strings.HasPrefix(cm.Name, "kube-proxy-") {
			if _, err := cs.CoreV1().ConfigMaps("kube-system").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	const selector = "k8s-app=kube-proxy-worker"
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-worker", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-proxy-worker"}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"k8s-app": "kube-proxy-worker"}},
				Spec: corev1.PodSpec{
					HostNetwork:  true,
					NodeSelector: map[string]string{"type": "kwok"},
					Tolerations:  []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers:   []corev1.Container{{Name: "kube-proxy-worker", Image: "registry-cn-hangzhou.ack.aliyuncs.com/acs/kube-proxy:v1.37.2-aliyun.1"}},
					Volumes: []corev1.Volume{{Name: "kube-proxy", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-proxy-worker"}}}}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().DaemonSets("kube-system").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := readyPods(t, cs, selector, nodes)

	// allReplaced waits for a Ready pod on every node and checks that each
	// is new; it returns the new pods.
	allReplaced := func(t *testing.T, before map[string]types.UID) map[string]types.UID {
		t.Helper()
		after := readyPods(t, cs, selector, nodes)
		for node, uid := range before {
			if after[node] == uid {
				t.Errorf("%s: pod not replaced", node)
			}
		}
		return after
	}

	var transcript []string
	t.Run("pod by pod with --max-unavailable 2", func(t *testing.T) {
		u, stop := watchUnavailable(t, cs, selector, names)
		r := runWith(t, kc, "fix", "kubeproxy.ipvs-udp-timeout", "--apply", "--yes", "--restart", "--max-unavailable", "2")
		stop()
		if r.code != 0 || !strings.Contains(r.stdout, "[5/5]") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		transcript = append(transcript, "$ kubectl acknet fix kubeproxy.ipvs-udp-timeout --apply --yes --restart --max-unavailable 2\n"+r.stdout)
		start = allReplaced(t, start)
		if p := u.peak(); p > 2 || p == 0 {
			t.Errorf("at most %d nodes were down at once, want 1 or 2", p)
		}
	})

	t.Run("rollout restart under RollingUpdate", func(t *testing.T) {
		patch := `{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1}}}}`
		if _, err := cs.AppsV1().DaemonSets("kube-system").Patch(ctx, "kube-proxy-worker", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		u, stop := watchUnavailable(t, cs, selector, names)
		// The config is fixed already: --restart alone restarts.
		r := runWith(t, kc, "fix", "kubeproxy.ipvs-udp-timeout", "--apply", "--yes", "--restart")
		stop()
		if r.code != 0 || !strings.Contains(r.stdout, "nothing to change") || !strings.Contains(r.stdout, "rollout restart of DaemonSet kube-system/kube-proxy-worker") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		transcript = append(transcript, "$ kubectl acknet fix kubeproxy.ipvs-udp-timeout --apply --yes --restart\n"+r.stdout)
		start = allReplaced(t, start)
		if p := u.peak(); p != 1 {
			t.Errorf("at most %d nodes were down at once, want 1", p)
		}
	})

	t.Run("a pod that never becomes Ready stops the restart", func(t *testing.T) {
		// A new agent that does not come up: OnDelete, so nothing restarts
		// until the fix does.
		patch := `{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null},"template":{"metadata":{"annotations":{"acknet.test/never-ready":"true"}}}}}`
		if _, err := cs.AppsV1().DaemonSets("kube-system").Patch(ctx, "kube-proxy-worker", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		r := runWith(t, kc, "fix", "kubeproxy.conntrack-max-per-core", "--apply", "--yes", "--restart", "--max-unavailable", "1", "--restart-timeout", "3s")
		if r.code != 1 || !strings.Contains(r.stderr, "stopped after 0 of 5 pods") || !strings.Contains(r.stderr, "is not Ready after 3s") ||
			!strings.Contains(r.stderr, "to undo the config change: kubectl acknet fix --rollback acknet-backup-kube-proxy-worker-") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		transcript = append(transcript, "$ kubectl acknet fix kubeproxy.conntrack-max-per-core --apply --yes --restart --max-unavailable 1 --restart-timeout 3s\n"+r.stdout+r.stderr)
		l, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for _, p := range l.Items {
			if start[p.Spec.NodeName] == p.UID {
				kept++
			}
		}
		if kept != nodes-1 {
			t.Errorf("%d of %d old pods kept, want all but the first", kept, nodes)
		}
	})
	t.Run("Ctrl-C stops a restart at once", func(t *testing.T) {
		// The template still never becomes Ready: without the interrupt this
		// would wait a minute for the first pod.
		r := runInterruptedWith(t, kc, 2*time.Second, "fix", "kubeproxy.conntrack-max-per-core", "--apply", "--yes", "--restart",
			"--max-unavailable", "1", "--restart-timeout", "1m")
		if r.code != 1 || r.elapsed > 15*time.Second || !strings.Contains(r.stderr, "interrupted: stopping; nothing more is written or deleted") ||
			!strings.Contains(r.stderr, "stopped after 0 of 5 pods") || !strings.Contains(r.stderr, "context canceled") ||
			!strings.Contains(r.stderr, "still on the old config: kwok-ds-1, kwok-ds-2, kwok-ds-3, kwok-ds-4") {
			t.Fatalf("exit %d after %s\n%s%s", r.code, r.elapsed, r.stdout, r.stderr)
		}
		transcript = append(transcript, "$ kubectl acknet fix kubeproxy.conntrack-max-per-core --apply --yes --restart --max-unavailable 1 --restart-timeout 1m   # Ctrl-C after 2s\n"+r.stdout+r.stderr)
	})
	t.Logf("restart transcript:\n%s", strings.Join(transcript, "\n"))
}
