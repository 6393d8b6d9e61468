package rollout

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// controller stands in for the DaemonSet controller and kubelets: a deleted
// pod is replaced on its node after ready, Ready at once, unless its node is
// in stuck. It records how many nodes were without a Ready pod at once.
type controller struct {
	cs    *fake.Clientset
	ds    *appsv1.DaemonSet
	ready time.Duration
	stuck map[string]bool

	mu      sync.Mutex
	down    int
	peak    int
	deleted []string
	wg      sync.WaitGroup
}

func (c *controller) pod(node string, n int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("kube-proxy-worker-%s-%d", node, n), Namespace: "kube-system",
			UID:             types.UID(fmt.Sprintf("%s-%d", node, n)),
			Labels:          map[string]string{"k8s-app": "kube-proxy-worker"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: c.ds.Name, UID: c.ds.UID}},
		},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func newController(t *testing.T, nodes int, ready time.Duration, stuck ...string) *controller {
	t.Helper()
	c := &controller{ready: ready, stuck: map[string]bool{}}
	for _, s := range stuck {
		c.stuck[s] = true
	}
	c.ds = &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-worker", Namespace: "kube-system", UID: "ds-uid"},
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-proxy-worker"}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
		},
	}
	objs := []runtime.Object{c.ds}
	for i := 0; i < nodes; i++ {
		objs = append(objs, c.pod(fmt.Sprintf("node-%d", i), 0))
	}
	c.cs = fake.NewSimpleClientset(objs...)
	c.cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.DeleteAction).GetName()
		p, err := c.cs.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), "kube-system", name)
		if err != nil {
			return false, nil, nil
		}
		node := p.(*corev1.Pod).Spec.NodeName
		c.mu.Lock()
		c.down++
		c.peak = max(c.peak, c.down)
		c.deleted = append(c.deleted, node)
		n := len(c.deleted)
		c.mu.Unlock()
		if c.stuck[node] {
			return false, nil, nil
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			time.Sleep(c.ready)
			c.mu.Lock()
			c.down--
			c.mu.Unlock()
			_ = c.cs.Tracker().Add(c.pod(node, n))
		}()
		return false, nil, nil
	})
	t.Cleanup(c.wg.Wait)
	return c
}

// Pod by pod, --max-unavailable N keeps exactly N nodes restarting at once
// while there are pods left, never more, and replaces every pod.
func TestPodByPodRunsMaxUnavailableAtOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("max-unavailable %d", n), func(t *testing.T) {
			c := newController(t, 6, 300*time.Millisecond)
			var out strings.Builder
			err := Restart(context.Background(), c.cs, "kube-system", "kube-proxy-worker", Options{MaxUnavailable: n, Timeout: 10 * time.Second, Out: &out})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			c.wg.Wait()
			if c.peak != n {
				t.Errorf("at most %d nodes down at once, want %d\n%s", c.peak, n, out.String())
			}
			if len(c.deleted) != 6 || !strings.Contains(out.String(), "[6/6]") {
				t.Errorf("deleted %v\n%s", c.deleted, out.String())
			}
		})
	}
}

// A replacement that never becomes Ready stops the restart: no worker takes
// another pod, and the nodes not restarted are named.
func TestPodByPodStopsOnTheFirstFailure(t *testing.T) {
	c := newController(t, 5, 100*time.Millisecond, "node-0")
	var out strings.Builder
	err := Restart(context.Background(), c.cs, "kube-system", "kube-proxy-worker", Options{MaxUnavailable: 1, Timeout: time.Second, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "node node-0: no replacement") || !strings.Contains(err.Error(), "stopped after 0 of 5 pods") ||
		!strings.Contains(err.Error(), "still on the old config: node-1, node-2, node-3, node-4") {
		t.Fatalf("err %v\n%s", err, out.String())
	}
	if len(c.deleted) != 1 {
		t.Errorf("deleted %v after the first failure, want only node-0", c.deleted)
	}
}
