package checks

import (
	"net/netip"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// withCloud adds what doctor --cloud would have read.
func (b *snapB) withCloud(mods ...func(*cloud.Facts)) *snapB {
	f := &cloud.Facts{Region: "cn-hangzhou", VPCs: []string{"vpc-test"},
		Instances: map[string]cloud.Instance{}, VSwitches: map[string]cloud.VSwitch{},
		InstanceTypes: map[string]cloud.InstanceType{}, Errors: map[string]*cloud.PartError{}}
	for _, m := range mods {
		m(f)
	}
	b.cloud = f
	return b
}

// hostPods counts host-network pods on a node.
func (b *snapB) hostPods(node string, n int) *snapB {
	if b.s.Pods.HostNetworkPods == nil {
		b.s.Pods.HostNetworkPods = map[string]int{}
	}
	b.s.Pods.HostNetworkPods[node] = n
	return b
}

// inRange counts pod addresses in a vSwitch, as the pod pass would.
func (b *snapB) inRange(id string, n int) *snapB {
	if b.s.Pods.InRange == nil {
		b.s.Pods.InRange = map[string]int{}
	}
	b.s.Pods.InRange[id] = n
	return b
}

func vsw(id, zone, cidr string, free int64) func(*cloud.Facts) {
	return func(f *cloud.Facts) {
		f.VSwitches[id] = cloud.VSwitch{ID: id, VPCID: "vpc-test", Zone: zone, CIDR: netip.MustParsePrefix(cidr), Free: free}
	}
}

func denied(part, action string) func(*cloud.Facts) {
	return func(f *cloud.Facts) {
		f.Errors[part] = &cloud.PartError{Kind: cloud.KindDenied, Action: action, Code: "Forbidden.RAM"}
	}
}

func instance(id, typ, vswID string) func(*cloud.Facts) {
	return func(f *cloud.Facts) {
		f.Instances[id] = cloud.Instance{ID: id, Type: typ, VPCID: "vpc-test", VSwitchID: vswID, Zone: "cn-hangzhou-i"}
	}
}

func itype(id string, enis, ips int) func(*cloud.Facts) {
	return func(f *cloud.Facts) { f.InstanceTypes[id] = cloud.InstanceType{ID: id, ENIs: enis, IPsPerENI: ips} }
}

func routeTable(id string, vsws []string, entries ...cloud.RouteEntry) func(*cloud.Facts) {
	return func(f *cloud.Facts) {
		f.RouteTables = append(f.RouteTables, cloud.RouteTable{ID: id, VPCID: "vpc-test", Type: "System", VSwitches: vsws, Entries: entries, EntriesRead: true})
	}
}

func route(dest, hop string) cloud.RouteEntry {
	return cloud.RouteEntry{Destination: dest, NextHops: []string{hop}, Status: "Available"}
}

func nat(id string, entries ...cloud.SNATEntry) func(*cloud.Facts) {
	return func(f *cloud.Facts) {
		f.NATGateways = append(f.NATGateways, cloud.NATGateway{ID: id, VPCID: "vpc-test", SNATTables: []string{"stb-1"}, SNATEntries: entries, EntriesRead: true})
	}
}

func ecsNode(name, instanceID, podCIDR, typ string, maxPods int64) func(*cluster.Node) {
	return func(n *cluster.Node) {
		n.ProviderID = "cn-hangzhou." + instanceID
		if podCIDR != "" {
			n.PodCIDRs = []string{podCIDR}
		}
		n.Labels[LabelInstanceType] = typ
		n.Labels[LabelRegion] = "cn-hangzhou"
		n.MaxPods = maxPods
	}
}

func manyRoutes(n int) []cloud.RouteEntry {
	var out []cloud.RouteEntry
	for i := 0; i < n; i++ {
		out = append(out, route(netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 21, byte(i), 0}), 24).String(), "i-other"))
	}
	return out
}

const cloudConfigTwoTables = `{"Global":{"routeTableIDs":"vtb-a,vtb-b"}}`

func cloudCases() []checkCase {
	flannel2 := func() *snapB {
		return flannelCluster(flannelCNIGood).node("n1", ecsNode("n1", "i-n1", "172.20.1.0/24", "ecs.g7.large", 110)).
			node("n2", ecsNode("n2", "i-n2", "172.20.2.0/24", "ecs.g7.large", 110))
	}
	flannelRoutes := func(mods ...func(*cloud.Facts)) *snapB {
		return flannel2().withCloud(append([]func(*cloud.Facts){instance("i-n1", "ecs.g7.large", "vsw-node"), instance("i-n2", "ecs.g7.large", "vsw-node")}, mods...)...)
	}
	return []checkCase{
		// cloud.vswitch-headroom
		{id: "cloud.vswitch-headroom", kind: kTrigger, name: "exhausted", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/24", 0)).inRange("vsw-test0001", 240),
			want: StatusFail, contains: "vsw-test0001 (zone cn-hangzhou-i, 10.0.0.0/24): 0 of 252 addresses free, 240 pods on it: exhausted"},
		{id: "cloud.vswitch-headroom", kind: kTrigger, name: "zone exhausted", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/24", 0)),
			want: StatusFail, contains: "zone cn-hangzhou-i: no pod vSwitch has a free address"},
		{id: "cloud.vswitch-headroom", kind: kTrigger, name: "near exhaustion", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 500)),
			want: StatusWarn, contains: "about 500 more pods before IpNotEnough"},
		{id: "cloud.vswitch-headroom", kind: kTrigger, name: "named vSwitch not in the VPC", snap: terwayCluster().withCloud(vsw("vsw-other", "cn-hangzhou-i", "10.0.0.0/19", 5000)),
			want: StatusFail, contains: "not in the cluster's VPC"},
		{id: "cloud.vswitch-headroom", kind: kPass, name: "healthy", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 4000)),
			want: StatusPass, contains: "cn-hangzhou-i 4000 (vsw-test0001 4000)"},
		{id: "cloud.vswitch-headroom", kind: kPass, name: "without --cloud", snap: terwayCluster(), want: StatusSkip, contains: "needs doctor --cloud"},
		{id: "cloud.vswitch-headroom", kind: kNA, name: "flannel", snap: flannelCluster(flannelCNIGood).withCloud(), want: StatusSkip, contains: "not applicable"},
		{id: "cloud.vswitch-headroom", kind: kForbidden, name: "denied", snap: terwayCluster().withCloud(denied(cloud.PartVSwitches, "vpc:DescribeVSwitches")),
			want: StatusSkip, contains: "grant the RAM action vpc:DescribeVSwitches"},

		// cloud.pod-outside-vswitch
		{id: "cloud.pod-outside-vswitch", kind: kTrigger, name: "stale ENI", snap: func() *snapB {
			b := terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 4000)).inRange("vsw-test0001", 3)
			b.s.Pods.OutsideRanges = []cluster.PodRef{{Namespace: "edge", Name: "legacy-0", Node: "n1", Detail: "192.168.9.9"}}
			b.s.Pods.OutsideRangesCount = 1
			return b
		}(), want: StatusWarn, contains: "dynamic configs (vsw-test0001): a stale ENI"},
		{id: "cloud.pod-outside-vswitch", kind: kPass, name: "all inside", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 4000)).inRange("vsw-test0001", 3),
			want: StatusPass, contains: "3 addresses"},
		{id: "cloud.pod-outside-vswitch", kind: kNA, name: "terway VPC mode", snap: snapshot().terway("terway", "v1.0.10").withCloud(), want: StatusSkip, contains: "not applicable"},
		{id: "cloud.pod-outside-vswitch", kind: kForbidden, name: "pods forbidden", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 4000)).forbid(cluster.ReadPods),
			want: StatusSkip, contains: "Forbidden"},

		// cloud.eni-quota
		{id: "cloud.eni-quota", kind: kTrigger, name: "maxPods above the shared-ENI capacity", snap: terwayCluster().node("n1", ecsNode("n1", "i-n1", "", "ecs.g7.large", 64)).
			withCloud(itype("ecs.g7.large", 3, 10)), want: StatusWarn, contains: "ecs.g7.large (shared ENI) takes at most 20 pods on the pod network ((3 ENIs - 1) x 10 addresses), but maxPods is 64"},
		{id: "cloud.eni-quota", kind: kTrigger, name: "exclusive ENI node pool", snap: terwayCluster().node("n1", ecsNode("n1", "i-n1", "", "ecs.g7.large", 0), nodeLabel(LabelExclusiveENI, LabelExclusiveENIValue)).
			withCloud(itype("ecs.g7.large", 3, 10)).podIPs("n1", 5), want: StatusWarn, contains: "takes at most 2 pods"},
		{id: "cloud.eni-quota", kind: kPass, name: "maxPods above the capacity by the host-network pods", snap: terwayCluster().node("n1", ecsNode("n1", "i-n1", "", "ecs.g7.large", 24)).
			withCloud(itype("ecs.g7.large", 3, 10)).hostPods("n1", 4), want: StatusPass},
		{id: "cloud.eni-quota", kind: kPass, name: "exclusive ENI: the scheduler counts ENIs, not maxPods", snap: terwayCluster().node("n1", ecsNode("n1", "i-n1", "", "ecs.g7.large", 110), nodeLabel(LabelExclusiveENI, LabelExclusiveENIValue)).
			withCloud(itype("ecs.g7.large", 3, 10)).podIPs("n1", 2), want: StatusPass},
		{id: "cloud.eni-quota", kind: kPass, name: "fits", snap: terwayCluster().node("n1", ecsNode("n1", "i-n1", "", "ecs.g7.large", 20)).withCloud(itype("ecs.g7.large", 3, 10)).podIPs("n1", 12),
			want: StatusPass, contains: "1 node checked"},
		{id: "cloud.eni-quota", kind: kNA, name: "flannel", snap: flannel2().withCloud(), want: StatusSkip, contains: "not applicable"},
		{id: "cloud.eni-quota", kind: kForbidden, name: "denied", snap: terwayCluster().withCloud(denied(cloud.PartInstanceTypes, "ecs:DescribeInstanceTypes")),
			want: StatusSkip, contains: "ecs:DescribeInstanceTypes"},
		{id: "cloud.eni-quota", kind: kForbidden, name: "no type label and instances denied", snap: terwayCluster().node("n1", ecsNode("n1", "i-n1", "", "", 20)).withCloud(itype("ecs.g7.large", 3, 10), denied(cloud.PartInstances, "ecs:DescribeInstances")),
			want: StatusSkip, contains: "ecs:DescribeInstances"},

		// cloud.route-entries
		{id: "cloud.route-entries", kind: kTrigger, name: "missing route", snap: flannelRoutes(routeTable("vtb-a", nil, route("172.20.1.0/24", "i-n1"))),
			want: StatusFail, contains: "pod CIDR 172.20.2.0/24 has no route entry in route table vtb-a"},
		{id: "cloud.route-entries", kind: kTrigger, name: "route to another instance", snap: flannelRoutes(routeTable("vtb-a", nil, route("172.20.1.0/24", "i-n1"), route("172.20.2.0/24", "i-gone"))),
			want: StatusFail, contains: "points to i-gone, not to the node's instance i-n2"},
		{id: "cloud.route-entries", kind: kTrigger, name: "full route table", snap: flannelRoutes(routeTable("vtb-a", nil, append(manyRoutes(198), route("172.20.1.0/24", "i-n1"), route("172.20.2.0/24", "i-n2"))...)),
			want: StatusFail, contains: "holds 200 custom entries, its quota is 200"},
		{id: "cloud.route-entries", kind: kTrigger, name: "near quota", snap: flannelRoutes(routeTable("vtb-a", nil, append(manyRoutes(180), route("172.20.1.0/24", "i-n1"), route("172.20.2.0/24", "i-n2"))...)),
			want: StatusFail, contains: "182 of 200 custom entries: 18 more nodes"},
		{id: "cloud.route-entries", kind: kTrigger, name: "a configured table lacks the route", snap: flannelRoutes(routeTable("vtb-a", nil, route("172.20.1.0/24", "i-n1"), route("172.20.2.0/24", "i-n2")),
			routeTable("vtb-b", nil, route("172.20.1.0/24", "i-n1"))).cm(cluster.CMCloudConfig, "cloud-config.conf", cloudConfigTwoTables),
			want: StatusFail, contains: "no route entry in route table vtb-b"},
		{id: "cloud.route-entries", kind: kTrigger, name: "a node without provider ID, two tables, counted once", snap: flannelRoutes(routeTable("vtb-a", nil, route("172.20.1.0/24", "i-n1")),
			routeTable("vtb-b", nil, route("172.20.1.0/24", "i-n1"))).node("kwok-0", podCIDRs("172.20.9.0/24")).cm(cluster.CMCloudConfig, "cloud-config.conf", cloudConfigTwoTables),
			want: StatusFail, contains: "; 1 node without an ECS provider ID not checked"},
		{id: "cloud.route-entries", kind: kTrigger, name: "routeTableIDs names only a stale table: the VPC's are checked", snap: flannelRoutes(routeTable("vtb-a", nil, route("172.20.1.0/24", "i-n1"))).
			cm(cluster.CMCloudConfig, "cloud-config.conf", `{"Global":{"routeTableIDs":"vtb-stale"}}`), want: StatusFail, contains: "pod CIDR 172.20.2.0/24 has no route entry in route table vtb-a"},
		{id: "cloud.route-entries", kind: kPass, name: "no node has a provider ID", snap: flannelCluster(flannelCNIGood).node("kwok-0", podCIDRs("172.20.9.0/24")).withCloud(routeTable("vtb-a", nil)),
			want: StatusSkip, contains: "1 node not checked"},
		{id: "cloud.route-entries", kind: kPass, name: "every route", snap: flannelRoutes(routeTable("vtb-a", nil, route("172.20.1.0/24", "i-n1"), route("172.20.2.0/24", "i-n2"))),
			want: StatusPass, contains: "vtb-a (2/200 entries)"},
		{id: "cloud.route-entries", kind: kNA, name: "terway", snap: terwayCluster().withCloud(), want: StatusSkip, contains: "not applicable"},
		{id: "cloud.route-entries", kind: kForbidden, name: "entries denied", snap: flannelRoutes(denied(cloud.PartRouteEntries, "vpc:DescribeRouteEntryList")),
			want: StatusSkip, contains: "vpc:DescribeRouteEntryList"},

		// cloud.route-tables
		{id: "cloud.route-tables", kind: kTrigger, name: "two tables, none configured", snap: flannelRoutes(routeTable("vtb-a", []string{"vsw-node"}), routeTable("vtb-b", []string{"vsw-other"})).missing(cluster.CMCloudConfig),
			want: StatusFail, contains: `Set Global.routeTableIDs to "vtb-a,vtb-b"`},
		{id: "cloud.route-tables", kind: kTrigger, name: "a table of the nodes left out", snap: flannelRoutes(routeTable("vtb-a", nil), routeTable("vtb-b", []string{"vsw-node"})).
			cm(cluster.CMCloudConfig, "cloud-config.conf", `{"Global":{"routeTableIDs":"vtb-a"}}`), want: StatusFail, contains: "route table vtb-b serves the nodes' vSwitches vsw-node"},
		{id: "cloud.route-tables", kind: kPass, name: "configured for both", snap: flannelRoutes(routeTable("vtb-a", nil), routeTable("vtb-b", []string{"vsw-node"})).
			cm(cluster.CMCloudConfig, "cloud-config.conf", cloudConfigTwoTables), want: StatusPass, contains: "vtb-a, vtb-b"},
		{id: "cloud.route-tables", kind: kPass, name: "one table", snap: flannelRoutes(routeTable("vtb-a", nil)), want: StatusPass, contains: "1 route table"},
		{id: "cloud.route-tables", kind: kTrigger, name: "one table, routeTableIDs names another", snap: flannelRoutes(routeTable("vtb-a", nil)).
			cm(cluster.CMCloudConfig, "cloud-config.conf", `{"Global":{"routeTableIDs":"vtb-stale"}}`), want: StatusFail, contains: "routeTableIDs names vtb-stale, not a route table of the VPC (which has vtb-a)"},
		{id: "cloud.route-tables", kind: kNA, name: "terway", snap: terwayCluster().withCloud(), want: StatusSkip, contains: "not applicable"},
		{id: "cloud.route-tables", kind: kForbidden, name: "denied", snap: flannelRoutes(denied(cloud.PartRouteTables, "vpc:DescribeRouteTableList")), want: StatusSkip, contains: "vpc:DescribeRouteTableList"},
		{id: "cloud.route-tables", kind: kForbidden, name: "instances denied", snap: flannelRoutes(routeTable("vtb-a", nil), routeTable("vtb-b", nil), denied(cloud.PartInstances, "ecs:DescribeInstances")),
			want: StatusSkip, contains: "ecs:DescribeInstances"},
		{id: "cloud.route-tables", kind: kForbidden, name: "cloud-config forbidden", snap: flannelRoutes(routeTable("vtb-a", nil), routeTable("vtb-b", nil)).forbid(cluster.ConfigMapRead(cluster.CMCloudConfig)),
			want: StatusSkip, contains: "Forbidden"},

		// cloud.snat
		{id: "cloud.snat", kind: kTrigger, name: "new pod vSwitch without SNAT", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 4000),
			nat("ngw-1", cloud.SNATEntry{ID: "snat-1", VSwitchID: "vsw-older", Status: "Available"})),
			want: StatusWarn, contains: "pod vSwitch vsw-test0001 (10.0.0.0/19) has no SNAT entry on the VPC's NAT gateway (ngw-1)"},
		{id: "cloud.snat", kind: kTrigger, name: "flannel node vSwitch", snap: flannelRoutes(vsw("vsw-node", "cn-hangzhou-i", "192.168.0.0/24", 200), nat("ngw-1")),
			want: StatusWarn, contains: "node vSwitch vsw-node"},
		{id: "cloud.snat", kind: kPass, name: "covered by a VPC-wide source CIDR", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 4000),
			nat("ngw-1", cloud.SNATEntry{ID: "snat-1", SourceCIDR: "10.0.0.0/8", Status: "Available"})), want: StatusPass},
		{id: "cloud.snat", kind: kPass, name: "a pod vSwitch not in the VPC is left to vswitch-headroom", snap: terwayCluster().withCloud(nat("ngw-1", cloud.SNATEntry{ID: "snat-1", SourceCIDR: "10.0.0.0/8", Status: "Available"})),
			want: StatusSkip, contains: "no pod vSwitch is in the VPC; not in the VPC, not judged: vsw-test0001"},
		{id: "cloud.snat", kind: kPass, name: "covered by its own entry", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 4000),
			nat("ngw-1", cloud.SNATEntry{ID: "snat-1", VSwitchID: "vsw-test0001", Status: "Available"})), want: StatusPass},
		{id: "cloud.snat", kind: kNA, name: "no NAT gateway", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 4000)), want: StatusSkip, contains: "no Internet NAT gateway"},
		{id: "cloud.snat", kind: kNA, name: "only a VPC (intranet) NAT gateway", snap: terwayCluster().withCloud(vsw("vsw-test0001", "cn-hangzhou-i", "10.0.0.0/19", 4000),
			func(f *cloud.Facts) {
				f.NATGateways = []cloud.NATGateway{{ID: "ngw-vpc", NetworkType: "intranet", EntriesRead: true}}
			}), want: StatusSkip, contains: "no Internet NAT gateway"},
		{id: "cloud.snat", kind: kTrigger, name: "terway VPC mode: the node vSwitch", snap: snapshot().terway("terway", "v1.0.10").node("n1", ecsNode("n1", "i-n1", "", "ecs.g7.large", 64)).
			withCloud(instance("i-n1", "ecs.g7.large", "vsw-node"), vsw("vsw-node", "cn-hangzhou-i", "192.168.0.0/24", 200), nat("ngw-1")), want: StatusWarn, contains: "node vSwitch vsw-node"},
		{id: "cloud.snat", kind: kForbidden, name: "denied", snap: terwayCluster().withCloud(denied(cloud.PartSNATEntries, "vpc:DescribeSnatTableEntries")), want: StatusSkip, contains: "vpc:DescribeSnatTableEntries"},
	}
}
