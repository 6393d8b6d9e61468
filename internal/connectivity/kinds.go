// Package connectivity plans and explains the traffic test of
// `kubectl acknet connectivity test`: which paths to try between which test
// pods (a matrix of cells), and, for a cell that fails, the doctor checks and
// FAQ entries that typically cause it. Planning and explaining are pure; the
// Runner deploys the test workloads and sends the traffic.
package connectivity

// Kind is a path through the cluster network; its name is the catalog ID.
type Kind string

// The paths of the catalog (docs/checks.md, "Connectivity").
const (
	PodPodSameNode  Kind = "conn.pod-pod-same-node"
	PodPodCrossNode Kind = "conn.pod-pod-cross-node"
	Hairpin         Kind = "conn.hairpin"
	ClusterIP       Kind = "conn.clusterip"
	NodePort        Kind = "conn.nodeport"
	Headless        Kind = "conn.headless"
	HostNetwork     Kind = "conn.host-network"
	DNS             Kind = "conn.dns"
	External        Kind = "conn.external"
)

// KindInfo says what a path is and what typically breaks it.
type KindInfo struct {
	Kind  Kind
	Title string
	// Causes are the doctor checks whose findings typically explain a
	// failure; Hint says it in words, with the FAQ entry where there is one.
	Causes []string
	Hint   string
}

// Kinds is the catalog of paths, in report order.
var Kinds = []KindInfo{
	{PodPodSameNode, "Pod to pod on the same node", []string{"flannel.cni-version", "cni.third-party", "terway.network-policy"},
		"the node's CNI bridge (Flannel cni0) or IPvlan/veth setup, or a NetworkPolicy"},
	{PodPodCrossNode, "Pod to pod across nodes", []string{"node.network-unavailable", "ccm.route-tables"},
		"the VPC route to the other node's pod CIDR (Flannel: added by the cloud-controller-manager; a full or second route table), or security groups"},
	{Hairpin, "Pod to a Service that balances back to itself", []string{"flannel.hairpin"},
		"hairpinMode off in the Flannel delegate (FAQ: a pod cannot reach a Service that load-balances back to itself)"},
	{ClusterIP, "Pod to the ClusterIP of a Service on another node", []string{"kubeproxy.config", "kubeproxy.proxier", "node.ipvs-modules", "terway.in-cluster-lb"},
		"kube-proxy not running or not programming Services on the client's node (config, IPVS modules), or IPvlan without in_cluster_loadbalance"},
	{NodePort, "Pod to a NodePort", []string{"kubeproxy.config", "kubeproxy.proxier", "node.ipvs-modules"},
		"kube-proxy on the target node"},
	{Headless, "Pod to a headless Service by name", []string{"coredns.cluster-domain", "dns.nodelocal"},
		"CoreDNS (not running, not watching Services, or a cluster domain that clashes)"},
	{HostNetwork, "Between pods, hostNetwork pods and nodes", []string{"node.network-unavailable", "terway.in-cluster-lb"},
		"routes between the pod network and the node (CNI routes; Terway IPvlan host path)"},
	{DNS, "Pod to CoreDNS (kube-dns), UDP and TCP", []string{"coredns.cluster-domain", "kubeproxy.ipvs-udp-timeout", "node.conntrack-usage", "dns.nodelocal"},
		"CoreDNS down or unreachable through the kube-dns Service; stale IPVS UDP sessions after a CoreDNS restart (FAQ: ipvs udpTimeout); a full conntrack table"},
	{External, "Pod to a target outside the cluster", nil,
		"no SNAT entry for the vSwitch on the NAT gateway, or no IPv6 gateway"},
}

// Info returns the catalog entry of k.
func Info(k Kind) KindInfo {
	for _, i := range Kinds {
		if i.Kind == k {
			return i
		}
	}
	return KindInfo{Kind: k, Title: string(k)}
}
