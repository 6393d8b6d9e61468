package ipv6

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// noisy adds what real objects carry and the checks never read.
func noisy(m *metav1.ObjectMeta) {
	m.Labels = map[string]string{"app": "web"}
	m.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"big":"json"}`}
	m.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
}

// compacts checks that compact keeps of obj, with noise added, exactly want.
func compacts[T, C any](t *testing.T, name string, obj T, meta func(*T) *metav1.ObjectMeta, compact func(*T) C, want C) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		noisy(meta(&obj))
		if got := compact(&obj); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
}

// The compact types keep every field a check or the listen/probe steps
// read, from every place the API puts it.
func TestCompactPod(t *testing.T) {
	udp := corev1.ProtocolUDP
	tests := []struct {
		name string
		pod  func() corev1.Pod
		want Pod
	}{
		{"dual-stack, two containers", func() corev1.Pod {
			p := fullPod("web-0", corev1.PodRunning, []int32{80, 9090}, "10.0.0.5", "fd00::5")
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "dns", Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: udp}}})
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", Value: "y"}}
			return p
		}, Pod{Namespace: "shop", Name: "web-0", Node: "n1", Running: true, PodIP: "10.0.0.5", IPs: []string{"10.0.0.5", "fd00::5"},
			Ports: []Port{{Container: "app", Port: 80}, {Container: "app", Port: 9090}, {Container: "dns", Port: 53, Protocol: udp}}}},
		{"finished, host network", func() corev1.Pod {
			p := fullPod("job-0", corev1.PodSucceeded, nil, "192.168.0.9")
			p.Spec.HostNetwork = true
			return p
		}, Pod{Namespace: "shop", Name: "job-0", Node: "n1", HostNetwork: true, PodIP: "192.168.0.9", IPs: []string{"192.168.0.9"}}},
	}
	for _, tt := range tests {
		compacts(t, tt.name, tt.pod(), func(o *corev1.Pod) *metav1.ObjectMeta { return &o.ObjectMeta }, CompactPod, tt.want)
	}
}

func TestCompactNode(t *testing.T) {
	tests := []struct {
		name string
		node func() corev1.Node
		want Node
	}{
		{"dual, Ready", func() corev1.Node {
			n := fullNode("n1", []string{"10.0.0.0/24", "fd00::/64"}, "10.1.0.1", "fd01::1")
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
			return n
		}, Node{Name: "n1", PodCIDRs: []string{"10.0.0.0/24", "fd00::/64"}, Has6InternalIP: true, Ready: true}},
		{"IPv6 only as ExternalIP, not Ready, podCIDR alone", func() corev1.Node {
			n := fullNode("n2", nil, "10.1.0.2")
			n.Spec.PodCIDR = "10.0.1.0/24"
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "2408::2"})
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
			return n
		}, Node{Name: "n2", PodCIDRs: []string{"10.0.1.0/24"}}},
	}
	for _, tt := range tests {
		compacts(t, tt.name, tt.node(), func(o *corev1.Node) *metav1.ObjectMeta { return &o.ObjectMeta }, CompactNode, tt.want)
	}
}

func TestCompactService(t *testing.T) {
	unset := fullSvc("old", "", "10.96.0.9")
	unset.Spec.IPFamilyPolicy = nil
	headless := fullSvc("hl", corev1.IPFamilyPolicySingleStack, "None")
	dual := fullSvc("web", corev1.IPFamilyPolicyRequireDualStack, "10.96.0.10", "fd00:10:96::a")
	dual.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}
	tests := []struct {
		name string
		svc  corev1.Service
		want Service
	}{
		{"dual with ports", dual, Service{Namespace: "shop", Name: "web", ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10", "fd00:10:96::a"},
			Policy: corev1.IPFamilyPolicyRequireDualStack, Ports: []Port{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}}}},
		{"policy unset", unset, Service{Namespace: "shop", Name: "old", ClusterIP: "10.96.0.9", ClusterIPs: []string{"10.96.0.9"}}},
		{"headless", headless, Service{Namespace: "shop", Name: "hl", ClusterIP: "None", ClusterIPs: []string{"None"}, Policy: corev1.IPFamilyPolicySingleStack}},
	}
	for _, tt := range tests {
		compacts(t, tt.name, tt.svc, func(o *corev1.Service) *metav1.ObjectMeta { return &o.ObjectMeta }, CompactService, tt.want)
	}
}
