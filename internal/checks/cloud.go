package checks

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// Thresholds of the cloud checks (documented in their catalog rows).
const (
	// HeadroomWarnPercent: warn when fewer of a pod vSwitch's usable
	// addresses are free.
	HeadroomWarnPercent = 10
	// RouteQuotaWarnPercent: warn when a route table holds this share of
	// its custom-entry quota.
	RouteQuotaWarnPercent = 90
	// DefaultRouteEntryQuota is the default quota of custom route entries
	// per VPC route table.
	DefaultRouteEntryQuota = 200
)

// Node labels the cloud checks read.
const (
	LabelInstanceType     = "node.kubernetes.io/instance-type"
	LabelInstanceTypeBeta = "beta.kubernetes.io/instance-type"
	LabelRegion           = "topology.kubernetes.io/region"
	LabelRegionBeta       = "failure-domain.beta.kubernetes.io/region"
)

// skipNoCloud is the reason of every cloud check without --cloud.
const skipNoCloud = "needs doctor --cloud (reads the VPC through Alibaba Cloud's API)"

// cloudParts returns a skip unless --cloud ran and read every part.
func (e *Env) cloudParts(parts ...string) *Result {
	if e.Cloud == nil {
		r := Skip(skipNoCloud)
		return &r
	}
	for _, p := range parts {
		if err := e.Cloud.Err(p); err != nil {
			r := Skip("cannot read the %s: %s", p, err.Error())
			return &r
		}
	}
	return nil
}

// InstanceID is the ECS instance of a node, from spec.providerID
// (REGION.INSTANCE-ID on ACK); "" when it has none.
func InstanceID(n *cluster.Node) string {
	_, id, ok := strings.Cut(n.ProviderID, ".")
	if !ok || !strings.HasPrefix(id, "i-") {
		return ""
	}
	return id
}

// NodeRegion is the region of the nodes' topology labels, or of their
// provider IDs; "" when the nodes do not say.
func NodeRegion(nodes []cluster.Node) string {
	counts := map[string]int{}
	for i := range nodes {
		r := nodes[i].Labels[LabelRegion]
		if r == "" {
			r = nodes[i].Labels[LabelRegionBeta]
		}
		if r == "" && InstanceID(&nodes[i]) != "" {
			r, _, _ = strings.Cut(nodes[i].ProviderID, ".")
		}
		if r != "" {
			counts[r]++
		}
	}
	best := ""
	for r, n := range counts {
		if n > counts[best] || (n == counts[best] && r < best) {
			best = r
		}
	}
	return best
}

func nodeInstanceType(n *cluster.Node, f *cloud.Facts) string {
	if t := n.Labels[LabelInstanceType]; t != "" {
		return t
	}
	if t := n.Labels[LabelInstanceTypeBeta]; t != "" {
		return t
	}
	if f != nil {
		return f.Instances[InstanceID(n)].Type
	}
	return ""
}

// PodVSwitches are Terway's pod vSwitches by zone: those of eni-config and
// of the dynamic configs the nodes name.
func (e *Env) PodVSwitches() map[string][]string {
	out := map[string][]string{}
	seen := map[string]bool{}
	add := func(conf *ackconf.ENIConf) {
		if conf == nil {
			return
		}
		zones := make([]string, 0, len(conf.VSwitches))
		for z := range conf.VSwitches {
			zones = append(zones, z)
		}
		sort.Strings(zones)
		for _, z := range zones {
			for _, id := range conf.VSwitches[z] {
				if !seen[id] {
					seen[id] = true
					out[z] = append(out[z], id)
				}
			}
		}
	}
	if e.ENIConfig != nil {
		add(e.ENIConfig.ENIConf)
	}
	names := map[string]bool{}
	for _, n := range e.S.Nodes {
		if name := n.Labels[cluster.LabelTerwayConfig]; name != "" {
			names[name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if data, err := e.S.ConfigMap(name); err == nil {
			add(ackconf.ParseENIConfig(data).ENIConf)
		}
	}
	return out
}

// PodVSwitchIDs lists PodVSwitches, sorted.
func (e *Env) PodVSwitchIDs() []string {
	var ids []string
	for _, l := range e.PodVSwitches() {
		ids = append(ids, l...)
	}
	sort.Strings(ids)
	return ids
}

func (e *Env) terwayENI() *Result {
	if r := e.requirePlugin(PluginTerway); r != nil {
		return r
	}
	if e.TerwayMode == TerwayVPC {
		r := NotApplicable("Terway in VPC mode gives pods addresses of the node's pod CIDR, not of vSwitches")
		return &r
	}
	return nil
}

func cloudVSwitchHeadroom(e *Env) Result {
	if r := e.terwayENI(); r != nil {
		return *r
	}
	if r := e.cloudParts(cloud.PartVSwitches); r != nil {
		return *r
	}
	byZone := e.PodVSwitches()
	if len(byZone) == 0 {
		return Skip("eni-config names no pod vSwitch")
	}
	status := StatusPass
	var findings []Finding
	var zones []string
	lowest, lowestID := int64(-1), ""
	for _, zone := range slices.Sorted(maps.Keys(byZone)) {
		var free int64
		var parts []string
		for _, id := range byZone[zone] {
			vs, ok := e.Cloud.VSwitches[id]
			if !ok {
				status = StatusFail
				findings = append(findings, Finding{Object: "vswitch/" + id,
					Message:     fmt.Sprintf("pod vSwitch %s (zone %s) is not in the cluster's VPC (%s): deleted, or of another VPC; Terway cannot allocate from it", id, zone, strings.Join(e.Cloud.VPCs, ", ")),
					Remediation: "Replace it in the Terway add-on configuration (PodVswitchId) with a vSwitch of the VPC in that zone"})
				continue
			}
			free += vs.Free
			parts = append(parts, fmt.Sprintf("%s %d", id, vs.Free))
			if lowest < 0 || vs.Free < lowest {
				lowest, lowestID = vs.Free, id
			}
			pods := e.S.Pods.InRange[id]
			usable := vs.Usable()
			msg := fmt.Sprintf("%s (zone %s, %s): %d of %d addresses free, %s on it", id, vs.Zone, vs.CIDR, vs.Free, usable, count(pods, "pod"))
			switch {
			case vs.Free == 0:
				status = StatusFail
				findings = append(findings, Finding{Object: "vswitch/" + id, Message: msg + ": exhausted, new pods that Terway places on it fail with InvalidVSwitchId.IpNotEnough",
					Remediation: "Add a vSwitch in zone " + vs.Zone + " (prefix /19 or shorter) to the Terway add-on configuration (PodVswitchId)"})
			case vs.Free*100 < usable*HeadroomWarnPercent:
				if status == StatusPass {
					status = StatusWarn
				}
				findings = append(findings, Finding{Object: "vswitch/" + id, Message: fmt.Sprintf("%s: about %d more pods before IpNotEnough", msg, vs.Free),
					Remediation: "Add a vSwitch in zone " + vs.Zone + " (prefix /19 or shorter) to the Terway add-on configuration (PodVswitchId) before it runs out"})
			}
		}
		if len(parts) > 0 {
			zones = append(zones, fmt.Sprintf("%s %d (%s)", zone, free, strings.Join(parts, ", ")))
		}
		if len(parts) > 0 && free == 0 {
			status = StatusFail
			findings = append(findings, Finding{Object: "zone/" + zone,
				Message:     fmt.Sprintf("zone %s: no pod vSwitch has a free address: every new pod on a node of this zone fails with InvalidVSwitchId.IpNotEnough", zone),
				Remediation: "Add a vSwitch in zone " + zone + " to the Terway add-on configuration (PodVswitchId)"})
		}
	}
	// Free addresses are the forecast: each new pod takes one (in shared ENI
	// mode a new ENI also takes one, so it is an upper bound).
	summary := "free addresses per zone (about as many more pods before IpNotEnough): " + strings.Join(zones, "; ")
	switch {
	case len(findings) > 0:
		summary = count(len(findings), "finding") + "; " + summary
	case lowestID != "":
		summary += fmt.Sprintf("; fewest free: %s", lowestID)
	}
	return WithFindings(status, summary, findings)
}

func cloudPodOutsideVSwitch(e *Env) Result {
	if r := e.terwayENI(); r != nil {
		return *r
	}
	if r := e.cloudParts(cloud.PartVSwitches); r != nil {
		return *r
	}
	if r := e.skipUnless(cluster.ReadPods); r != nil {
		return *r
	}
	if e.S.Pods.InRange == nil {
		return Skip("no pod vSwitch CIDR is known: eni-config names none, or none is in the VPC")
	}
	in := 0
	for _, n := range e.S.Pods.InRange {
		in += n
	}
	if e.S.Pods.OutsideRangesCount == 0 {
		return Pass("every pod IPv4 address lies in a pod vSwitch (%s)", count(in, "address"))
	}
	var findings []Finding
	for _, p := range e.S.Pods.OutsideRanges {
		findings = append(findings, Finding{
			Object:      p.Namespace + "/Pod/" + p.Name,
			Node:        p.Node,
			Message:     fmt.Sprintf("pod IP %s lies in none of the pod vSwitches of eni-config and the dynamic configs (%s): a stale ENI from an earlier configuration, or a pod whose network is set elsewhere (PodNetworking)", p.Detail, strings.Join(e.PodVSwitchIDs(), ", ")),
			Remediation: "Find the ENI that holds " + p.Detail + " (ECS console, instance of " + p.Node + "); if it is a stale ENI: kubectl drain " + p.Node + ", detach it, then add the node back",
		})
	}
	return WithFindings(StatusWarn, fmt.Sprintf("%s outside the pod vSwitches (%d inside)", count(e.S.Pods.OutsideRangesCount, "pod address"), in), findings)
}

// ENIPodCapacity is how many pods Terway can give addresses to on an
// instance type: exclusive ENI, one pod per secondary ENI; shared ENI, the
// secondary addresses of every ENI but the primary one.
func ENIPodCapacity(t cloud.InstanceType, exclusive bool) int {
	if t.ENIs <= 1 {
		return 0
	}
	if exclusive {
		return t.ENIs - 1
	}
	return (t.ENIs - 1) * t.IPsPerENI
}

func cloudENIQuota(e *Env) Result {
	if r := e.terwayENI(); r != nil {
		return *r
	}
	if r := e.cloudParts(cloud.PartInstanceTypes); r != nil {
		return *r
	}
	if r := e.skipUnless(cluster.ReadNodes, cluster.ReadPods); r != nil {
		return *r
	}
	var findings []Finding
	unknown, checked := 0, 0
	for i := range e.S.Nodes {
		n := &e.S.Nodes[i]
		typ := nodeInstanceType(n, e.Cloud)
		it, ok := e.Cloud.InstanceTypes[typ]
		if typ == "" || !ok {
			unknown++
			continue
		}
		checked++
		exclusive := e.TerwayMode == TerwayExclusiveENI || n.Labels[LabelExclusiveENI] == LabelExclusiveENIValue
		capacity := ENIPodCapacity(it, exclusive)
		mode := "shared ENI"
		formula := fmt.Sprintf("(%d ENIs - 1) x %d addresses", it.ENIs, it.IPsPerENI)
		if exclusive {
			mode, formula = "exclusive ENI", fmt.Sprintf("%d ENIs - 1", it.ENIs)
		}
		pods := e.S.Pods.PodNetworkIPs[n.Name]
		host := e.S.Pods.HostNetworkPods[n.Name]
		var why []string
		if pods > capacity {
			why = append(why, fmt.Sprintf("%s hold pod-network addresses", count(pods, "pod")))
		}
		// maxPods also counts host-network pods, which take no address.
		// In exclusive ENI mode the scheduler counts the aliyun/eni
		// resource, so maxPods does not matter there.
		if !exclusive && n.MaxPods > int64(capacity+host) {
			why = append(why, fmt.Sprintf("maxPods is %d (%s on the host network)", n.MaxPods, count(host, "pod")))
		}
		if len(why) == 0 {
			continue
		}
		effect := "pods beyond it stay ContainerCreating waiting for an address"
		if exclusive {
			effect = "more pods than ENIs: some hold addresses Terway did not give"
		}
		findings = append(findings, Finding{Object: "node/" + n.Name, Node: n.Name,
			Message: fmt.Sprintf("%s (%s) takes at most %d pods on the pod network (%s), but %s: %s",
				typ, mode, capacity, formula, strings.Join(why, " and "), effect),
			Remediation: "A larger instance type for this node pool, or maxPods at most the ENI capacity plus the host-network pods; in shared ENI mode more pods fit than in exclusive ENI mode"})
	}
	if checked == 0 {
		if err := e.Cloud.Err(cloud.PartInstances); err != nil {
			return Skip("no node's instance type is known: no label %s, and cannot read the %s: %s", LabelInstanceType, cloud.PartInstances, err.Error())
		}
		return Skip("no node's instance type is known (label %s)", LabelInstanceType)
	}
	suffix := ""
	if unknown > 0 {
		suffix = fmt.Sprintf("; %s of unknown instance type not checked", count(unknown, "node"))
	}
	if len(findings) == 0 {
		return Pass("the ENI quota of every node's instance type covers its pods and maxPods (%s checked%s)", count(checked, "node"), suffix)
	}
	return WithFindings(StatusWarn, fmt.Sprintf("%s where the ENI quota is below the pods or maxPods%s", count(len(findings), "node"), suffix), findings)
}

// ccmRouteTables are the route tables of the cloud-controller-manager's
// cloud-config (Global.routeTableIDs); ok is false when it cannot be read.
func (e *Env) ccmRouteTables() (ids []string, ok bool, why string) {
	data, rerr := e.S.ConfigMap(cluster.CMCloudConfig)
	if rerr != nil {
		if rerr.Reason == "NotFound" {
			return nil, true, ""
		}
		return nil, false, "cannot read kube-system/cloud-config: " + rerr.Error()
	}
	text, found := data["cloud-config.conf"]
	if !found {
		return nil, true, ""
	}
	var conf struct {
		Global struct {
			RouteTableIDs string `json:"routeTableIDs"`
		} `json:"Global"`
	}
	if err := json.Unmarshal([]byte(text), &conf); err != nil {
		return nil, false, "kube-system/cloud-config: cloud-config.conf is not valid JSON: " + err.Error()
	}
	for _, id := range strings.Split(conf.Global.RouteTableIDs, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, true, ""
}

// routeTablesToCheck are the tables pod routes must be in: those the
// cloud-controller-manager is configured for, else every table of the VPC
// (a vSwitch bound to a table without the route cannot reach those pods).
func (e *Env) routeTablesToCheck() []cloud.RouteTable {
	configured, _, _ := e.ccmRouteTables()
	if len(configured) == 0 {
		return e.Cloud.RouteTables
	}
	want := map[string]bool{}
	for _, id := range configured {
		want[id] = true
	}
	var out []cloud.RouteTable
	for _, t := range e.Cloud.RouteTables {
		if want[t.ID] {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		// Only stale IDs (cloud.route-tables says so): the routes are
		// missing from every table the VPC has.
		return e.Cloud.RouteTables
	}
	return out
}

func cloudRouteEntries(e *Env) Result {
	if r := e.requirePlugin(PluginFlannel); r != nil {
		return *r
	}
	if r := e.cloudParts(cloud.PartRouteTables, cloud.PartRouteEntries); r != nil {
		return *r
	}
	if r := e.skipUnless(cluster.ReadNodes); r != nil {
		return *r
	}
	tables := e.routeTablesToCheck()
	if len(tables) == 0 {
		return Skip("no route table of the VPC to check")
	}
	quota := e.RouteEntryQuota
	if quota <= 0 {
		quota = DefaultRouteEntryQuota
	}
	status := StatusPass
	var findings []Finding
	raise := func(s Status) {
		if s.Rank() > status.Rank() {
			status = s
		}
	}
	checked, noID := 0, 0
	for i := range e.S.Nodes {
		if ipv4PodCIDR(&e.S.Nodes[i]) == "" {
			continue
		}
		if InstanceID(&e.S.Nodes[i]) == "" {
			noID++
		} else {
			checked++
		}
	}
	if checked == 0 {
		if noID > 0 {
			return Skip("no node with an IPv4 pod CIDR has an ECS provider ID (spec.providerID REGION.i-...): %s not checked", count(noID, "node"))
		}
		return Skip("no node has an IPv4 pod CIDR")
	}
	for _, t := range tables {
		byDest := map[string]cloud.RouteEntry{}
		for _, en := range t.Entries {
			byDest[en.Destination] = en
		}
		for i := range e.S.Nodes {
			n := &e.S.Nodes[i]
			id := InstanceID(n)
			cidr := ipv4PodCIDR(n)
			if cidr == "" || id == "" {
				continue
			}
			en, found := byDest[cidr]
			switch {
			case !found:
				raise(StatusFail)
				findings = append(findings, Finding{Object: "node/" + n.Name, Node: n.Name,
					Message:     fmt.Sprintf("pod CIDR %s has no route entry in route table %s: pods on other nodes (and vSwitches bound to %s) cannot reach this node's pods", cidr, t.ID, t.ID),
					Remediation: fmt.Sprintf("Check the cloud-controller-manager's events and logs; add a custom route %s -> %s in %s", cidr, id, t.ID)})
			case !slices.Contains(en.NextHops, id):
				raise(StatusFail)
				findings = append(findings, Finding{Object: "node/" + n.Name, Node: n.Name,
					Message:     fmt.Sprintf("the route for pod CIDR %s in %s points to %s, not to the node's instance %s", cidr, t.ID, strings.Join(en.NextHops, ","), id),
					Remediation: fmt.Sprintf("Delete the stale entry; the cloud-controller-manager then adds %s -> %s", cidr, id)})
			}
		}
		used := len(t.Entries)
		switch {
		case used >= quota:
			raise(StatusFail)
			findings = append(findings, Finding{Object: "routetable/" + t.ID,
				Message:     fmt.Sprintf("route table %s holds %d custom entries, its quota is %d: the route of the next node cannot be added (it stays NetworkUnavailable)", t.ID, used, quota),
				Remediation: "Raise the route table's entry quota in the Quota Center, or delete stale entries; pass the new quota with --route-entry-quota"})
		case used*100 >= quota*RouteQuotaWarnPercent:
			// The catalog's severity: a table this near its quota fails
			// the next node pools' scale-out.
			raise(StatusFail)
			findings = append(findings, Finding{Object: "routetable/" + t.ID,
				Message:     fmt.Sprintf("route table %s holds %d of %d custom entries: %d more nodes before it is full", t.ID, used, quota, quota-used),
				Remediation: "Raise the route table's entry quota in the Quota Center before adding nodes; pass the new quota with --route-entry-quota"})
		}
	}
	suffix := ""
	if noID > 0 {
		suffix = fmt.Sprintf("; %s without an ECS provider ID not checked", count(noID, "node"))
	}
	ids := make([]string, 0, len(tables))
	for _, t := range tables {
		ids = append(ids, fmt.Sprintf("%s (%d/%d entries)", t.ID, len(t.Entries), quota))
	}
	if status == StatusPass {
		return Pass("every node's pod CIDR routes to its instance in %s%s", strings.Join(ids, ", "), suffix)
	}
	return WithFindings(status, fmt.Sprintf("%s in %s%s", count(len(findings), "problem"), strings.Join(ids, ", "), suffix), findings)
}

func ipv4PodCIDR(n *cluster.Node) string {
	for _, c := range n.PodCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
			return p.Masked().String()
		}
	}
	return ""
}

func cloudRouteTables(e *Env) Result {
	if r := e.requirePlugin(PluginFlannel); r != nil {
		return *r
	}
	// The instances say which tables serve the nodes' vSwitches.
	if r := e.cloudParts(cloud.PartRouteTables, cloud.PartInstances); r != nil {
		return *r
	}
	tables := e.Cloud.RouteTables
	ids := make([]string, 0, len(tables))
	inVPC := map[string]bool{}
	for _, t := range tables {
		ids = append(ids, t.ID)
		inVPC[t.ID] = true
	}
	configured, ok, why := e.ccmRouteTables()
	if len(tables) <= 1 {
		// One table is found without configuration; a stale ID is not.
		var stale []string
		for _, id := range configured {
			if !inVPC[id] {
				stale = append(stale, id)
			}
		}
		if len(stale) == 0 {
			return Pass("the VPC has %s: %s", count(len(tables), "route table"), strings.Join(ids, ", "))
		}
		return WithFindings(StatusFail, fmt.Sprintf("routeTableIDs (%s) names route tables the VPC does not have", strings.Join(configured, ",")), []Finding{{
			Object:      "kube-system/ConfigMap/" + cluster.CMCloudConfig,
			Message:     fmt.Sprintf("routeTableIDs names %s, not a route table of the VPC (which has %s): the cloud-controller-manager adds no pod routes there", strings.Join(stale, ", "), strings.Join(ids, ", ")),
			Remediation: fmt.Sprintf("Set Global.routeTableIDs to %q in key cloud-config.conf of kube-system/cloud-config (or leave it empty) and restart the cloud-controller-manager", strings.Join(ids, ",")),
		}})
	}
	if !ok {
		return Skip("the VPC has %d route tables and %s", len(tables), why)
	}
	if len(configured) == 0 {
		return WithFindings(StatusFail, fmt.Sprintf("the VPC has %d route tables and the cloud-controller-manager is configured for none", len(tables)), []Finding{{
			Object:      "kube-system/ConfigMap/" + cluster.CMCloudConfig,
			Message:     fmt.Sprintf("the VPC has route tables %s and routeTableIDs is empty: the cloud-controller-manager stops adding pod routes (\"multiple route tables found\") and new nodes stay NetworkUnavailable", strings.Join(ids, ", ")),
			Remediation: fmt.Sprintf("Set Global.routeTableIDs to %q in key cloud-config.conf of kube-system/cloud-config and restart the cloud-controller-manager", strings.Join(ids, ",")),
		}})
	}
	var findings []Finding
	for _, id := range configured {
		if !inVPC[id] {
			findings = append(findings, Finding{Object: "kube-system/ConfigMap/" + cluster.CMCloudConfig,
				Message:     fmt.Sprintf("routeTableIDs names %s, which is not a route table of the VPC", id),
				Remediation: "Remove it from Global.routeTableIDs in kube-system/cloud-config"})
		}
	}
	want := map[string]bool{}
	for _, id := range configured {
		want[id] = true
	}
	nodeVSw := map[string]bool{}
	for _, inst := range e.Cloud.Instances {
		nodeVSw[inst.VSwitchID] = true
	}
	for _, t := range tables {
		if want[t.ID] {
			continue
		}
		var serving []string
		for _, v := range t.VSwitches {
			if nodeVSw[v] {
				serving = append(serving, v)
			}
		}
		if len(serving) > 0 {
			findings = append(findings, Finding{Object: "routetable/" + t.ID,
				Message:     fmt.Sprintf("route table %s serves the nodes' vSwitches %s but is not in routeTableIDs: it gets no pod routes, so those nodes cannot reach pods on other nodes", t.ID, strings.Join(serving, ", ")),
				Remediation: "Add " + t.ID + " to Global.routeTableIDs in kube-system/cloud-config"})
		}
	}
	if len(findings) > 0 {
		return WithFindings(StatusFail, fmt.Sprintf("routeTableIDs (%s) does not match the VPC's route tables (%s)", strings.Join(configured, ","), strings.Join(ids, ", ")), findings)
	}
	return Pass("the cloud-controller-manager is configured for the VPC's route tables: %s", strings.Join(configured, ", "))
}

func cloudSNAT(e *Env) Result {
	if e.Plugin == PluginUnknown {
		if r := e.requirePlugin(PluginTerway); r != nil && e.S.ReadErr(cluster.ReadDaemonSets) != nil {
			return *r
		}
		return NotApplicable("no Terway or Flannel DaemonSet in kube-system")
	}
	// The vSwitches pods leave from: Terway's pod vSwitches in ENI modes;
	// on Flannel and Terway's VPC mode the nodes' own (pods leave through
	// the node's address).
	podVSwitches := e.Plugin == PluginTerway && e.TerwayMode != TerwayVPC
	parts := []string{cloud.PartVSwitches, cloud.PartNATGateways, cloud.PartSNATEntries}
	if !podVSwitches {
		parts = append(parts, cloud.PartInstances)
	}
	if r := e.cloudParts(parts...); r != nil {
		return *r
	}
	var gateways []cloud.NATGateway
	for _, g := range e.Cloud.NATGateways {
		// A VPC NAT gateway (intranet) gives no way to the Internet.
		if g.NetworkType == "" || g.NetworkType == "internet" {
			gateways = append(gateways, g)
		}
	}
	if len(gateways) == 0 {
		return NotApplicable("the VPC has no Internet NAT gateway")
	}
	var targets []string
	what := "pod vSwitch"
	if podVSwitches {
		targets = e.PodVSwitchIDs()
	} else {
		what = "node vSwitch"
		seen := map[string]bool{}
		for _, inst := range e.Cloud.Instances {
			if inst.VSwitchID != "" && !seen[inst.VSwitchID] {
				seen[inst.VSwitchID] = true
				targets = append(targets, inst.VSwitchID)
			}
		}
		sort.Strings(targets)
	}
	if len(targets) == 0 {
		return Skip("no %s is known", what)
	}
	var gws []string
	for _, g := range gateways {
		gws = append(gws, g.ID)
	}
	var findings []Finding
	var missing []string
	for _, id := range targets {
		vs, ok := e.Cloud.VSwitches[id]
		if !ok {
			// Not in the VPC: cloud.vswitch-headroom fails on it; no SNAT
			// entry can cover what does not exist.
			missing = append(missing, id)
			continue
		}
		if snatCovers(gateways, vs) {
			continue
		}
		cidr := vs.CIDR.String()
		findings = append(findings, Finding{Object: "vswitch/" + id,
			Message:     fmt.Sprintf("%s %s (%s) has no SNAT entry on the VPC's NAT gateway (%s): pods that leave through it cannot reach the Internet", what, id, cidr, strings.Join(gws, ", ")),
			Remediation: "Add an SNAT entry for " + id + " on the NAT gateway (console: NAT Gateway > SNAT Management), or an EIP per pod where that is the design"})
	}
	notInVPC := ""
	if len(missing) > 0 {
		notInVPC = fmt.Sprintf("; not in the VPC, not judged: %s", strings.Join(missing, ", "))
	}
	if len(findings) == 0 {
		if len(missing) == len(targets) {
			return Skip("no %s is in the VPC%s", what, notInVPC)
		}
		return Pass("every %s has an SNAT entry (%s)%s", what, count(len(targets)-len(missing), "vSwitch"), notInVPC)
	}
	return WithFindings(StatusWarn, fmt.Sprintf("%s of %d without an SNAT entry%s", count(len(findings), what), len(targets)-len(missing), notInVPC), findings)
}

// snatCovers: an entry for the vSwitch itself, or one whose source CIDR
// holds the vSwitch's whole range (a VPC-wide entry).
func snatCovers(gws []cloud.NATGateway, vs cloud.VSwitch) bool {
	for _, g := range gws {
		for _, en := range g.SNATEntries {
			if en.Status == "Deleting" {
				continue
			}
			if en.VSwitchID == vs.ID {
				return true
			}
			if p, err := netip.ParsePrefix(en.SourceCIDR); err == nil && vs.CIDR.IsValid() && p.Bits() <= vs.CIDR.Bits() && p.Contains(vs.CIDR.Addr()) {
				return true
			}
		}
	}
	return false
}
