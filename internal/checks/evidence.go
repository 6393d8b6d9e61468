package checks

// FAQ is the ACK container-network FAQ that most checks encode.
const FAQ = "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/faq-about-container-networks"

// evidence says what each check reads, for its reference page.
var evidence = map[string]string{
	"cluster.network-plugin":           "DaemonSets terway-eniip, terway-eni or terway (their -daemon-mode) and kube-flannel-ds / app=flannel in kube-system; key 10-terway.conf of kube-system/eni-config.",
	"cluster.kube-proxy":               "Key config.conf of kube-system/kube-proxy-worker and kube-proxy-master; the --proxy-mode flag of the DaemonSet when there is no config.conf.",
	"cluster.ip-families":              "Node spec.podCIDRs, Service spec.clusterIPs, the IPv6DualStack feature gate of kube-proxy.",
	"cluster.cluster-domain":           "Key Corefile of kube-system/coredns.",
	"cni.third-party":                  "DaemonSets of every namespace: names and the k8s-app, app, name and component labels.",
	"flannel.cni-version":              "Key cni-conf.json of kube-system/kube-flannel-cfg; the server version.",
	"flannel.hairpin":                  "delegate.hairpinMode in cni-conf.json; the image tag of kube-flannel-ds.",
	"flannel.ipam-datadir":             "dataDir and ipam.dataDir in cni-conf.json; the image tag of kube-flannel-ds.",
	"flannel.ip-exhausted":             "Warning events whose message contains \"no IP addresses available in range set\", and the node of each.",
	"node.pod-cidr-capacity":           "Node spec.podCIDR; pods with a pod IP that are not hostNetwork and not finished, counted per node while paging.",
	"node.network-unavailable":         "Node condition NetworkUnavailable and taint node.kubernetes.io/network-unavailable.",
	"ccm.route-tables":                 "Warning events CreateRouteFailed and SyncRouteFailed, and messages \"multiple route tables found\".",
	"terway.eni-config":                "kube-system/eni-config: key eni_conf (JSON, vswitches).",
	"terway.vswitch-ip-exhausted":      "Warning events with InvalidVSwitchId.IpNotEnough (vSwitch IDs from the message), the state of the pods they name; with --logs the Terway pod logs.",
	"terway.in-cluster-lb":             "eniip_virtual_type in 10-terway.conf; the top-level key in_cluster_loadbalance and whether eni_conf carries it.",
	"terway.network-policy":            "The top-level key disable_network_policy of kube-system/eni-config.",
	"terway.dynamic-config":            "Node label terway-config and the kube-system ConfigMaps it names.",
	"terway.eip-pool":                  "enable_eip_pool in eni_conf.",
	"terway.mac-not-found":             "Warning events \"can't found dev by mac\", their first time, and the phase of the pods they name.",
	"terway.hostport":                  "containers[].ports[].hostPort of every pod.",
	"terway.pod-outside-vswitch":       "status.podIPs of every pod against the CIDRs given with --vswitch-cidrs.",
	"kubeproxy.config":                 "Key config.conf of kube-proxy-worker and kube-proxy-master, decoded strictly.",
	"kubeproxy.conntrack-max-per-core": "conntrack.maxPerCore in config.conf.",
	"kubeproxy.ipvs-udp-timeout":       "mode and ipvs.udpTimeout in config.conf; Services with UDP ports; the server version.",
	"kubeproxy.ipvs-scheduler":         "ipvs.scheduler in config.conf; node creation times.",
	"kubeproxy.proxier":                "With --logs: kube-proxy pod logs (bounded by --since and --log-lines).",
	"kubeproxy.master-worker-drift":    "config.conf of kube-proxy-master and kube-proxy-worker.",
	"coredns.cluster-domain":           "The zones of the kubernetes plugin in the Corefile, against the public suffix list of golang.org/x/net/publicsuffix.",
	"dns.nodelocal":                    "DaemonSet node-local-dns (or label k8s-app=node-local-dns).",
	"node.conntrack-usage":             "On each node: /proc/sys/net/netfilter/nf_conntrack_{count,max,buckets}, /proc/net/nf_conntrack per protocol, dmesg.",
	"node.ipvs-modules":                "On each node: /sys/module, /proc/modules, modinfo, /etc/modules-load.d/*.conf.",
	"node.ipvs-timeouts":               "On each node: ipvsadm -L --timeout.",
	"node.flannel-ip-leak":             "On each node: host-local files under /var/lib/cni/networks/<net> and /var/run/cni/networks/<net>, crictl pods (or docker ps -a); the pods the API server places on the node.",
	"node.flannel-ipam-tmpfs":          "On each node: which IPAM data dirs exist.",
}

// Evidence says what the check reads.
func (c Check) Evidence() string { return evidence[c.ID] }
