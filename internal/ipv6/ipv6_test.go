package ipv6

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

func fullNode(name string, cidrs []string, ips ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDRs: cidrs}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return n
}

func fullPod(name string, phase corev1.PodPhase, ports []int32, ips ...string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app"}}}, Status: corev1.PodStatus{Phase: phase}}
	for _, port := range ports {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: port})
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	return p
}

func fullSvc(name string, policy corev1.IPFamilyPolicy, ips ...string) corev1.Service {
	s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: corev1.ServiceSpec{ClusterIPs: ips, IPFamilyPolicy: &policy}}
	if len(ips) > 0 {
		s.Spec.ClusterIP = ips[0]
	}
	return s
}

// The checks see objects as the command reads them: compacted.
func node(name string, cidrs []string, ips ...string) Node {
	n := fullNode(name, cidrs, ips...)
	return CompactNode(&n)
}

func pod(name string, phase corev1.PodPhase, ports []int32, ips ...string) Pod {
	p := fullPod(name, phase, ports, ips...)
	return CompactPod(&p)
}

func svc(name string, policy corev1.IPFamilyPolicy, ips ...string) Service {
	s := fullSvc(name, policy, ips...)
	return CompactService(&s)
}

func result(t *testing.T, in Input, listen, probe bool, id string) checks.Result {
	t.Helper()
	for _, o := range Verify(in, listen, probe) {
		if o.Check.ID == id {
			return o.Result
		}
	}
	t.Fatalf("no %s", id)
	return checks.Result{}
}

func mentions(r checks.Result, s string) bool {
	if strings.Contains(r.Summary, s) {
		return true
	}
	for _, f := range r.Findings {
		if strings.Contains(f.Object+" "+f.Message, s) {
			return true
		}
	}
	return false
}

func TestVerify(t *testing.T) {
	dual := node("n1", []string{"10.0.1.0/24", "fd00:1::/64"}, "192.168.0.1", "fd00::1")
	v4 := node("n2", []string{"10.0.2.0/24"}, "192.168.0.2")
	tests := []struct {
		name   string
		in     Input
		listen bool
		probe  bool
		id     string
		want   checks.Status
		says   string
	}{
		{name: "dual nodes", in: Input{Nodes: []Node{dual}}, id: IDCluster, want: checks.StatusPass},
		{name: "an IPv4 node", in: Input{Nodes: []Node{dual, v4}}, id: IDCluster, want: checks.StatusFail, says: "node/n2"},
		{name: "terway ipv4 stack", in: Input{Nodes: []Node{dual}, TerwayIPStack: "ipv4"}, id: IDCluster, want: checks.StatusFail, says: "ip_stack"},
		{name: "no nodes", in: Input{}, id: IDCluster, want: checks.StatusSkip},
		// Terway nodes have no pod CIDR: ip_stack and the pods' addresses decide.
		{name: "terway dual, no pod CIDRs, pods with IPv6", in: Input{Nodes: []Node{node("n1", nil, "192.168.0.1")}, TerwayIPStack: "dual",
			Pods: []Pod{pod("web", corev1.PodRunning, nil, "10.0.1.5", "2408:4005::5")}}, id: IDCluster, want: checks.StatusPass, says: "on 1 of 1 nodes"},
		{name: "terway dual, a node whose pods got no IPv6", in: Input{Nodes: []Node{node("n1", nil, "192.168.0.1")}, TerwayIPStack: "dual",
			Pods: []Pod{pod("web", corev1.PodRunning, nil, "10.0.1.5")}}, id: IDCluster, want: checks.StatusFail, says: "vSwitch"},
		{name: "terway dual, no pods: cannot tell, no false failure", in: Input{Nodes: []Node{node("n1", nil, "192.168.0.1")}, TerwayIPStack: "dual"},
			id: IDCluster, want: checks.StatusInfo, says: "cannot tell"},
		{name: "dual pods", in: Input{Pods: []Pod{pod("web", corev1.PodRunning, nil, "10.0.1.5", "fd00:1::5")}}, id: IDPodIPs, want: checks.StatusPass},
		{name: "ipv4 pod", in: Input{Pods: []Pod{pod("old", corev1.PodRunning, nil, "10.0.1.6"), pod("pending", corev1.PodPending, nil)}}, id: IDPodIPs, want: checks.StatusFail, says: "shop/Pod/old"},
		{name: "no running pods", in: Input{Pods: []Pod{pod("p", corev1.PodPending, nil)}}, id: IDPodIPs, want: checks.StatusSkip},
		{name: "dual service", in: Input{Services: []Service{svc("web", corev1.IPFamilyPolicyRequireDualStack, "10.96.0.5", "fd00:96::5")}}, id: IDServices, want: checks.StatusPass},
		{name: "single stack", in: Input{Services: []Service{svc("api", corev1.IPFamilyPolicySingleStack, "10.96.0.6")}}, id: IDServices, want: checks.StatusWarn, says: "SingleStack"},
		{name: "asks but lacks", in: Input{Services: []Service{svc("bad", corev1.IPFamilyPolicyPreferDualStack, "10.96.0.7")}}, id: IDServices, want: checks.StatusFail, says: "PreferDualStack"},
		{name: "default/kubernetes left out", in: Input{Services: []Service{func() Service {
			s := svc("kubernetes", corev1.IPFamilyPolicySingleStack, "10.96.0.1")
			s.Namespace = "default"
			return s
		}(), svc("web", corev1.IPFamilyPolicyRequireDualStack, "10.96.0.5", "fd00:96::5")}}, id: IDServices, want: checks.StatusPass, says: "default/kubernetes left out"},
		{name: "headless ignored", in: Input{Services: []Service{svc("hl", corev1.IPFamilyPolicySingleStack, "None")}}, id: IDServices, want: checks.StatusSkip},
		{name: "ipv4-only listener", listen: true, in: Input{Pods: []Pod{pod("nginx", corev1.PodRunning, []int32{80, 9090}, "10.0.1.8", "fd00:1::8")},
			Listen: map[string]*nodescripts.PodSockets{"shop/nginx": {PID: 7, Sockets: []nodescripts.Socket{{Port: 80, Listen: true}, {IPv6: true, Port: 9090, Listen: true}}}}},
			id: IDListen, want: checks.StatusWarn, says: "port 80 over IPv4 only"},
		{name: "nothing listening", listen: true, in: Input{Pods: []Pod{pod("nginx", corev1.PodRunning, []int32{81}, "10.0.1.8")},
			Listen: map[string]*nodescripts.PodSockets{"shop/nginx": {PID: 7}}}, id: IDListen, want: checks.StatusWarn, says: "nothing listens"},
		{name: "listens on v6", listen: true, in: Input{Pods: []Pod{pod("nginx", corev1.PodRunning, []int32{9090}, "10.0.1.8")},
			Listen: map[string]*nodescripts.PodSockets{"shop/nginx": {PID: 7, Sockets: []nodescripts.Socket{{IPv6: true, Port: 9090, Listen: true}}}}}, id: IDListen, want: checks.StatusPass},
		{name: "sockets unreadable", listen: true, in: Input{Pods: []Pod{pod("nginx", corev1.PodRunning, []int32{80})},
			Listen: map[string]*nodescripts.PodSockets{"shop/nginx": {Err: "no ready sandbox"}}}, id: IDListen, want: checks.StatusSkip, says: "no ready sandbox"},
		{name: "unreachable pod", probe: true, in: Input{Probe: []Target{{ProbeResult: nodescripts.ProbeResult{Address: "fd00:1::8", Port: 80, Result: "timeout"}, Object: "shop/Pod/nginx", From: "n1"}}},
			id: IDReachability, want: checks.StatusFail, says: "timeout"},
		{name: "reachable", probe: true, in: Input{Probe: []Target{{ProbeResult: nodescripts.ProbeResult{Address: "fd00:1::8", Port: 80, Result: "reachable"}}}}, id: IDReachability, want: checks.StatusPass},
		{name: "internet refused", probe: true, in: Input{Internet: []Target{{ProbeResult: nodescripts.ProbeResult{Address: "::1", Port: 1, Result: "refused"}, Object: "external/[::1]:1"}}},
			id: IDInternet, want: checks.StatusInfo, says: "outbound only"},
		{name: "no external", probe: true, in: Input{}, id: IDInternet, want: checks.StatusSkip, says: "--external"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := result(t, tt.in, tt.listen, tt.probe, tt.id)
			if r.Status != tt.want || (tt.says != "" && !mentions(r, tt.says)) {
				t.Errorf("%s = %s %q %+v, want %s mentioning %q", tt.id, r.Status, r.Summary, r.Findings, tt.want, tt.says)
			}
		})
	}
	if n := len(Verify(Input{}, false, false)); n != 3 {
		t.Errorf("without --listen/--probe %d checks, want 3", n)
	}
}
