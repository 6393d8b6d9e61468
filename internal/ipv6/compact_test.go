package ipv6

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// noisy adds what real objects carry and the checks never read.
func noisy(m *metav1.ObjectMeta) {
	m.Labels = map[string]string{"app": "web"}
	m.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"big":"json"}`}
	m.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
}

// Verify judges compacted objects exactly as it judges whole ones: the
// Compact functions keep every field a check or the listen/probe steps read.
func TestCompactKeepsWhatVerifyReads(t *testing.T) {
	dual := corev1.IPFamilyPolicyRequireDualStack
	single := corev1.IPFamilyPolicySingleStack
	nodes := []corev1.Node{
		node("n1", []string{"10.0.0.0/24", "fd00::/64"}, "10.1.0.1", "fd01::1"),
		node("n2", []string{"10.0.1.0/24"}, "10.1.0.2"),
	}
	nodes[0].Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	pods := []corev1.Pod{
		pod("web-0", corev1.PodRunning, []int32{80, 9090}, "10.0.0.5", "fd00::5"),
		pod("cart-0", corev1.PodRunning, []int32{8080}, "10.0.1.7"),
		pod("job-0", corev1.PodSucceeded, nil, "10.0.0.9"),
	}
	pods[1].Spec.NodeName = "n2"
	pods[0].Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", Value: "y"}}
	svcs := []corev1.Service{
		svc("web", dual, "10.96.0.10", "fd00:10:96::a"),
		svc("cart", single, "10.96.0.11"),
		svc("kubernetes", single, "10.96.0.1"),
		svc("api", dual, "10.96.0.12"),
	}
	svcs[2].Namespace = "default"
	svcs[0].Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}}
	full := Input{Nodes: nodes, Pods: pods, Services: svcs, TerwayIPStack: "dual",
		Listen: map[string]*nodescripts.PodSockets{"shop/web-0": {}},
		Probe:  []Target{{Object: "shop/Pod/web-0"}},
	}
	for i := range full.Nodes {
		noisy(&full.Nodes[i].ObjectMeta)
	}
	for i := range full.Pods {
		noisy(&full.Pods[i].ObjectMeta)
	}
	for i := range full.Services {
		noisy(&full.Services[i].ObjectMeta)
	}
	compact := full
	compact.Nodes, compact.Pods, compact.Services = nil, nil, nil
	for i := range full.Nodes {
		compact.Nodes = append(compact.Nodes, CompactNode(&full.Nodes[i]))
	}
	for i := range full.Pods {
		compact.Pods = append(compact.Pods, CompactPod(&full.Pods[i]))
	}
	for i := range full.Services {
		compact.Services = append(compact.Services, CompactService(&full.Services[i]))
	}
	for _, mode := range []struct{ listen, probe bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		for _, stack := range []string{"", "dual"} {
			full.TerwayIPStack, compact.TerwayIPStack = stack, stack
			want, got := Verify(full, mode.listen, mode.probe), Verify(compact, mode.listen, mode.probe)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("listen %v probe %v stack %q: compacted\n%+v\nwhole\n%+v", mode.listen, mode.probe, stack, got, want)
			}
		}
	}
	if p := compact.Pods[0]; p.Annotations != nil || p.ManagedFields != nil || p.Spec.Containers[0].Env != nil {
		t.Errorf("compaction kept what no check reads: %+v", p)
	}
}
