package checks

// All returns the catalog in report order: detection first, then the
// cluster-side checks. IDs are a public contract: never rename one.
func All() []Check {
	return []Check{
		{ID: "cluster.network-plugin", Title: "Network plugin and mode", Severity: "info", Run: networkPlugin},
		{ID: "cluster.kube-proxy", Title: "kube-proxy mode and tuning", Severity: "info", Run: kubeProxy},
		{ID: "cluster.ip-families", Title: "IP families", Severity: "info", Run: ipFamilies},
		{ID: "cluster.cluster-domain", Title: "Cluster domain", Severity: "info", Run: clusterDomain},

		{ID: "cni.third-party", Title: "Third-party CNI", Severity: "fail", Run: thirdParty},
		{ID: "flannel.cni-version", Title: "Flannel CNI config has cniVersion", Severity: "fail", Run: flannelCNIVersion},
		{ID: "flannel.hairpin", Title: "Flannel hairpin mode", Severity: "warn", Run: flannelHairpin},
		{ID: "flannel.ipam-datadir", Title: "Flannel IPAM state on tmpfs", Severity: "warn", Run: flannelIPAMDataDir},
		{ID: "flannel.ip-exhausted", Title: "Flannel pod IPs exhausted", Severity: "fail", Run: flannelIPExhausted},
		{ID: "node.pod-cidr-capacity", Title: "Node pod CIDR capacity", Severity: "warn/fail", Run: podCIDRCapacity},
		{ID: "node.network-unavailable", Title: "Nodes without network", Severity: "fail", Run: networkUnavailable},
		{ID: "ccm.route-tables", Title: "Cloud controller route tables", Severity: "fail", Run: ccmRouteTables},
		{ID: "terway.eni-config", Title: "Terway eni-config", Severity: "fail", Run: terwayENIConfig},
		{ID: "terway.vswitch-ip-exhausted", Title: "Terway vSwitch out of IPs", Severity: "fail", Run: terwayVSwitchIPExhausted},
		{ID: "terway.in-cluster-lb", Title: "Terway in-cluster load balancing", Severity: "warn/fail", Run: terwayInClusterLB},
		{ID: "terway.network-policy", Title: "Terway network policy", Severity: "info", Run: terwayNetworkPolicy},
		{ID: "terway.dynamic-config", Title: "Terway dynamic configs", Severity: "fail", Run: terwayDynamicConfig},
		{ID: "terway.eip-pool", Title: "Terway EIP pool", Severity: "warn", Run: terwayEIPPool},
		{ID: "terway.mac-not-found", Title: "Terway NIC not found", Severity: "warn", Run: terwayMacNotFound},
		{ID: "terway.hostport", Title: "hostPort on Terway", Severity: "warn", Run: terwayHostPort},
		{ID: "terway.pod-outside-vswitch", Title: "Pod IPs outside the vSwitches", Severity: "warn", Run: terwayPodOutsideVSwitch},
		{ID: "kubeproxy.config", Title: "kube-proxy config decodes", Severity: "fail", Run: kubeProxyConfigCheck},
		{ID: "kubeproxy.conntrack-max-per-core", Title: "conntrack.maxPerCore", Severity: "warn", Run: conntrackMaxPerCore},
		{ID: "kubeproxy.ipvs-udp-timeout", Title: "IPVS UDP timeout", Severity: "warn", Run: ipvsUDPTimeout},
		{ID: "kubeproxy.ipvs-scheduler", Title: "IPVS scheduler", Severity: "info/warn", Run: ipvsScheduler},
		{ID: "kubeproxy.proxier", Title: "kube-proxy fell back from IPVS", Severity: "fail", Run: kubeProxyProxier},
		{ID: "kubeproxy.master-worker-drift", Title: "kube-proxy master/worker drift", Severity: "warn", Run: masterWorkerDrift},
		{ID: "coredns.cluster-domain", Title: "Cluster domain overlaps public DNS", Severity: "fail/info", Run: corednsClusterDomain},
		{ID: "dns.nodelocal", Title: "NodeLocal DNSCache", Severity: "info", Run: nodeLocalDNS},
	}
}
