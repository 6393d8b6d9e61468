package checks

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// contractIDs are the public check IDs of the catalog. Renaming one breaks
// users' --checks filters and CI pipelines.
var contractIDs = []string{
	"cluster.network-plugin", "cluster.kube-proxy", "cluster.ip-families", "cluster.cluster-domain",
	"cni.third-party", "flannel.cni-version", "flannel.hairpin", "flannel.ipam-datadir", "flannel.ip-exhausted",
	"node.pod-cidr-capacity", "node.network-unavailable", "ccm.route-tables", "terway.eni-config",
	"terway.vswitch-ip-exhausted", "terway.in-cluster-lb", "terway.network-policy", "terway.dynamic-config",
	"terway.eip-pool", "terway.mac-not-found", "terway.hostport", "terway.pod-outside-vswitch", "kubeproxy.config",
	"kubeproxy.conntrack-max-per-core", "kubeproxy.ipvs-udp-timeout", "kubeproxy.ipvs-scheduler", "kubeproxy.proxier",
	"kubeproxy.master-worker-drift", "coredns.cluster-domain", "dns.nodelocal",
	"node.conntrack-usage", "node.ipvs-modules", "node.ipvs-timeouts", "node.flannel-ip-leak", "node.flannel-ipam-tmpfs",
	"cloud.vswitch-headroom", "cloud.pod-outside-vswitch", "cloud.eni-quota", "cloud.route-entries", "cloud.route-tables", "cloud.snat",
}

func TestCatalogIDsAreTheContract(t *testing.T) {
	var got []string
	seen := map[string]bool{}
	for _, c := range All() {
		if seen[c.ID] {
			t.Errorf("duplicate check ID %s", c.ID)
		}
		seen[c.ID] = true
		got = append(got, c.ID)
	}
	want := append([]string{}, contractIDs...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("check IDs differ from the contract:\n got %v\nwant %v", got, want)
	}
}

// Case kinds; every check must have a case of each kind that applies to it.
const (
	kTrigger   = "trigger"   // the check reports the problem (or the fact)
	kPass      = "pass"      // healthy input
	kNA        = "n/a"       // the check does not concern this cluster
	kForbidden = "forbidden" // a read it needs was refused
)

type checkCase struct {
	id       string
	kind     string
	name     string
	snap     *snapB
	want     Status
	contains string // in the summary or a finding
	absent   string // in neither
}

func checkCases() []checkCase {
	old := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []checkCase{
		// cluster.network-plugin
		{id: "cluster.network-plugin", kind: kTrigger, name: "terway shared ENI with datapathv2",
			snap: snapshot().terway("terway-eniip", "v1.16.7").cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "10-terway.conf", `{"type":"terway","eniip_virtual_type":"DataPathV2"}`),
			want: StatusInfo, contains: "Terway v1.16.7, shared ENI (DaemonSet terway-eniip), no node runs exclusive ENI (label k8s.aliyun.com/exclusive-mode-eni-type=eniOnly), acceleration: datapathv2"},
		{id: "cluster.network-plugin", kind: kTrigger, name: "terway 1.11+: the exclusive-ENI pools by name", snap: snapshot().terway("terway-eniip", "v1.16.7").
			node("n1", func(n *cluster.Node) {
				n.Labels = map[string]string{LabelExclusiveENI: LabelExclusiveENIValue, LabelNodePool: "np-gpu"}
			}).node("n2"), want: StatusInfo, contains: "exclusive ENI on 1 node: n1", absent: "n2"},
		{id: "cluster.network-plugin", kind: kTrigger, name: "legacy terway DS in ENIOnly mode",
			snap: snapshot().terway("terway", "v1.2.3", "/usr/bin/terwayd", "-daemon-mode", "ENIOnly"), want: StatusInfo, contains: "exclusive ENI"},
		{id: "cluster.network-plugin", kind: kTrigger, name: "legacy terway DS in VPC mode",
			snap: snapshot().terway("terway", "v1.0.10"), want: StatusInfo, contains: "VPC"},
		{id: "cluster.network-plugin", kind: kPass, name: "flannel", snap: snapshot().flannel("v0.15.1.5-11d1c700-aliyun"), want: StatusInfo, contains: "Flannel v0.15.1.5-11d1c700-aliyun"},
		{id: "cluster.network-plugin", kind: kForbidden, name: "daemonsets forbidden", snap: snapshot().forbid(cluster.ReadDaemonSets), want: StatusSkip, contains: "Forbidden"},

		// cluster.kube-proxy
		{id: "cluster.kube-proxy", kind: kTrigger, name: "ipvs", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned),
			want: StatusInfo, contains: "mode ipvs, scheduler rr, udpTimeout 10s, conntrack.maxPerCore 65536"},
		{id: "cluster.kube-proxy", kind: kPass, name: "flags only", snap: snapshot().cm(cluster.CMKubeProxyWorker, "kubeconfig.conf", "x").
			ds("kube-system", "kube-proxy-worker", nil, cluster.Container{Name: "kube-proxy-worker", Args: []string{"/usr/local/bin/kube-proxy", "--proxy-mode=ipvs"}}),
			want: StatusInfo, contains: "mode ipvs, scheduler rr"},
		{id: "cluster.kube-proxy", kind: kForbidden, name: "configmap forbidden", snap: snapshot().readErr(cluster.ConfigMapRead(cluster.CMKubeProxyWorker), "Forbidden"), want: StatusSkip, contains: "Forbidden"},

		// cluster.ip-families
		{id: "cluster.ip-families", kind: kTrigger, name: "dual-stack", snap: snapshot().node("a", podCIDRs("10.0.0.0/24", "fd00::/64")).
			service("default", "web", "RequireDualStack", []string{"10.96.0.10", "fd00:10:96::a"}), want: StatusInfo, contains: "dual-stack: 1/1 nodes have an IPv4 pod CIDR, 1/1 an IPv6 one; 1/1 Services"},
		{id: "cluster.ip-families", kind: kPass, name: "ipv4", snap: snapshot().node("a", podCIDRs("10.0.0.0/24")), want: StatusInfo, contains: "IPv4:"},
		{id: "cluster.ip-families", kind: kForbidden, name: "nodes forbidden", snap: snapshot().forbid(cluster.ReadNodes), want: StatusSkip, contains: "Forbidden"},

		// cluster.cluster-domain
		{id: "cluster.cluster-domain", kind: kTrigger, name: "custom", snap: snapshot().cm(cluster.CMCoreDNS, "Corefile", fmt.Sprintf(corefileTemplated, "mesh.internal")), want: StatusInfo, contains: "mesh.internal"},
		{id: "cluster.cluster-domain", kind: kPass, name: "default", snap: snapshot().cm(cluster.CMCoreDNS, "Corefile", corefileDefault), want: StatusInfo, contains: "cluster.local"},
		{id: "cluster.cluster-domain", kind: kForbidden, name: "forbidden", snap: snapshot().readErr(cluster.ConfigMapRead(cluster.CMCoreDNS), "Forbidden"), want: StatusSkip, contains: "Forbidden"},

		// cni.third-party
		{id: "cni.third-party", kind: kTrigger, name: "calico beside terway", snap: terwayCluster().ds("kube-system", "calico-node", map[string]string{"k8s-app": "calico-node"}), want: StatusFail, contains: "kube-system/DaemonSet/calico-node"},
		{id: "cni.third-party", kind: kTrigger, name: "cilium by label in its own namespace", snap: snapshot().ds("cilium-system", "agent", map[string]string{"k8s-app": "cilium"}), want: StatusFail, contains: "Cilium"},
		{id: "cni.third-party", kind: kPass, name: "terway embeds cilium as policy container", snap: snapshot().ds("kube-system", "terway-eniip", map[string]string{"app": "terway-eniip"},
			cluster.Container{Name: "policy", Image: "registry/acs/terway:v1.16.7"}), want: StatusPass},
		{id: "cni.third-party", kind: kForbidden, name: "forbidden", snap: snapshot().forbid(cluster.ReadDaemonSets), want: StatusSkip, contains: "Forbidden"},

		// flannel.cni-version
		{id: "flannel.cni-version", kind: kTrigger, name: "missing cniVersion", snap: flannelCluster(flannelCNINoVer), want: StatusFail, contains: "has no cniVersion"},
		{id: "flannel.cni-version", kind: kPass, name: "set", snap: flannelCluster(flannelCNIGood), want: StatusPass, contains: "0.3.1"},
		{id: "flannel.cni-version", kind: kPass, name: "old kubernetes needs none", snap: flannelCluster(flannelCNINoVer).version(1, 14), want: StatusSkip, contains: "older than 1.16"},
		{id: "flannel.cni-version", kind: kNA, name: "terway cluster", snap: terwayCluster(), want: StatusSkip, contains: "not applicable"},
		{id: "flannel.cni-version", kind: kForbidden, name: "configmap forbidden", snap: flannelCluster(flannelCNIGood).readErr(cluster.ConfigMapRead(cluster.CMFlannel), "Forbidden"), want: StatusSkip, contains: "Forbidden"},
		{id: "flannel.cni-version", kind: kTrigger, name: "broken JSON is a finding", snap: flannelCluster(`{"name":"cb0",`), want: StatusFail, contains: "not valid JSON"},

		// flannel.hairpin
		{id: "flannel.hairpin", kind: kTrigger, name: "unset", snap: flannelCluster(flannelCNINoVer), want: StatusWarn, contains: "hairpinMode is unset"},
		{id: "flannel.hairpin", kind: kTrigger, name: "set on a flannel that ignores it", snap: snapshot().flannel("v0.15.1.3-aaaa-aliyun").cm(cluster.CMFlannel, "cni-conf.json", flannelCNIGood), want: StatusWarn, contains: "does not allow loopback"},
		{id: "flannel.hairpin", kind: kPass, name: "true", snap: flannelCluster(flannelCNIGood), want: StatusPass},
		{id: "flannel.hairpin", kind: kNA, name: "terway", snap: terwayCluster(), want: StatusSkip, contains: "not applicable"},
		{id: "flannel.hairpin", kind: kForbidden, name: "daemonsets and configmap forbidden", snap: snapshot().forbid(cluster.ReadDaemonSets), want: StatusSkip, contains: "Forbidden"},

		// flannel.ipam-datadir
		{id: "flannel.ipam-datadir", kind: kTrigger, name: "old flannel", snap: snapshot().flannel("v0.15.1.5-11d1c700-aliyun").cm(cluster.CMFlannel, "cni-conf.json", flannelCNIGood), want: StatusWarn, contains: "older than v0.15.1.11"},
		{id: "flannel.ipam-datadir", kind: kTrigger, name: "new flannel, dirs on disk", snap: flannelCluster(flannelCNINoVer), want: StatusWarn, contains: "/var/lib/cni/networks"},
		{id: "flannel.ipam-datadir", kind: kPass, name: "tmpfs", snap: flannelCluster(flannelCNIGood), want: StatusPass},
		{id: "flannel.ipam-datadir", kind: kNA, name: "terway", snap: terwayCluster(), want: StatusSkip, contains: "not applicable"},
		{id: "flannel.ipam-datadir", kind: kForbidden, name: "forbidden", snap: flannelCluster(flannelCNIGood).readErr(cluster.ConfigMapRead(cluster.CMFlannel), "Forbidden"), want: StatusSkip, contains: "Forbidden"},

		// flannel.ip-exhausted
		{id: "flannel.ip-exhausted", kind: kTrigger, name: "events on one node",
			snap: flannelCluster(flannelCNIGood).event("Pod", "batch", "job-1", "failed to allocate for range 0: no IP addresses available in range set: 172.20.1.1-172.20.1.254", 7, time.Minute).tracked("batch", "job-1", "node-a", corev1.PodPending),
			want: StatusFail, contains: "node/node-a"},
		{id: "flannel.ip-exhausted", kind: kTrigger, name: "Kubernetes 1.18, fixed Flannel: only the cluster upgrade",
			snap: flannelCluster(flannelCNIGood).version(1, 18).event("Pod", "batch", "job-1", "no IP addresses available in range set: 172.20.1.1-172.20.1.254", 7, time.Minute).tracked("batch", "job-1", "node-a", corev1.PodPending),
			want: StatusFail, contains: "upgrade the cluster to Kubernetes 1.20 or later", absent: "upgrade the Flannel"},
		{id: "flannel.ip-exhausted", kind: kTrigger, name: "Kubernetes 1.30, old Flannel: only the Flannel upgrade",
			snap: snapshot().flannel("v0.15.1.5-11d1c700-aliyun").cm(cluster.CMFlannel, "cni-conf.json", flannelCNIGood).event("Pod", "batch", "job-1", "no IP addresses available in range set: 172.20.1.1-172.20.1.254", 7, time.Minute).tracked("batch", "job-1", "node-a", corev1.PodPending),
			want: StatusFail, contains: "upgrade the Flannel add-on to v0.15.1.11-7e95fe23-aliyun or later", absent: "Kubernetes 1.20 or later"},
		{id: "flannel.ip-exhausted", kind: kTrigger, name: "both fixed: no upgrade advised",
			snap: flannelCluster(flannelCNIGood).event("Pod", "batch", "job-1", "no IP addresses available in range set: 172.20.1.1-172.20.1.254", 7, time.Minute).tracked("batch", "job-1", "node-a", corev1.PodPending),
			want: StatusFail, contains: "neither cause of leaks the FAQ names applies", absent: "upgrade"},
		{id: "flannel.ip-exhausted", kind: kTrigger, name: "both old: both upgrades",
			snap: snapshot().version(1, 16).flannel("v0.15.1.5-11d1c700-aliyun").cm(cluster.CMFlannel, "cni-conf.json", flannelCNIGood).event("Pod", "batch", "job-1", "no IP addresses available in range set: 172.20.1.1-172.20.1.254", 7, time.Minute).tracked("batch", "job-1", "node-a", corev1.PodPending),
			want: StatusFail, contains: "upgrade the cluster to Kubernetes 1.20 or later; upgrade the Flannel add-on"},
		{id: "flannel.ip-exhausted", kind: kPass, name: "no events", snap: flannelCluster(flannelCNIGood), want: StatusPass},
		{id: "flannel.ip-exhausted", kind: kNA, name: "terway", snap: terwayCluster(), want: StatusSkip, contains: "not applicable"},
		{id: "flannel.ip-exhausted", kind: kForbidden, name: "events forbidden", snap: flannelCluster(flannelCNIGood).forbid(cluster.ReadEvents), want: StatusSkip, contains: "cannot read events"},

		// node.pod-cidr-capacity
		{id: "node.pod-cidr-capacity", kind: kTrigger, name: "full /28", snap: flannelCluster(flannelCNIGood).node("a", podCIDRs("172.20.1.0/28")).podIPs("a", 13), want: StatusFail, contains: "13 of 13"},
		{id: "node.pod-cidr-capacity", kind: kTrigger, name: "93% of /27", snap: flannelCluster(flannelCNIGood).node("a", podCIDRs("172.20.1.0/27")).podIPs("a", 27), want: StatusWarn, contains: "27 of 29"},
		{id: "node.pod-cidr-capacity", kind: kPass, name: "roomy", snap: flannelCluster(flannelCNIGood).node("a", podCIDRs("172.20.1.0/24")).podIPs("a", 100), want: StatusPass, contains: "at 40%"},
		{id: "node.pod-cidr-capacity", kind: kNA, name: "terway", snap: terwayCluster(), want: StatusSkip, contains: "not applicable"},
		{id: "node.pod-cidr-capacity", kind: kForbidden, name: "pods forbidden", snap: flannelCluster(flannelCNIGood).forbid(cluster.ReadPods), want: StatusSkip, contains: "cannot read pods"},

		// node.network-unavailable
		{id: "node.network-unavailable", kind: kTrigger, name: "condition", snap: flannelCluster(flannelCNIGood).node("a", netUnavailable), want: StatusFail, contains: "NoRouteCreated"},
		{id: "node.network-unavailable", kind: kTrigger, name: "taint only", snap: snapshot().node("b", taint("node.kubernetes.io/network-unavailable")), want: StatusFail, contains: "taint"},
		{id: "node.network-unavailable", kind: kPass, name: "fine", snap: snapshot().node("a", taint("other")), want: StatusPass},
		{id: "node.network-unavailable", kind: kForbidden, name: "nodes forbidden", snap: snapshot().forbid(cluster.ReadNodes), want: StatusSkip, contains: "Forbidden"},

		// ccm.route-tables
		{id: "ccm.route-tables", kind: kTrigger, name: "multiple route tables", snap: snapshot().reasonEvent("Node", "node-a", "CreateRouteFailed", "multiple route tables found by vpc id[vpc-1]"), want: StatusFail, contains: "node/node-a"},
		{id: "ccm.route-tables", kind: kTrigger, name: "another route failure: no route-table advice it cannot back", snap: snapshot().reasonEvent("Node", "node-b", "CreateRouteFailed", "Error creating route entry: QuotaExceeded.Route"),
			want: StatusFail, contains: "kubectl describe node node-b", absent: "routeTableIDs"},
		{id: "ccm.route-tables", kind: kPass, name: "none", snap: snapshot(), want: StatusPass},
		{id: "ccm.route-tables", kind: kForbidden, name: "events forbidden", snap: snapshot().forbid(cluster.ReadEvents), want: StatusSkip, contains: "Forbidden"},

		// terway.eni-config
		{id: "terway.eni-config", kind: kTrigger, name: "missing", snap: snapshot().terway("terway-eniip", "v1.16.7").missing(cluster.CMENIConfig), want: StatusFail, contains: "does not exist"},
		{id: "terway.eni-config", kind: kTrigger, name: "broken JSON", snap: snapshot().terway("terway-eniip", "v1.16.7").cm(cluster.CMENIConfig, "eni_conf", "{\n\"vswitches\": ,\n}"), want: StatusFail, contains: "line 2"},
		{id: "terway.eni-config", kind: kTrigger, name: "no vswitch", snap: snapshot().terway("terway-eniip", "v1.16.7").cm(cluster.CMENIConfig, "eni_conf", `{"version":"1"}`), want: StatusFail, contains: "names no vSwitch"},
		{id: "terway.eni-config", kind: kPass, name: "VPC mode needs no vswitch", snap: snapshot().terway("terway", "v1.0.10", "-daemon-mode", "VPC").cm(cluster.CMENIConfig, "eni_conf", `{"version":"1"}`), want: StatusPass},
		{id: "terway.eni-config", kind: kPass, name: "valid", snap: terwayCluster(), want: StatusPass, contains: "vsw-test0001"},
		{id: "terway.eni-config", kind: kNA, name: "flannel", snap: flannelCluster(flannelCNIGood), want: StatusSkip, contains: "not applicable"},
		{id: "terway.eni-config", kind: kForbidden, name: "forbidden", snap: snapshot().terway("terway-eniip", "v1.16.7").readErr(cluster.ConfigMapRead(cluster.CMENIConfig), "Forbidden"), want: StatusSkip, contains: "Forbidden"},

		// terway.vswitch-ip-exhausted
		{id: "terway.vswitch-ip-exhausted", kind: kTrigger, name: "events name the vswitch",
			snap: terwayCluster().event("Pod", "shop", "web-1", "InvalidVSwitchId.IpNotEnough: The specified VSwitch \"vsw-abc123\" has not enough IpAddress.", 3, time.Minute).tracked("shop", "web-1", "n1", corev1.PodPending),
			want: StatusFail, contains: "vswitch/vsw-abc123"},
		{id: "terway.vswitch-ip-exhausted", kind: kTrigger, name: "the FAQ's route first: the add-on's PodVswitchId", snap: terwayCluster().logs("kube-system/terway-eniip-x", "alloc failed: InvalidVSwitchId.IpNotEnough vsw-log0001"), want: StatusFail, contains: "prefix /19 or shorter, >= 8192 addresses) and add it in the Terway add-on's configuration (PodVswitchId"},
		{id: "terway.vswitch-ip-exhausted", kind: kTrigger, name: "only in logs", snap: terwayCluster().logs("kube-system/terway-eniip-x", "alloc failed: InvalidVSwitchId.IpNotEnough vsw-log0001"), want: StatusFail, contains: "1 Terway log lines"},
		{id: "terway.vswitch-ip-exhausted", kind: kPass, name: "none", snap: terwayCluster(), want: StatusPass},
		{id: "terway.vswitch-ip-exhausted", kind: kNA, name: "flannel", snap: flannelCluster(flannelCNIGood), want: StatusSkip, contains: "not applicable"},
		{id: "terway.vswitch-ip-exhausted", kind: kForbidden, name: "events forbidden", snap: terwayCluster().forbid(cluster.ReadEvents), want: StatusSkip, contains: "cannot read events"},

		// terway.in-cluster-lb
		{id: "terway.in-cluster-lb", kind: kTrigger, name: "ipvlan without it", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "10-terway.conf", terwayCNIIPVlan), want: StatusWarn, contains: "missing"},
		{id: "terway.in-cluster-lb", kind: kTrigger, name: "ipvlan with it inside eni_conf", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", `{"vswitches":{"a":["vsw-1"]},"in_cluster_loadbalance":"true"}`, "10-terway.conf", terwayCNIIPVlan), want: StatusFail, contains: "sibling of eni_conf"},
		{id: "terway.in-cluster-lb", kind: kTrigger, name: "value True is not true", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "10-terway.conf", terwayCNIIPVlan, "in_cluster_loadbalance", "True"), want: StatusWarn, contains: `"True"`},
		{id: "terway.in-cluster-lb", kind: kTrigger, name: "Terway before v1.2.0", snap: snapshot().terway("terway-eniip", "v1.1.6").cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "10-terway.conf", terwayCNIIPVlan, "in_cluster_loadbalance", "true"),
			want: StatusWarn, contains: "older than v1.2.0"},
		{id: "terway.in-cluster-lb", kind: kTrigger, name: "--logs: a pod started without it", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "10-terway.conf", terwayCNIIPVlan, "in_cluster_loadbalance", "true").
			terwayPod("terway-eniip-a", "n1", `turning up in cluster loadbalance, passing args " --enable-in-cluster-loadbalance=true "`).terwayPod("terway-eniip-b", "n2"),
			want: StatusInfo, contains: "kube-system/Pod/terway-eniip-b", absent: "terway-eniip-a"},
		{id: "terway.in-cluster-lb", kind: kPass, name: "--logs: took effect everywhere", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "10-terway.conf", terwayCNIIPVlan, "in_cluster_loadbalance", "true").
			terwayPod("terway-eniip-a", "n1", `turning up in cluster loadbalance, passing args " --enable-in-cluster-loadbalance=true "`),
			want: StatusPass, contains: "took effect on every Terway pod (1, policy log)"},
		{id: "terway.in-cluster-lb", kind: kPass, name: "set", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "10-terway.conf", terwayCNIIPVlan, "in_cluster_loadbalance", "true"), want: StatusPass},
		{id: "terway.in-cluster-lb", kind: kNA, name: "veth mode", snap: terwayCluster(), want: StatusSkip, contains: "not applicable"},
		{id: "terway.in-cluster-lb", kind: kForbidden, name: "forbidden", snap: terwayCluster().forbid(cluster.ConfigMapRead(cluster.CMENIConfig)), want: StatusSkip, contains: "Forbidden"},

		// terway.network-policy
		{id: "terway.network-policy", kind: kTrigger, name: "enabled", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "disable_network_policy", "false"), want: StatusInfo, contains: "enabled"},
		{id: "terway.network-policy", kind: kPass, name: "disabled", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "disable_network_policy", "true"), want: StatusInfo, contains: "disabled"},
		{id: "terway.network-policy", kind: kNA, name: "flannel", snap: flannelCluster(flannelCNIGood), want: StatusSkip, contains: "not applicable"},
		{id: "terway.network-policy", kind: kForbidden, name: "forbidden", snap: terwayCluster().forbid(cluster.ConfigMapRead(cluster.CMENIConfig)), want: StatusSkip, contains: "Forbidden"},

		// terway.dynamic-config
		{id: "terway.dynamic-config", kind: kTrigger, name: "named configmap missing", snap: terwayCluster().node("n1", nodeLabel("terway-config", "eni-gpu")).missing("eni-gpu"), want: StatusFail, contains: "does not exist"},
		{id: "terway.dynamic-config", kind: kTrigger, name: "broken JSON", snap: terwayCluster().node("n1", nodeLabel("terway-config", "eni-gpu")).cm("eni-gpu", "eni_conf", "{"), want: StatusFail, contains: "not valid JSON"},
		{id: "terway.dynamic-config", kind: kTrigger, name: "no vswitch warns", snap: terwayCluster().node("n1", nodeLabel("terway-config", "eni-gpu")).cm("eni-gpu", "eni_conf", `{"security_groups":["sg-1"]}`), want: StatusWarn, contains: "names no vSwitch"},
		{id: "terway.dynamic-config", kind: kTrigger, name: "eni-config-fixed without the FAQ's taint", snap: terwayCluster().node("f1", nodeLabel("terway-config", "eni-config-fixed"), func(n *cluster.Node) {
			// Kubernetes' own taints are no setting of the node pool.
			n.Taints = []corev1.Taint{{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}}
		}).
			node("f2", nodeLabel("terway-config", "eni-config-fixed"), func(n *cluster.Node) {
				n.Taints = []corev1.Taint{{Key: "fixed", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
			}).cm("eni-config-fixed", "eni_conf", `{"vswitches":{"cn-beijing-h":["vsw-fixed"]}}`),
			want: StatusWarn, contains: "1 node labelled terway-config=eni-config-fixed without a NoSchedule taint (f1)", absent: "f2"},
		{id: "terway.dynamic-config", kind: kTrigger, name: "fixed vSwitch: too small", snap: fixedPool("10.2.1.0/28", 8, true), want: StatusWarn, contains: "hold 12 usable IPs for 8 pods"},
		{id: "terway.dynamic-config", kind: kTrigger, name: "fixed vSwitch: the pod outside it is named", snap: fixedPool("10.2.1.0/24", 8, true), want: StatusWarn, contains: "db/client-1 10.0.3.9"},
		{id: "terway.dynamic-config", kind: kPass, name: "fixed vSwitch large enough, pods inside, tainted", snap: fixedPool("10.2.1.0/24", 8, false), want: StatusPass},
		{id: "terway.dynamic-config", kind: kPass, name: "valid", snap: terwayCluster().node("n1", nodeLabel("terway-config", "eni-gpu")).cm("eni-gpu", "eni_conf", eniConfOK), want: StatusPass},
		{id: "terway.dynamic-config", kind: kNA, name: "no labels", snap: terwayCluster().node("n1"), want: StatusSkip, contains: "not applicable"},
		{id: "terway.dynamic-config", kind: kForbidden, name: "configmap forbidden", snap: terwayCluster().node("n1", nodeLabel("terway-config", "eni-gpu")).forbid(cluster.ConfigMapRead("eni-gpu")), want: StatusSkip, contains: "Forbidden"},

		// terway.eip-pool
		{id: "terway.eip-pool", kind: kTrigger, name: "enabled", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", `{"vswitches":{"a":["vsw-1"]},"enable_eip_pool":"true"}`), want: StatusWarn, contains: "eip pool is not supported"},
		{id: "terway.eip-pool", kind: kTrigger, name: "events: an upgrade failed", snap: terwayCluster().cm(cluster.CMENIConfig, "eni_conf", `{"vswitches":{"a":["vsw-1"]},"enable_eip_pool":"true"}`).
			event("Pod", "kube-system", "terway-eniip-x", "eip pool is not supported, please migrate to ack-extend-network-controller", 4, time.Minute), want: StatusFail, contains: "kube-system/Pod/terway-eniip-x"},
		{id: "terway.eip-pool", kind: kPass, name: "off", snap: terwayCluster(), want: StatusPass},
		{id: "terway.eip-pool", kind: kNA, name: "flannel", snap: flannelCluster(flannelCNIGood), want: StatusSkip, contains: "not applicable"},
		{id: "terway.eip-pool", kind: kForbidden, name: "forbidden", snap: terwayCluster().forbid(cluster.ConfigMapRead(cluster.CMENIConfig)), want: StatusSkip, contains: "Forbidden"},

		// terway.mac-not-found
		{id: "terway.mac-not-found", kind: kTrigger, name: "stuck 10 minutes", snap: terwayCluster().event("Pod", "shop", "web-2", "can't found dev by mac 00:16:3e:00:00:01", 4, 10*time.Minute).tracked("shop", "web-2", "n1", corev1.PodPending), want: StatusWarn, contains: "restart the ECS instance of node n1"},
		{id: "terway.mac-not-found", kind: kPass, name: "young is transient", snap: terwayCluster().event("Pod", "shop", "web-2", "can't found dev by mac 00:16:3e:00:00:01", 1, time.Minute).tracked("shop", "web-2", "n1", corev1.PodPending), want: StatusInfo, contains: "usually transient"},
		{id: "terway.mac-not-found", kind: kPass, name: "recovered", snap: terwayCluster().event("Pod", "shop", "web-2", "can't found dev by mac 00:16:3e:00:00:01", 1, time.Hour).tracked("shop", "web-2", "n1", corev1.PodRunning), want: StatusPass},
		{id: "terway.mac-not-found", kind: kNA, name: "flannel", snap: flannelCluster(flannelCNIGood), want: StatusSkip, contains: "not applicable"},
		{id: "terway.mac-not-found", kind: kForbidden, name: "events forbidden", snap: terwayCluster().forbid(cluster.ReadEvents), want: StatusSkip, contains: "cannot read events"},

		// terway.hostport
		{id: "terway.hostport", kind: kTrigger, name: "hostPort pod", snap: func() *snapB {
			b := terwayCluster()
			b.s.Pods.HostPortCount = 1
			b.s.Pods.HostPort = []cluster.PodRef{{Namespace: "edge", Name: "gw", Node: "n1", Detail: "envoy 443/TCP"}}
			return b
		}(), want: StatusWarn, contains: "edge/Pod/gw"},
		{id: "terway.hostport", kind: kPass, name: "none", snap: terwayCluster(), want: StatusPass},
		{id: "terway.hostport", kind: kNA, name: "flannel supports it", snap: flannelCluster(flannelCNIGood), want: StatusSkip, contains: "not applicable"},
		{id: "terway.hostport", kind: kForbidden, name: "pods forbidden", snap: terwayCluster().forbid(cluster.ReadPods), want: StatusSkip, contains: "cannot read pods"},

		// terway.pod-outside-vswitch
		{id: "terway.pod-outside-vswitch", kind: kTrigger, name: "stale ENI", snap: func() *snapB {
			b := terwayCluster()
			b.s.VSwitchCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
			b.s.Pods.OutsideVSwitchCount = 1
			b.s.Pods.OutsideVSwitch = []cluster.PodRef{{Namespace: "a", Name: "p", Node: "n1", Detail: "172.16.0.9"}}
			return b
		}(), want: StatusWarn, contains: "172.16.0.9"},
		{id: "terway.pod-outside-vswitch", kind: kPass, name: "all inside", snap: func() *snapB {
			b := terwayCluster()
			b.s.VSwitchCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
			return b
		}(), want: StatusPass},
		{id: "terway.pod-outside-vswitch", kind: kPass, name: "CIDRs unknown", snap: terwayCluster(), want: StatusSkip, contains: "--vswitch-cidrs"},
		{id: "terway.pod-outside-vswitch", kind: kNA, name: "flannel", snap: flannelCluster(flannelCNIGood), want: StatusSkip, contains: "not applicable"},
		{id: "terway.pod-outside-vswitch", kind: kForbidden, name: "pods forbidden", snap: func() *snapB {
			b := terwayCluster().forbid(cluster.ReadPods)
			b.s.VSwitchCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
			return b
		}(), want: StatusSkip, contains: "cannot read pods"},

		// kubeproxy.config
		{id: "kubeproxy.config", kind: kTrigger, name: "missing space", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpHead+"mode:ipvs\nipvs:\n  scheduler: rr\n"), want: StatusFail, contains: "config.conf line"},
		{id: "kubeproxy.config", kind: kTrigger, name: "master broken", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).cm(cluster.CMKubeProxyMaster, "config.conf", kpHead+"ipvs:\n  udpTimout: 10s\n"), want: StatusFail, contains: "kube-proxy-master"},
		{id: "kubeproxy.config", kind: kPass, name: "valid", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned), want: StatusPass},
		{id: "kubeproxy.config", kind: kForbidden, name: "forbidden", snap: snapshot().forbid(cluster.ConfigMapRead(cluster.CMKubeProxyWorker)), want: StatusSkip, contains: "Forbidden"},

		// kubeproxy.conntrack-max-per-core
		{id: "kubeproxy.conntrack-max-per-core", kind: kTrigger, name: "low", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpHead+"conntrack:\n  maxPerCore: 32768\n"), want: StatusWarn, contains: "32768"},
		{id: "kubeproxy.conntrack-max-per-core", kind: kTrigger, name: "unset: kube-proxy's default 32768", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIptables), want: StatusWarn, contains: "default 32768"},
		{id: "kubeproxy.conntrack-max-per-core", kind: kTrigger, name: "flags without --conntrack-max-per-core", snap: snapshot().cm(cluster.CMKubeProxyWorker, "kubeconfig.conf", "x").
			ds("kube-system", cluster.CMKubeProxyWorker, nil, cluster.Container{Name: "kube-proxy", Args: []string{"/usr/local/bin/kube-proxy", "--proxy-mode=ipvs"}}), want: StatusWarn, contains: "--conntrack-max-per-core"},
		{id: "kubeproxy.conntrack-max-per-core", kind: kPass, name: "flags with --conntrack-max-per-core=65536", snap: snapshot().cm(cluster.CMKubeProxyWorker, "kubeconfig.conf", "x").
			ds("kube-system", cluster.CMKubeProxyWorker, nil, cluster.Container{Name: "kube-proxy", Args: []string{"/usr/local/bin/kube-proxy", "--conntrack-max-per-core=65536"}}), want: StatusPass, contains: "65536"},
		{id: "kubeproxy.conntrack-max-per-core", kind: kPass, name: "ok", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned), want: StatusPass},
		{id: "kubeproxy.conntrack-max-per-core", kind: kPass, name: "zero leaves the kernel alone", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpHead+"conntrack:\n  maxPerCore: 0\n"), want: StatusPass},
		{id: "kubeproxy.conntrack-max-per-core", kind: kNA, name: "config broken", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", "mode:ipvs"), want: StatusSkip, contains: "does not parse"},
		{id: "kubeproxy.conntrack-max-per-core", kind: kForbidden, name: "forbidden", snap: snapshot().forbid(cluster.ConfigMapRead(cluster.CMKubeProxyWorker)), want: StatusSkip, contains: "Forbidden"},

		// kubeproxy.ipvs-udp-timeout
		{id: "kubeproxy.ipvs-udp-timeout", kind: kTrigger, name: "default 300s lists UDP services", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSDefaults).
			service("kube-system", "kube-dns", "", []string{"10.96.0.10"}, corev1.ServicePort{Protocol: "UDP", Port: 53}).
			service("voip", "sip", "", []string{"10.96.0.20"}, corev1.ServicePort{Protocol: "UDP", Port: 5060}), want: StatusWarn, contains: "voip/sip"},
		{id: "kubeproxy.ipvs-udp-timeout", kind: kTrigger, name: "1.16 without node checks: how to verify", snap: snapshot().version(1, 16).cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSDefaults), want: StatusInfo, contains: "kubectl acknet doctor --node-checks"},
		{id: "kubeproxy.ipvs-udp-timeout", kind: kTrigger, name: "1.16, a node at 300s", snap: snapshot().version(1, 16).cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSDefaults).
			withNodes(map[string]nf{"n1": {Timeouts: &nodescripts.TimeoutsResult{Current: &nodescripts.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}}}, "n2": {Timeouts: &nodescripts.TimeoutsResult{Current: &nodescripts.Timeouts{TCP: 900, TCPFin: 120, UDP: 10}}}}),
			want: StatusWarn, contains: "kubectl acknet ipvs timeout --set 900,120,10 --node n1", absent: "--node n2"},
		{id: "kubeproxy.ipvs-udp-timeout", kind: kTrigger, name: "1.16, a node without ipvsadm was never set", snap: snapshot().version(1, 16).cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSDefaults).
			withNodes(map[string]nf{"n1": {TimeoutsErr: InstallIPVSAdm}}), want: StatusWarn, contains: "the kernel's 300s applies"},
		{id: "kubeproxy.ipvs-udp-timeout", kind: kPass, name: "1.16 after ipvs timeout --set: the nodes decide", snap: snapshot().version(1, 16).cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSDefaults).
			withNodes(map[string]nf{"n1": {Timeouts: &nodescripts.TimeoutsResult{Current: &nodescripts.Timeouts{TCP: 900, TCPFin: 120, UDP: 10}}}}), want: StatusPass, contains: "on 1 node"},
		{id: "kubeproxy.ipvs-udp-timeout", kind: kPass, name: "10s", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned), want: StatusPass},
		{id: "kubeproxy.ipvs-udp-timeout", kind: kNA, name: "iptables", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIptables), want: StatusSkip, contains: "not applicable"},
		{id: "kubeproxy.ipvs-udp-timeout", kind: kForbidden, name: "forbidden", snap: snapshot().forbid(cluster.ConfigMapRead(cluster.CMKubeProxyWorker)), want: StatusSkip, contains: "Forbidden"},

		// kubeproxy.ipvs-scheduler
		{id: "kubeproxy.ipvs-scheduler", kind: kTrigger, name: "lc on an old node", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpHead+"mode: ipvs\nipvs:\n  scheduler: lc\n").node("old-1", created(old)).node("new-1"), want: StatusWarn, contains: "node/old-1"},
		{id: "kubeproxy.ipvs-scheduler", kind: kTrigger, name: "lc on new nodes", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpHead+"mode: ipvs\nipvs:\n  scheduler: lc\n").node("new-1"), want: StatusInfo, contains: "ip_vs_lc"},
		{id: "kubeproxy.ipvs-scheduler", kind: kTrigger, name: "dedicated: lc in kube-proxy-master only, an old master", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).
			cm(cluster.CMKubeProxyMaster, "config.conf", kpHead+"mode: ipvs\nipvs:\n  scheduler: lc\n").
			node("master-1", created(old), func(n *cluster.Node) { n.Labels = map[string]string{"node-role.kubernetes.io/master": ""} }).node("worker-old", created(old)),
			want: StatusWarn, contains: "--scheduler lc --node master-1 --apply", absent: "worker-old"},
		{id: "kubeproxy.ipvs-scheduler", kind: kPass, name: "rr", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned), want: StatusPass},
		{id: "kubeproxy.ipvs-scheduler", kind: kNA, name: "iptables", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIptables), want: StatusSkip, contains: "not applicable"},
		{id: "kubeproxy.ipvs-scheduler", kind: kForbidden, name: "forbidden", snap: snapshot().forbid(cluster.ConfigMapRead(cluster.CMKubeProxyWorker)), want: StatusSkip, contains: "Forbidden"},

		// kubeproxy.proxier
		{id: "kubeproxy.proxier", kind: kTrigger, name: "fell back: runs iptables although the ConfigMap says ipvs", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).
			kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-abc", "n1", `W0501 11:59:01 server_others.go:578] Can't use the IPVS proxier: IPVS proxier will not be used because the following required kernel modules are not loaded: [ip_vs_lc]`, `I0501 11:59:01 server_others.go:206] "Using iptables Proxier"`).
			kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-def", "n2", `I0501 11:59:01 server_linux.go:191] "Using ipvs Proxier"`),
			want: StatusWarn, contains: "runs the iptables proxier, but ConfigMap kube-system/kube-proxy-worker says mode ipvs", absent: "kube-proxy-worker-def"},
		{id: "kubeproxy.proxier", kind: kTrigger, name: "current kube-proxy exits", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).
			kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-abc", "n1", `E1201 15:41:33.986734       1 server.go:137] "Error running ProxyServer" err="can't use the IPVS proxier: ipvs not supported"`), want: StatusFail, contains: "it exited: no Service is served from this node"},
		{id: "kubeproxy.proxier", kind: kTrigger, name: "ConfigMap changed to ipvs, pod not restarted", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).
			kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-abc", "n1", `I0501 "Using iptables Proxier"`), want: StatusWarn, contains: "kubectl acknet ipvs modules --node n1 --apply"},
		{id: "kubeproxy.proxier", kind: kTrigger, name: "master pods are judged by kube-proxy-master", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).cm(cluster.CMKubeProxyMaster, "config.conf", kpIptables).
			kubeProxyPod("kube-proxy-master", "kube-proxy-master-x", "m1", `I0501 "Using ipvs Proxier"`).kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-y", "n1", `I0501 "Using ipvs Proxier"`),
			want: StatusWarn, contains: "ConfigMap kube-system/kube-proxy-master says mode iptables", absent: "kube-proxy-worker-y"},
		{id: "kubeproxy.proxier", kind: kPass, name: "every pod runs its ConfigMap's proxier", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).
			kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-abc", "n1", `I0501 "Using ipvs Proxier"`).kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-def", "n2", `I0501 "Using ipvs Proxier"`),
			want: StatusPass, contains: "ipvs 2"},
		{id: "kubeproxy.proxier", kind: kTrigger, name: "a pod started before the logs read: not called fine", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).
			kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-abc", "n1", `I0501 "Using ipvs Proxier"`).kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-old", "n2"),
			want: StatusInfo, contains: "unknown (start not in the logs read) 1"},
		{id: "kubeproxy.proxier", kind: kTrigger, name: "no start in the logs read: skip", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).
			kubeProxyPod("kube-proxy-worker", "kube-proxy-worker-old", "n2"),
			want: StatusSkip, contains: "raise --since"},
		{id: "kubeproxy.proxier", kind: kPass, name: "no --logs", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned), want: StatusSkip, contains: "--logs"},
		{id: "kubeproxy.proxier", kind: kNA, name: "no kube-proxy pods", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIptables).logs("kube-system/terway-x"), want: StatusSkip, contains: "not applicable"},
		{id: "kubeproxy.proxier", kind: kForbidden, name: "logs forbidden", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).logs("x").forbid(cluster.ReadLogs), want: StatusSkip, contains: "Forbidden"},

		// kubeproxy.master-worker-drift
		{id: "kubeproxy.master-worker-drift", kind: kTrigger, name: "scheduler differs", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).cm(cluster.CMKubeProxyMaster, "config.conf", kpHead+"mode: ipvs\nipvs:\n  scheduler: lc\n  udpTimeout: 10s\nconntrack:\n  maxPerCore: 65536\n"), want: StatusWarn, contains: "ipvs.scheduler: worker rr, master lc"},
		{id: "kubeproxy.master-worker-drift", kind: kPass, name: "same", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).cm(cluster.CMKubeProxyMaster, "config.conf", kpIPVSTuned), want: StatusPass},
		{id: "kubeproxy.master-worker-drift", kind: kNA, name: "managed cluster", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).missing(cluster.CMKubeProxyMaster), want: StatusSkip, contains: "not applicable"},
		{id: "kubeproxy.master-worker-drift", kind: kForbidden, name: "master forbidden", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).forbid(cluster.ConfigMapRead(cluster.CMKubeProxyMaster)), want: StatusSkip, contains: "Forbidden"},

		// coredns.cluster-domain
		{id: "coredns.cluster-domain", kind: kTrigger, name: "public domain", snap: snapshot().cm(cluster.CMCoreDNS, "Corefile", fmt.Sprintf(corefileTemplated, "example.com")), want: StatusFail, contains: `public suffix "com"`},
		{id: "coredns.cluster-domain", kind: kTrigger, name: "bare TLD", snap: snapshot().cm(cluster.CMCoreDNS, "Corefile", fmt.Sprintf(corefileTemplated, "io")), want: StatusFail, contains: "overlaps public DNS"},
		{id: "coredns.cluster-domain", kind: kTrigger, name: "multi-label public suffix", snap: snapshot().cm(cluster.CMCoreDNS, "Corefile", fmt.Sprintf(corefileTemplated, "k8s.com.cn")), want: StatusFail, contains: `"com.cn"`},
		{id: "coredns.cluster-domain", kind: kTrigger, name: "private custom", snap: snapshot().cm(cluster.CMCoreDNS, "Corefile", fmt.Sprintf(corefileTemplated, "mesh.internal")), want: StatusInfo, contains: "PrivateZone"},
		{id: "coredns.cluster-domain", kind: kPass, name: "default", snap: snapshot().cm(cluster.CMCoreDNS, "Corefile", corefileDefault), want: StatusPass},
		{id: "coredns.cluster-domain", kind: kForbidden, name: "forbidden", snap: snapshot().forbid(cluster.ConfigMapRead(cluster.CMCoreDNS)), want: StatusSkip, contains: "Forbidden"},

		// node.conntrack-usage
		{id: "node.conntrack-usage", kind: kTrigger, name: "96% full", snap: snapshot().withNodes(map[string]nf{"n1": {Conntrack: ct(960, 1000, "")}, "n2": {Conntrack: ct(10, 1000, "")}}), want: StatusFail, contains: "node/n1"},
		{id: "node.conntrack-usage", kind: kTrigger, name: "mostly DNS: NodeLocal DNSCache first", snap: snapshot().withNodes(map[string]nf{"n1": {Conntrack: func() *nodescripts.ConntrackStats {
			c := ct(900, 1000, "")
			c.DNS = 450
			return c
		}()}}), want: StatusWarn, contains: "DNS (port 53) 450, 50% of the entries"},
		{id: "node.conntrack-usage", kind: kTrigger, name: "little DNS: no NodeLocal DNSCache advice", snap: snapshot().withNodes(map[string]nf{"n1": {Conntrack: func() *nodescripts.ConntrackStats {
			c := ct(900, 1000, "")
			c.DNS = 9
			return c
		}()}}), want: StatusWarn, contains: "--set-max", absent: "NodeLocal DNSCache"},
		{id: "node.conntrack-usage", kind: kTrigger, name: "82% full", snap: snapshot().withNodes(map[string]nf{"n1": {Conntrack: ct(820, 1000, "")}}), want: StatusWarn, contains: "82%"},
		{id: "node.conntrack-usage", kind: kTrigger, name: "table overflowed once", snap: snapshot().withNodes(map[string]nf{"n1": {Conntrack: ct(10, 1000, "nf_conntrack: table full, dropping packet")}}), want: StatusFail, contains: "dropping packet"},
		{id: "node.conntrack-usage", kind: kPass, name: "low", snap: snapshot().withNodes(map[string]nf{"n1": {Conntrack: ct(10, 1000, "")}}), want: StatusPass, contains: "1% on n1"},
		{id: "node.conntrack-usage", kind: kNA, name: "no --node-checks", snap: snapshot(), want: StatusSkip, contains: "--node-checks"},
		{id: "node.conntrack-usage", kind: kForbidden, name: "no debug pod could run", snap: snapshot().withNodes(map[string]nf{"n1": {Err: "namespace kube-system does not allow privileged pods"}}), want: StatusSkip, contains: "privileged"},

		// node.ipvs-modules
		{id: "node.ipvs-modules", kind: kTrigger, name: "scheduler module missing", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpHead+"mode: ipvs\nipvs:\n  scheduler: lc\n").
			withNodes(map[string]nf{"n1": {Modules: mods("ip_vs", "nf_conntrack")}}), want: StatusFail, contains: "ip_vs_lc not loaded"},
		{id: "node.ipvs-modules", kind: kTrigger, name: "the kernel has no IPVS: --apply cannot help", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).
			withNodes(map[string]nf{"n1": {Modules: noIPVSKernel()}}), want: StatusFail, contains: "the kernel has no ip_vs, ip_vs_rr (neither loaded nor available to modprobe)"},
		{id: "node.ipvs-modules", kind: kPass, name: "all there", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).
			withNodes(map[string]nf{"n1": {Modules: mods("ip_vs", "ip_vs_rr", "nf_conntrack")}}), want: StatusPass},
		{id: "node.ipvs-modules", kind: kNA, name: "iptables", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIptables).withNodes(map[string]nf{}), want: StatusSkip, contains: "not applicable"},
		{id: "node.ipvs-modules", kind: kForbidden, name: "node unreachable", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).withNodes(map[string]nf{"n1": {Err: "forbidden"}}), want: StatusSkip, contains: "forbidden"},

		// node.ipvs-timeouts
		{id: "node.ipvs-timeouts", kind: kTrigger, name: "old kubernetes with 300s", snap: snapshot().version(1, 16).cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSDefaults).
			withNodes(map[string]nf{"n1": {Timeouts: &nodescripts.TimeoutsResult{Current: &nodescripts.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}}}}), want: StatusWarn, contains: "--set 900,120,10"},
		{id: "node.ipvs-timeouts", kind: kPass, name: "new kubernetes reports", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSDefaults).
			withNodes(map[string]nf{"n1": {Timeouts: &nodescripts.TimeoutsResult{Current: &nodescripts.Timeouts{TCP: 900, TCPFin: 120, UDP: 10}}}}), want: StatusInfo, contains: "900/120/10"},
		{id: "node.ipvs-timeouts", kind: kNA, name: "iptables", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIptables).withNodes(map[string]nf{}), want: StatusSkip, contains: "not applicable"},
		{id: "node.ipvs-timeouts", kind: kForbidden, name: "no IPVS on any node", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).withNodes(map[string]nf{"n1": {TimeoutsErr: "exit status 4"}}), want: StatusSkip, contains: "no node reported"},
		{id: "node.ipvs-timeouts", kind: kTrigger, name: "no ipvsadm: the FAQ's install step", snap: snapshot().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).withNodes(map[string]nf{"n1": {TimeoutsErr: InstallIPVSAdm}}), want: StatusInfo, contains: "yum install -y ipvsadm"},
		{id: "node.ipvs-timeouts", kind: kTrigger, name: "no ipvsadm on 1.16 warns", snap: snapshot().version(1, 16).cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSDefaults).withNodes(map[string]nf{"n1": {TimeoutsErr: InstallIPVSAdm}}), want: StatusWarn, contains: "yum install -y ipvsadm"},

		// node.flannel-ip-leak
		{id: "node.flannel-ip-leak", kind: kTrigger, name: "leak", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{"n1": {Scan: scan(true, "10.0.0.5")}}), want: StatusWarn, contains: "flannel gc --node n1 --apply"},
		{id: "node.flannel-ip-leak", kind: kPass, name: "all live", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{"n1": {Scan: scan(false, "10.0.0.5")}}), want: StatusPass},
		{id: "node.flannel-ip-leak", kind: kNA, name: "terway", snap: terwayCluster().withNodes(map[string]nf{}), want: StatusSkip, contains: "not applicable"},
		{id: "node.flannel-ip-leak", kind: kForbidden, name: "scan failed everywhere", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{"n1": {Err: "exec forbidden"}}), want: StatusSkip, contains: "exec forbidden"},

		// node.flannel-ipam-tmpfs
		{id: "node.flannel-ipam-tmpfs", kind: kTrigger, name: "on disk: per node, what keeps it there", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{
			"n1": {Scan: tmpfsScan(false, tmpfsConf)}, "n2": {Scan: tmpfsScan(true, flannelCNIGood)}}),
			want: StatusInfo, contains: "node/n2", absent: "node/n1"},
		{id: "node.flannel-ipam-tmpfs", kind: kTrigger, name: "config migrated, old allocations left on disk", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{
			"n1": {Scan: tmpfsScan(true, tmpfsConf)}}), want: StatusInfo, contains: "/var/lib/cni/networks/cb0 still holds 1 allocation"},
		{id: "node.flannel-ipam-tmpfs", kind: kTrigger, name: "/var/run not tmpfs", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{
			"n1": {Scan: func() *nodescripts.ScanResult {
				r := tmpfsScan(false, tmpfsConf)
				r.FSTypes["/var/run/cni/networks"] = "xfs"
				return r
			}()}}), want: StatusInfo, contains: "on xfs, not tmpfs"},
		{id: "node.flannel-ipam-tmpfs", kind: kTrigger, name: "an IP held twice, on disk and on tmpfs", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{
			"n1": {Scan: heldTwice(true)}}), want: StatusWarn, contains: "1 IP allocated twice, on disk and on tmpfs, to different containers: two pods share each (host-local on tmpfs does not see what pods started before still hold): 10.0.0.2"},
		{id: "node.flannel-ipam-tmpfs", kind: kTrigger, name: "the disk file's sandbox is gone: a leak, not a shared IP", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{
			"n1": {Scan: heldTwice(false)}}), want: StatusInfo, contains: "still holds 1 allocation", absent: "allocated twice"},
		{id: "node.flannel-ipam-tmpfs", kind: kPass, name: "tmpfs", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{"n1": {Scan: tmpfsScan(false, tmpfsConf)}}), want: StatusInfo, contains: "1 of 1 node"},
		{id: "node.flannel-ipam-tmpfs", kind: kNA, name: "terway", snap: terwayCluster().withNodes(map[string]nf{}), want: StatusSkip, contains: "not applicable"},
		{id: "node.flannel-ipam-tmpfs", kind: kForbidden, name: "node unreachable", snap: flannelCluster(flannelCNIGood).withNodes(map[string]nf{"n1": {Err: "boom"}}), want: StatusSkip, contains: "boom"},

		// dns.nodelocal
		{id: "dns.nodelocal", kind: kTrigger, name: "absent", snap: snapshot(), want: StatusInfo, contains: "not deployed"},
		{id: "dns.nodelocal", kind: kPass, name: "present", snap: snapshot().ds("kube-system", "node-local-dns", map[string]string{"k8s-app": "node-local-dns"}), want: StatusInfo, contains: "is deployed"},
		{id: "dns.nodelocal", kind: kForbidden, name: "forbidden", snap: snapshot().forbid(cluster.ReadDaemonSets), want: StatusSkip, contains: "Forbidden"},
	}
	return append(cases, cloudCases()...)
}

func TestChecks(t *testing.T) {
	byID := map[string]Check{}
	for _, c := range All() {
		byID[c.ID] = c
	}
	for _, tc := range checkCases() {
		t.Run(tc.id+"/"+tc.kind+"/"+tc.name, func(t *testing.T) {
			c, ok := byID[tc.id]
			if !ok {
				t.Fatalf("no check %s", tc.id)
			}
			env := NewEnv(tc.snap.s)
			env.NodeFacts = tc.snap.nodes
			env.Cloud = tc.snap.cloud
			r := Run(env, []Check{c})[0].Result
			if r.Status != tc.want {
				t.Fatalf("status = %s, want %s (summary %q, findings %+v)", r.Status, tc.want, r.Summary, r.Findings)
			}
			if tc.contains != "" && !resultContains(r, tc.contains) {
				t.Errorf("result does not mention %q: summary %q, findings %+v", tc.contains, r.Summary, r.Findings)
			}
			if tc.absent != "" && resultContains(r, tc.absent) {
				t.Errorf("result mentions %q: summary %q, findings %+v", tc.absent, r.Summary, r.Findings)
			}
			if r.Status == StatusFail || r.Status == StatusWarn {
				if len(r.Findings) == 0 {
					t.Fatalf("a %s result needs findings", r.Status)
				}
				for _, f := range r.Findings {
					if f.Message == "" || f.Remediation == "" || f.Object == "" {
						t.Errorf("finding lacks object, message or remediation: %+v", f)
					}
				}
			}
		})
	}
}

func resultContains(r Result, s string) bool {
	if strings.Contains(r.Summary, s) {
		return true
	}
	for _, f := range r.Findings {
		if strings.Contains(f.Object, s) || strings.Contains(f.Message, s) || strings.Contains(f.Remediation, s) {
			return true
		}
	}
	return false
}

// Checks that apply to every cluster have no not-applicable case.
var alwaysApplicable = map[string]bool{
	"cluster.network-plugin": true, "cluster.kube-proxy": true, "cluster.ip-families": true, "cluster.cluster-domain": true,
	"cni.third-party": true, "node.network-unavailable": true, "ccm.route-tables": true, "kubeproxy.config": true,
	"coredns.cluster-domain": true, "dns.nodelocal": true,
}

func TestEveryCheckHasEveryKindOfCase(t *testing.T) {
	kinds := map[string]map[string]bool{}
	for _, tc := range checkCases() {
		if kinds[tc.id] == nil {
			kinds[tc.id] = map[string]bool{}
		}
		kinds[tc.id][tc.kind] = true
	}
	for _, id := range contractIDs {
		need := []string{kTrigger, kPass, kForbidden}
		if !alwaysApplicable[id] {
			need = append(need, kNA)
		}
		for _, k := range need {
			if !kinds[id][k] {
				t.Errorf("check %s has no %s case", id, k)
			}
		}
	}
}

func TestSelect(t *testing.T) {
	all := All()
	got, err := Select(all, []string{"flannel.*", "dns.nodelocal"}, []string{"flannel.hairpin"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	want := "flannel.cni-version flannel.ipam-datadir flannel.ip-exhausted dns.nodelocal"
	if strings.Join(ids, " ") != want {
		t.Errorf("got %v, want %s", ids, want)
	}
	for _, bad := range [][]string{{"flanel.*"}, {"["}} {
		if _, err := Select(all, bad, nil); err == nil {
			t.Errorf("Select(%v) should fail", bad)
		}
	}
}

func TestRunTurnsAPanicIntoSkip(t *testing.T) {
	boom := Check{ID: "test.boom", Run: func(*Env) Result { panic("nil map") }}
	r := Run(NewEnv(snapshot().s), []Check{boom})[0].Result
	if r.Status != StatusSkip || !strings.Contains(r.Summary, "nil map") {
		t.Errorf("got %+v", r)
	}
}

func TestPublicOverlap(t *testing.T) {
	tests := map[string]bool{
		"cluster.local": false, "mesh.internal": false, "corp": false, "k8s.lan": false,
		"com": true, "example.com": true, "a.b.example.co.uk": true, "my.company": true, "cn": true,
	}
	for d, want := range tests {
		if got, _ := PublicOverlap(d); got != want {
			t.Errorf("PublicOverlap(%q) = %t, want %t", d, got, want)
		}
	}
}
