package checks

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// Flannel releases of ACK that changed behaviour.
var (
	// FlannelHairpinSince: before it, hairpin (loopback) traffic is not allowed at all.
	FlannelHairpinSince = ackconf.MustImageVersion("v0.15.1.4-e02c8f12-aliyun")
	// FlannelIPAMFixSince: before it, a node reboot leaks host-local IPs.
	FlannelIPAMFixSince = ackconf.MustImageVersion("v0.15.1.11-7e95fe23-aliyun")
)

const flannelCfgObject = "kube-system/ConfigMap/" + cluster.CMFlannel

const restartFlannel = "kubectl -n kube-system delete pod -l app=flannel"

// fixOr names the fix command of a config remedy before the manual steps.
func fixOr(id, byHand string) string {
	return "kubectl acknet fix " + id + " --apply --restart; by hand: " + byHand
}

// flannelCNI returns the parsed CNI config or a result that says why not.
func flannelCNI(e *Env) (*ackconf.FlannelCNI, *Result) {
	if r := e.requirePlugin(PluginFlannel); r != nil {
		return nil, r
	}
	if _, err := e.S.ConfigMap(cluster.CMFlannel); err != nil {
		r := Skip("cannot read %s: %s", flannelCfgObject, err.Error())
		return nil, &r
	}
	if e.FlannelCNIErr != nil {
		r := WithFindings(StatusFail, "the Flannel CNI config does not parse", []Finding{{
			Object:      flannelCfgObject,
			Message:     fmt.Sprintf("cni-conf.json: %v", e.FlannelCNIErr),
			Remediation: "kubectl -n kube-system edit configmap " + cluster.CMFlannel + " and fix the JSON, then " + restartFlannel,
		}})
		return nil, &r
	}
	return e.FlannelCNI, nil
}

func flannelVersion(e *Env) (ackconf.ImageVersion, bool) {
	v, err := ackconf.ParseImageVersion(e.PluginVersion)
	return v, err == nil
}

func flannelCNIVersion(e *Env) Result {
	cni, r := flannelCNI(e)
	if r != nil {
		return *r
	}
	atLeast, ok := e.kubeAtLeast(1, 16)
	if !ok {
		return Skip("cannot tell the Kubernetes version: %s", readReason2(e, cluster.ReadVersion))
	}
	if !atLeast {
		return NotApplicable("Kubernetes %s is older than 1.16", e.S.ServerVersion)
	}
	if cni.CNIVersion != "" {
		return Pass("cni-conf.json sets cniVersion %s", cni.CNIVersion)
	}
	return WithFindings(StatusFail, "cni-conf.json has no cniVersion", []Finding{{
		Object:      flannelCfgObject,
		Message:     fmt.Sprintf("cni-conf.json (network %q) has no cniVersion; on Kubernetes %s nodes go NotReady after a Flannel image upgrade", cni.Name, e.S.ServerVersion),
		Remediation: fixOr("flannel.cni-version", `add "cniVersion": "0.3.1" to cni-conf.json (kubectl -n kube-system edit configmap kube-flannel-cfg), then `+restartFlannel),
	}})
}

func readReason2(e *Env, key string) string {
	if err := e.S.ReadErr(key); err != nil {
		return err.Error()
	}
	return "unknown"
}

func flannelHairpin(e *Env) Result {
	cni, r := flannelCNI(e)
	if r != nil {
		return *r
	}
	if cni.HairpinMode != nil && *cni.HairpinMode {
		if v, ok := flannelVersion(e); ok && v.Less(FlannelHairpinSince) {
			return WithFindings(StatusWarn, "hairpinMode is set but this Flannel ignores it", []Finding{{
				Object:      "kube-system/DaemonSet/" + e.PluginDS.Name,
				Message:     fmt.Sprintf("Flannel %s is older than %s and does not allow loopback at all", e.PluginVersion, FlannelHairpinSince.Raw),
				Remediation: "upgrade the Flannel add-on in the ACK console",
			}})
		}
		return Pass("hairpinMode is true in the delegate")
	}
	observed := "unset"
	if cni.HairpinMode != nil {
		observed = "false"
	}
	msg := fmt.Sprintf("hairpinMode is %s in the delegate of cni-conf.json: a pod cannot reach a Service that balances back to itself", observed)
	if v, ok := flannelVersion(e); ok && v.Less(FlannelHairpinSince) {
		msg += fmt.Sprintf("; Flannel %s (older than %s) does not allow loopback at all", e.PluginVersion, FlannelHairpinSince.Raw)
	}
	return WithFindings(StatusWarn, "hairpin traffic is off", []Finding{{
		Object:      flannelCfgObject,
		Message:     msg,
		Remediation: `prefer a headless Service; or ` + fixOr("flannel.hairpin", `set "hairpinMode": true in "delegate" (kubectl -n kube-system edit configmap kube-flannel-cfg), `+restartFlannel) + `; then recreate the affected pods`,
	}})
}

func flannelIPAMDataDir(e *Env) Result {
	cni, r := flannelCNI(e)
	if r != nil {
		return *r
	}
	// The config reaches new pods only; running pods keep their IPs on disk
	// until each node is drained, cleared and rebooted (the FAQ's step 4).
	const fix = `add "dataDir": "/var/run/cni/flannel" and "ipam": {"type": "host-local", "dataDir": "/var/run/cni/networks"} to the flannel plugin in cni-conf.json, then ` + restartFlannel +
		`; then move the nodes one at a time: kubectl acknet flannel tmpfs --all-nodes`
	if v, ok := flannelVersion(e); ok && v.Less(FlannelIPAMFixSince) {
		return WithFindings(StatusWarn, "this Flannel leaks IPs when a node reboots", []Finding{{
			Object:      "kube-system/DaemonSet/" + e.PluginDS.Name,
			Message:     fmt.Sprintf("Flannel %s is older than %s: IPs allocated before a node reboot are never released", e.PluginVersion, FlannelIPAMFixSince.Raw),
			Remediation: "upgrade the Flannel add-on in the ACK console; then " + fix,
		}})
	}
	if cni.OnTmpfs() {
		return Pass("IPAM state is under /var/run (tmpfs): %s and %s", cni.EffectiveDataDir(), cni.EffectiveIPAMDataDir())
	}
	return WithFindings(StatusWarn, "IPAM state survives reboots", []Finding{{
		Object:      flannelCfgObject,
		Message:     fmt.Sprintf("flannel dataDir is %s and host-local ipam dataDir is %s: allocations survive a reboot and can leak", cni.EffectiveDataDir(), cni.EffectiveIPAMDataDir()),
		Remediation: fixOr("flannel.ipam-datadir", fix),
	}})
}

// eventsMatching returns the events whose message contains any of msgs.
func eventsMatching(e *Env, msgs ...string) []cluster.Event {
	var out []cluster.Event
	for _, ev := range e.S.Events {
		for _, m := range msgs {
			if strings.Contains(ev.Message, m) {
				out = append(out, ev)
				break
			}
		}
	}
	return out
}

// eventNode is the node an event concerns: its source host, or the node of
// the pod it names.
func eventNode(e *Env, ev cluster.Event) string {
	if ev.Node != "" {
		return ev.Node
	}
	if st, ok := e.S.Pods.Tracked[ev.Namespace+"/"+ev.Name]; ok && st.Node != "" {
		return st.Node
	}
	return "(unknown node)"
}

type nodeEvents struct {
	count  int32
	newest time.Time
	pods   map[string]bool
}

func groupByNode(e *Env, evs []cluster.Event) (map[string]*nodeEvents, []string) {
	by := map[string]*nodeEvents{}
	for _, ev := range evs {
		n := eventNode(e, ev)
		g := by[n]
		if g == nil {
			g = &nodeEvents{pods: map[string]bool{}}
			by[n] = g
		}
		g.count += ev.Count
		if ev.Last.After(g.newest) {
			g.newest = ev.Last
		}
		if ev.Kind == "Pod" {
			g.pods[ev.Namespace+"/"+ev.Name] = true
		}
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	return by, names
}

func flannelIPExhausted(e *Env) Result {
	if r := e.requirePlugin(PluginFlannel); r != nil {
		return *r
	}
	if r := e.skipUnless(cluster.ReadEvents); r != nil {
		return *r
	}
	evs := eventsMatching(e, cluster.MsgNoIPInRange)
	if len(evs) == 0 {
		return Pass("no %q events", cluster.MsgNoIPInRange)
	}
	by, names := groupByNode(e, evs)
	causes := ipLeakCauses(e)
	var findings []Finding
	for _, n := range names {
		g := by[n]
		findings = append(findings, Finding{
			Object:      "node/" + n,
			Node:        n,
			Message:     fmt.Sprintf("%s %q for %s, newest %s; %s", count(int(g.count), "event"), cluster.MsgNoIPInRange, count(len(g.pods), "pod"), g.newest.UTC().Format(time.RFC3339), causes.why),
			Remediation: "kubectl acknet flannel gc --node " + n + causes.fix,
		})
	}
	return WithFindings(StatusFail, "pod IP ranges exhausted on "+count(len(names), "node"), findings)
}

// ipLeakCause is what the FAQ blames for leaked Flannel IPs, for this
// cluster's versions.
type ipLeakCause struct {
	why string // for the message
	fix string // appended to the remediation, "" when no upgrade helps
}

// ipLeakCauses names the FAQ's two causes of leaked IPs that apply here:
// Kubernetes older than 1.20 (kubelet leaks sandboxes' IPs, kubernetes issues
// 75665 and 92614) and Flannel older than FlannelIPAMFixSince (IPAM state
// survives a reboot). A version it cannot read is said to be unknown, not
// assumed.
func ipLeakCauses(e *Env) ipLeakCause {
	var why, fix []string
	kubeNew, kubeKnown := e.kubeAtLeast(1, 20)
	switch {
	case !kubeKnown:
		why = append(why, "Kubernetes version unknown (before 1.20 the kubelet leaks IPs)")
	case !kubeNew:
		why = append(why, "Kubernetes "+e.S.ServerVersion+" is before 1.20, whose kubelet leaks IPs")
		fix = append(fix, "upgrade the cluster to Kubernetes 1.20 or later")
	}
	v, flannelKnown := flannelVersion(e)
	switch {
	case !flannelKnown:
		why = append(why, fmt.Sprintf("Flannel version %q unknown (before %s a node reboot leaks IPs)", e.PluginVersion, FlannelIPAMFixSince.Raw))
	case v.Less(FlannelIPAMFixSince):
		why = append(why, fmt.Sprintf("Flannel %s is before %s, which leaks IPs when a node reboots", e.PluginVersion, FlannelIPAMFixSince.Raw))
		fix = append(fix, "upgrade the Flannel add-on to "+FlannelIPAMFixSince.Raw+" or later (see flannel.ipam-datadir)")
	}
	out := ipLeakCause{why: strings.Join(why, "; ")}
	if len(why) == 0 {
		out.why = fmt.Sprintf("neither cause of leaks the FAQ names applies (Kubernetes %s >= 1.20, Flannel %s >= %s): the range may be full of live pods (see node.pod-cidr-capacity)",
			e.S.ServerVersion, e.PluginVersion, FlannelIPAMFixSince.Raw)
	}
	if len(fix) > 0 {
		out.fix = "; " + strings.Join(fix, "; ")
	}
	return out
}

// usableAddresses of a node pod CIDR for host-local under Flannel: the
// network address, the gateway (.1, the cb0 bridge) and the broadcast
// address are never handed to pods.
func usableAddresses(p netip.Prefix) int {
	bits := p.Addr().BitLen() - p.Bits()
	if bits >= 31 {
		return 1 << 30 // effectively unlimited for this check
	}
	n := (1 << bits) - 3
	if n < 0 {
		return 0
	}
	return n
}

func podCIDRCapacity(e *Env) Result {
	if r := e.requirePlugin(PluginFlannel); r != nil {
		return *r
	}
	if r := e.skipUnless(cluster.ReadNodes, cluster.ReadPods); r != nil {
		return *r
	}
	var findings []Finding
	worst := StatusPass
	fullest, fullestPct := "", -1.0
	for _, n := range e.S.Nodes {
		var cidr netip.Prefix
		for _, c := range n.PodCIDRs {
			if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
				cidr = p
				break
			}
		}
		if !cidr.IsValid() {
			continue
		}
		used, capacity := e.S.Pods.PodNetworkIPs[n.Name], usableAddresses(cidr)
		pct := 100 * float64(used) / float64(max(capacity, 1))
		if pct > fullestPct {
			fullest, fullestPct = n.Name, pct
		}
		status := StatusPass
		switch {
		case used >= capacity:
			status = StatusFail
		case pct >= 90:
			status = StatusWarn
		default:
			continue
		}
		if status.Rank() > worst.Rank() {
			worst = status
		}
		findings = append(findings, Finding{
			Object:      "node/" + n.Name,
			Node:        n.Name,
			Message:     fmt.Sprintf("%d of %d usable pod IPs of %s in use (%.0f%%)", used, capacity, cidr, pct),
			Remediation: "the per-node range cannot be changed: spread pods to other nodes, free IPs (kubectl acknet flannel gc --node " + n.Name + "), or plan a larger per-node range in a new cluster",
		})
	}
	if len(findings) == 0 {
		if fullest == "" {
			return Pass("no node has an IPv4 pod CIDR")
		}
		return Pass("fullest node %s at %.0f%% of its pod CIDR", fullest, fullestPct)
	}
	return WithFindings(worst, count(len(findings), "node")+" at or above 90% of their pod CIDR", findings)
}
