package ipv6

import (
	corev1 "k8s.io/api/core/v1"
)

// ipv6 verify keeps of each object only what its checks and the listen and
// probe steps read, in types of its own: a few hundred bytes per pod while it
// pages, where a corev1.Pod (even stripped) takes kilobytes, so `ipv6 verify
// -A` on a large cluster stays small like doctor.

// Node is what the checks read of a Node.
type Node struct {
	Name     string
	PodCIDRs []string
	// Has6InternalIP: one of its InternalIP addresses is IPv6.
	Has6InternalIP bool
	Ready          bool
}

// Pod is what the checks read of a Pod.
type Pod struct {
	Namespace, Name, Node string
	HostNetwork           bool
	Running               bool
	// PodIP is status.podIP, IPs status.podIPs.
	PodIP string
	IPs   []string
	Ports []Port
}

// Port is a declared container port, or a Service port.
type Port struct {
	Container string // "" for a Service port
	Port      int32
	Protocol  corev1.Protocol
}

// TCP reports whether the port is TCP (the default protocol).
func (p Port) TCP() bool { return p.Protocol == "" || p.Protocol == corev1.ProtocolTCP }

// OnPodNetwork reports whether the pod runs, outside the node's network namespace.
func (p *Pod) OnPodNetwork() bool { return p.Running && !p.HostNetwork }

// TCPPorts are the pod's declared TCP ports.
func (p *Pod) TCPPorts() []int {
	var out []int
	for _, port := range p.Ports {
		if port.TCP() {
			out = append(out, int(port.Port))
		}
	}
	return out
}

// Service is what the checks read of a Service.
type Service struct {
	Namespace, Name string
	Type            corev1.ServiceType
	ClusterIP       string
	ClusterIPs      []string
	// Policy is spec.ipFamilyPolicy, "" when unset.
	Policy corev1.IPFamilyPolicy
	Ports  []Port
}

// CompactPod keeps the pod's name, node, network mode, phase, IPs and
// declared container ports.
func CompactPod(p *corev1.Pod) Pod {
	out := Pod{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork,
		Running: p.Status.Phase == corev1.PodRunning, PodIP: p.Status.PodIP}
	for _, ip := range p.Status.PodIPs {
		out.IPs = append(out.IPs, ip.IP)
	}
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			out.Ports = append(out.Ports, Port{Container: c.Name, Port: port.ContainerPort, Protocol: port.Protocol})
		}
	}
	return out
}

// CompactNode keeps the node's name, pod CIDRs, whether it has an IPv6
// InternalIP, and whether it is Ready.
func CompactNode(n *corev1.Node) Node {
	out := Node{Name: n.Name, PodCIDRs: n.Spec.PodCIDRs}
	if len(out.PodCIDRs) == 0 && n.Spec.PodCIDR != "" {
		out.PodCIDRs = []string{n.Spec.PodCIDR}
	}
	for _, a := range n.Status.Addresses {
		out.Has6InternalIP = out.Has6InternalIP || (a.Type == corev1.NodeInternalIP && is6(a.Address))
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return out
}

// CompactService keeps the Service's name, type, ClusterIPs, IP family
// policy and ports.
func CompactService(s *corev1.Service) Service {
	out := Service{Namespace: s.Namespace, Name: s.Name, Type: s.Spec.Type, ClusterIP: s.Spec.ClusterIP, ClusterIPs: s.Spec.ClusterIPs}
	if s.Spec.IPFamilyPolicy != nil {
		out.Policy = *s.Spec.IPFamilyPolicy
	}
	for _, p := range s.Spec.Ports {
		out.Ports = append(out.Ports, Port{Port: p.Port, Protocol: p.Protocol})
	}
	return out
}
