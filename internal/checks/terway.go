package checks

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

const eniConfigObject = "kube-system/ConfigMap/" + cluster.CMENIConfig

func restartTerway(e *Env) string {
	app := "terway-eniip"
	if e.PluginDS != nil {
		app = e.PluginDS.Name
		if v := e.PluginDS.Labels["app"]; v != "" {
			app = v
		}
	}
	return "kubectl -n kube-system delete pod -l app=" + app
}

// eniConfigUsable checks one eni-config style ConfigMap and returns its
// findings and the worst status.
func eniConfigFindings(object string, cfg *ackconf.ENIConfig, needVSwitch bool, noVSwitch Status) (Status, []Finding) {
	if cfg.ENIConfErr != nil {
		return StatusFail, []Finding{{
			Object:      object,
			Message:     fmt.Sprintf("eni_conf: %v", cfg.ENIConfErr),
			Remediation: "fix the JSON of eni_conf (kubectl -n kube-system edit configmap " + objectName(object) + "), or restore it from the Terway add-on",
		}}
	}
	if needVSwitch && len(cfg.ENIConf.VSwitchIDs()) == 0 {
		return noVSwitch, []Finding{{
			Object:      object,
			Message:     "eni_conf names no vSwitch (\"vswitches\" is empty or missing): Terway cannot allocate pod IPs",
			Remediation: `add "vswitches": {"<zone>": ["vsw-..."]} to eni_conf with a vSwitch of each zone the nodes run in`,
		}}
	}
	return StatusPass, nil
}

func objectName(object string) string {
	if i := strings.LastIndex(object, "/"); i >= 0 {
		return object[i+1:]
	}
	return object
}

func terwayENIConfig(e *Env) Result {
	if r := e.requirePlugin(PluginTerway); r != nil {
		return *r
	}
	if err := e.S.ReadErr(cluster.ConfigMapRead(cluster.CMENIConfig)); err != nil {
		if err.Reason == "NotFound" {
			return WithFindings(StatusFail, "eni-config is missing", []Finding{{
				Object:      eniConfigObject,
				Message:     "the ConfigMap does not exist; Terway cannot start without it",
				Remediation: "restore kube-system/eni-config from the Terway add-on (reinstall or upgrade Terway in the ACK console)",
			}})
		}
		return Skip("cannot read %s: %s", eniConfigObject, err.Error())
	}
	needVSwitch := e.TerwayMode != TerwayVPC
	status, findings := eniConfigFindings(eniConfigObject, e.ENIConfig, needVSwitch, StatusFail)
	if status == StatusPass {
		if !needVSwitch {
			return Pass("eni_conf is valid JSON (VPC mode needs no vSwitch)")
		}
		return Pass("eni_conf is valid and names vSwitches %s", strings.Join(e.ENIConfig.ENIConf.VSwitchIDs(), ", "))
	}
	return WithFindings(status, "eni-config is not usable", findings)
}

var vswitchIDRe = regexp.MustCompile(`vsw-[0-9a-z]+`)

func terwayVSwitchIPExhausted(e *Env) Result {
	if r := e.requirePlugin(PluginTerway); r != nil {
		return *r
	}
	if r := e.skipUnless(cluster.ReadEvents); r != nil {
		return *r
	}
	type vsw struct {
		events  int32
		pods    map[string]bool
		logs    int
		newest  time.Time
		pending int
	}
	by := map[string]*vsw{}
	get := func(id string) *vsw {
		if by[id] == nil {
			by[id] = &vsw{pods: map[string]bool{}}
		}
		return by[id]
	}
	for _, ev := range eventsMatching(e, cluster.MsgVSwitchIPNotEnough) {
		ids := vswitchIDRe.FindAllString(ev.Message, -1)
		if len(ids) == 0 {
			ids = []string{"(vSwitch not named)"}
		}
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			v := get(id)
			v.events += ev.Count
			if ev.Last.After(v.newest) {
				v.newest = ev.Last
			}
			if ev.Kind == "Pod" {
				key := ev.Namespace + "/" + ev.Name
				if !v.pods[key] {
					v.pods[key] = true
					if st, ok := e.S.Pods.Tracked[key]; ok && !st.Running {
						v.pending++
					}
				}
			}
		}
	}
	logNote := "Terway logs not read (use --logs)"
	if e.S.Logs != nil {
		logNote = fmt.Sprintf("Terway logs of %d pods read", e.S.Logs.Read)
		for _, lines := range e.S.Logs.Lines {
			for _, l := range lines {
				if !strings.Contains(l, cluster.MsgVSwitchIPNotEnough) {
					continue
				}
				ids := vswitchIDRe.FindAllString(l, -1)
				if len(ids) == 0 {
					ids = []string{"(vSwitch not named)"}
				}
				slices.Sort(ids)
				for _, id := range slices.Compact(ids) {
					get(id).logs++
				}
			}
		}
	}
	if len(by) == 0 {
		return Pass("no %s in events; %s", cluster.MsgVSwitchIPNotEnough, logNote)
	}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var findings []Finding
	for _, id := range ids {
		v := by[id]
		msg := fmt.Sprintf("vSwitch %s has no free IPs: %s for %s (%d still not running)", id, count(int(v.events), "event"), count(len(v.pods), "pod"), v.pending)
		if v.logs > 0 {
			msg += fmt.Sprintf(", %d Terway log lines", v.logs)
		}
		if !v.newest.IsZero() {
			msg += ", newest " + v.newest.UTC().Format(time.RFC3339)
		}
		findings = append(findings, Finding{
			Object:  "vswitch/" + id,
			Message: msg,
			Remediation: "create a vSwitch in the same zone (prefix /19 or shorter, >= 8192 addresses) and add it in the Terway add-on's configuration (PodVswitchId, ACK console, add-ons); " +
				"edit \"vswitches\" in eni_conf of kube-system/eni-config by hand (then " + restartTerway(e) + ") only where ACK does not manage the add-on, as its reconcile overwrites a hand edit",
		})
	}
	return WithFindings(StatusFail, count(len(ids), "vSwitch")+" out of IPs", findings)
}

// terwayConfig returns the parsed eni-config of a Terway cluster, or why not.
func terwayConfig(e *Env) (*ackconf.ENIConfig, *Result) {
	if r := e.requirePlugin(PluginTerway); r != nil {
		return nil, r
	}
	if err := e.S.ReadErr(cluster.ConfigMapRead(cluster.CMENIConfig)); err != nil {
		r := Skip("cannot read %s: %s", eniConfigObject, err.Error())
		return nil, &r
	}
	if e.ENIConfig == nil {
		r := Skip("%s was not read", eniConfigObject)
		return nil, &r
	}
	return e.ENIConfig, nil
}

func terwayInClusterLB(e *Env) Result {
	cfg, r := terwayConfig(e)
	if r != nil {
		return *r
	}
	vt := cfg.VirtualType()
	if vt != ackconf.VirtualTypeIPVlan && vt != ackconf.VirtualTypeDatapathV2 {
		if vt == "" {
			vt = "none"
		}
		return NotApplicable("acceleration is %s, not IPvlan or DataPathV2", vt)
	}
	fix := `add in_cluster_loadbalance: "true" to the data of kube-system/eni-config, beside eni_conf; then ` + restartTerway(e) + `; the policy container log then shows enable-in-cluster-loadbalance=true`
	// The FAQ: in-cluster load balancing needs Terway v1.2.0 or later.
	if v, err := ackconf.ParseImageVersion(e.PluginVersion); err == nil && v.Less(TerwayInClusterLBSince) {
		return WithFindings(StatusWarn, "this Terway cannot balance in the cluster", []Finding{{
			Object:      "kube-system/DaemonSet/" + e.PluginDS.Name,
			Message:     fmt.Sprintf("Terway %s is older than %s, the first release with in-cluster load balancing: in_cluster_loadbalance has no effect", e.PluginVersion, TerwayInClusterLBSince.Raw),
			Remediation: "upgrade the Terway add-on to " + TerwayInClusterLBSince.Raw + " or later (ACK console, add-ons); then " + fix,
		}})
	}
	if cfg.ENIConf != nil && cfg.ENIConf.HasKey(ackconf.KeyInClusterLB) {
		return WithFindings(StatusFail, "in_cluster_loadbalance is inside eni_conf, where Terway never reads it", []Finding{{
			Object:      eniConfigObject,
			Message:     "in_cluster_loadbalance is a key of the eni_conf JSON; it must be a sibling of eni_conf in the ConfigMap data",
			Remediation: fixOr("terway.in-cluster-lb", "remove it from eni_conf and "+fix),
		}})
	}
	if cfg.InClusterLBEnabled() {
		return inClusterLBTookEffect(e, vt)
	}
	observed := "missing"
	if cfg.InClusterLoadBalancePresent {
		observed = fmt.Sprintf("%q", cfg.InClusterLoadBalance)
	}
	return WithFindings(StatusWarn, "in-cluster load balancing is off", []Finding{{
		Object:      eniConfigObject,
		Message:     fmt.Sprintf("mode %s and in_cluster_loadbalance is %s: traffic from pods to ExternalIP/LoadBalancer addresses is not short-circuited inside the cluster", vt, observed),
		Remediation: fixOr("terway.in-cluster-lb", fix),
	}})
}

func terwayNetworkPolicy(e *Env) Result {
	cfg, r := terwayConfig(e)
	if r != nil {
		return *r
	}
	if cfg.NetworkPolicyDisabled() {
		return Info("network policy is disabled (disable_network_policy: \"true\")")
	}
	return Result{Status: StatusInfo, Summary: "network policy is enabled", Findings: []Finding{{
		Object:      eniConfigObject,
		Message:     fmt.Sprintf("disable_network_policy is %q: network policy can delay pod network readiness after start", cfg.DisableNetworkPolicy),
		Remediation: `if the cluster uses no NetworkPolicy: ` + fixOr("terway.network-policy", `set disable_network_policy: "true" in kube-system/eni-config, upgrade Terway, then `+restartTerway(e)),
	}}}
}

func terwayDynamicConfig(e *Env) Result {
	if r := e.requirePlugin(PluginTerway); r != nil {
		return *r
	}
	if r := e.skipUnless(cluster.ReadNodes); r != nil {
		return *r
	}
	users := map[string][]string{}
	for _, n := range e.S.Nodes {
		if name := n.Labels[cluster.LabelTerwayConfig]; name != "" {
			users[name] = append(users[name], n.Name)
		}
	}
	if len(users) == 0 {
		return NotApplicable("no node carries the %s label", cluster.LabelTerwayConfig)
	}
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	worst := StatusPass
	var findings []Finding
	for _, name := range names {
		object := "kube-system/ConfigMap/" + name
		nodes := users[name]
		nodeNote := fmt.Sprintf(" (used by %s, e.g. %s)", count(len(nodes), "node"), nodes[0])
		data, err := e.S.ConfigMap(name)
		if err != nil {
			if err.Reason != "NotFound" {
				return Skip("cannot read %s: %s", object, err.Error())
			}
			worst = StatusFail
			findings = append(findings, Finding{Object: object, Node: nodes[0],
				Message:     "the ConfigMap named by label " + cluster.LabelTerwayConfig + " does not exist" + nodeNote,
				Remediation: "create kube-system/" + name + " with an eni_conf for these nodes, or remove the label from them"})
			continue
		}
		status, fs := eniConfigFindings(object, ackconf.ParseENIConfig(data), true, StatusWarn)
		for i := range fs {
			fs[i].Message += nodeNote
			fs[i].Node = nodes[0]
		}
		if status.Rank() > worst.Rank() {
			worst = status
		}
		findings = append(findings, fs...)
	}
	for _, name := range names {
		fs := fixedIPFindings(e, name, users[name])
		if len(fs) > 0 && worst.Rank() < StatusWarn.Rank() {
			worst = StatusWarn
		}
		findings = append(findings, fs...)
	}
	if worst == StatusPass {
		return Pass("%s, all valid", count(len(names), "dynamic config"))
	}
	return WithFindings(worst, "dynamic Terway configs are broken or not as the FAQ sets them", findings)
}

// FixedIPConfig is the FAQ's name for the dynamic config of a node pool
// whose pods get IPs from one vSwitch, to whitelist it at a database.
const FixedIPConfig = "eni-config-fixed"

// fixedIPFindings checks the node pool of a dynamic config as the FAQ's
// whitelist setup wants it: eni-config-fixed's nodes carry a NoSchedule
// taint (so other pods stay off and leave its IPs), and, where the vSwitch
// CIDRs are given by ID, every pod there got its IP from the config's
// vSwitches, which hold at least twice the pods they serve.
func fixedIPFindings(e *Env, name string, nodes []string) []Finding {
	object := "kube-system/ConfigMap/" + name
	var out []Finding
	if name == FixedIPConfig {
		tainted := map[string]bool{}
		for _, n := range e.S.Nodes {
			for _, t := range n.Taints {
				// Taints Kubernetes sets itself (not-ready, unreachable,
				// uninitialized) come and go: they keep nobody off for good.
				if strings.HasPrefix(t.Key, "node.kubernetes.io/") || strings.HasPrefix(t.Key, "node.cloudprovider.kubernetes.io/") {
					continue
				}
				if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
					tainted[n.Name] = true
				}
			}
		}
		var bare []string
		for _, n := range nodes {
			if !tainted[n] {
				bare = append(bare, n)
			}
		}
		if len(bare) > 0 {
			out = append(out, Finding{Object: object,
				Message: fmt.Sprintf("%s labelled %s=%s without a NoSchedule taint (%s): other pods can land there and take the whitelisted vSwitch's IPs",
					count(len(bare), "node"), cluster.LabelTerwayConfig, name, sampleNames(bare)),
				Remediation: "taint the node pool as the FAQ does, e.g. fixed=true:NoSchedule (node pool settings, so new nodes get it too), and give the whitelisted pods a toleration"})
		}
	}
	cidrs := configCIDRs(e, name)
	if len(cidrs) == 0 {
		return out
	}
	onNodes := map[string]bool{}
	pods := 0
	for _, n := range nodes {
		onNodes[n] = true
		pods += e.S.Pods.PodNetworkIPs[n]
	}
	var outside []string
	for _, p := range e.S.Pods.OutsideNodeVSwitch {
		if onNodes[p.Node] {
			outside = append(outside, p.Namespace+"/"+p.Name+" "+p.Detail)
		}
	}
	if len(outside) > 0 {
		msg := fmt.Sprintf("pods on its nodes with IPs outside its vSwitches (%s): %s", prefixList(cidrs), sampleNames(outside))
		if n := e.S.Pods.OutsideNodeVSwitchCount; n > len(e.S.Pods.OutsideNodeVSwitch) {
			msg += fmt.Sprintf(" (samples: %d such pods in all the dynamic configs)", n)
		}
		out = append(out, Finding{Object: object,
			Message:     msg,
			Remediation: "the nodes joined with ENIs from elsewhere: the FAQ adds them as new nodes (or detaches their ENIs first); recreate these pods after"})
	}
	usable := 0
	for _, c := range cidrs {
		if c.Addr().Is4() {
			// Alibaba Cloud keeps 4 addresses of every vSwitch.
			usable += max(0, 1<<(32-c.Bits())-4)
		}
	}
	if usable > 0 && usable < 2*pods {
		out = append(out, Finding{Object: object,
			Message:     fmt.Sprintf("its vSwitches hold %d usable IPs for %s on its nodes: the FAQ wants twice the pods or more, for scale-out and for IPs not yet released after a failure", usable, count(pods, "pod")),
			Remediation: "add a larger vSwitch of the same zone to its eni_conf (and to the whitelist)"})
	}
	return out
}

// configCIDRs are the CIDRs of the vSwitches a dynamic config names, when
// all of them were given by ID (--vswitch-cidrs vsw-ID=CIDR).
func configCIDRs(e *Env, name string) []netip.Prefix {
	if len(e.S.VSwitchByID) == 0 {
		return nil
	}
	data, err := e.S.ConfigMap(name)
	if err != nil {
		return nil
	}
	return cluster.ConfigVSwitchCIDRs(data, e.S.VSwitchByID)
}

func prefixList(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}

// sampleNames joins up to 5 names and says how many more there are.
func sampleNames(names []string) string {
	if len(names) <= 5 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
}

func terwayEIPPool(e *Env) Result {
	cfg, r := terwayConfig(e)
	if r != nil {
		return *r
	}
	if cfg.ENIConf == nil {
		return Skip("eni_conf does not parse (see terway.eni-config)")
	}
	// The events of a failed upgrade are proof; the setting alone is a risk.
	if evs := eventsMatching(e, cluster.MsgEIPPoolUnsupported); len(evs) > 0 {
		var findings []Finding
		for _, ev := range evs {
			findings = append(findings, Finding{
				Object:      ev.Namespace + "/" + ev.Kind + "/" + ev.Name,
				Message:     fmt.Sprintf("%s: %s", count(int(ev.Count), "event"), truncate(ev.Message, 300)),
				Remediation: "migrate EIPs to ack-extend-network-controller, remove enable_eip_pool from eni_conf, then upgrade Terway again",
			})
		}
		return WithFindings(StatusFail, "Terway refused to start: the EIP pool is not supported", findings)
	}
	if !cfg.ENIConf.EIPPoolEnabled() {
		return Pass("the EIP pool is not enabled")
	}
	return WithFindings(StatusWarn, "the deprecated EIP pool is enabled", []Finding{{
		Object:      eniConfigObject,
		Message:     `eni_conf sets "enable_eip_pool": "true": Terway upgrades fail with "eip pool is not supported"`,
		Remediation: "migrate EIPs to ack-extend-network-controller before upgrading Terway",
	}})
}

// TerwayInClusterLBSince is the first Terway with in-cluster load balancing.
var TerwayInClusterLBSince = ackconf.MustImageVersion("v1.2.0")

// inClusterLBTookEffect confirms, from the policy containers' logs (--logs),
// that the Terway pods started with in-cluster load balancing, as the FAQ
// verifies it by hand.
func inClusterLBTookEffect(e *Env, vt string) Result {
	const verify = "kubectl -n kube-system logs POD -c policy | grep enable-in-cluster-loadbalance"
	if e.S.Logs == nil || e.S.ReadErr(cluster.ReadLogs) != nil {
		return Pass("in_cluster_loadbalance is \"true\" (%s); run with --logs to confirm it took effect (by hand: %s)", vt, verify)
	}
	var without []cluster.PodRef
	confirmed := 0
	for _, p := range e.S.Pods.SystemPods {
		if p.Detail != "terway" {
			continue
		}
		if len(e.S.Logs.Lines[p.Namespace+"/"+p.Name+cluster.PolicyLogSuffix]) > 0 {
			confirmed++
		} else {
			without = append(without, p)
		}
	}
	if confirmed == 0 && len(without) == 0 {
		return Pass("in_cluster_loadbalance is \"true\" (%s); no Terway pod found to confirm it on", vt)
	}
	if len(without) == 0 {
		return Pass("in_cluster_loadbalance is \"true\" (%s) and took effect on every Terway pod (%d, policy log)", vt, confirmed)
	}
	sort.Slice(without, func(i, j int) bool { return without[i].Name < without[j].Name })
	var findings []Finding
	for i, p := range without {
		if i == 10 {
			findings = append(findings, Finding{Object: eniConfigObject, Message: fmt.Sprintf("and %d more Terway pods", len(without)-10), Remediation: restartTerway(e)})
			break
		}
		// Unconfirmed is not wrong: the start line may be older than the
		// logs read. So no restart is advised, only the FAQ's check.
		findings = append(findings, Finding{Object: p.Namespace + "/Pod/" + p.Name, Node: p.Node,
			Message:     "not confirmed: its policy container log read does not show enable-in-cluster-loadbalance=true (it started before the setting, or before the logs read)",
			Remediation: "check by hand: " + strings.Replace(verify, "POD", p.Name, 1) + "; if it prints nothing, kubectl -n " + p.Namespace + " delete pod " + p.Name})
	}
	return WithFindings(StatusInfo, fmt.Sprintf("in_cluster_loadbalance is \"true\" (%s); confirmed on %d of %s (policy log)", vt, confirmed, count(confirmed+len(without), "Terway pod")), findings)
}

// MacNotFoundGrace is how long "can't found dev by mac" is considered a
// transient state (the NIC is loaded asynchronously).
const MacNotFoundGrace = 5 * time.Minute

func terwayMacNotFound(e *Env) Result {
	if r := e.requirePlugin(PluginTerway); r != nil {
		return *r
	}
	if r := e.skipUnless(cluster.ReadEvents, cluster.ReadPods); r != nil {
		return *r
	}
	first := map[string]cluster.Event{}
	for _, ev := range eventsMatching(e, cluster.MsgMacNotFound) {
		if ev.Kind != "Pod" {
			continue
		}
		key := ev.Namespace + "/" + ev.Name
		if old, ok := first[key]; !ok || ev.First.Before(old.First) {
			first[key] = ev
		}
	}
	if len(first) == 0 {
		return Pass("no %q events", cluster.MsgMacNotFound)
	}
	keys := make([]string, 0, len(first))
	for k := range first {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var findings []Finding
	transient := 0
	for _, key := range keys {
		ev := first[key]
		st, ok := e.S.Pods.Tracked[key]
		if !ok || st.Running {
			continue // gone or recovered
		}
		age := e.S.Now.Sub(ev.First)
		if age < MacNotFoundGrace {
			transient++
			continue
		}
		node := st.Node
		findings = append(findings, Finding{
			Object:      ev.Namespace + "/Pod/" + ev.Name,
			Node:        node,
			Message:     fmt.Sprintf("pod is %s %s after the first %q event: the ENI driver did not load on node %s", st.Phase, age.Round(time.Second), cluster.MsgMacNotFound, node),
			Remediation: "restart the ECS instance of node " + node,
		})
	}
	if len(findings) == 0 {
		if transient > 0 {
			return Info("%s wait for their NIC (< %s, usually transient)", count(transient, "pod"), MacNotFoundGrace)
		}
		return Pass("pods with %q events have recovered", cluster.MsgMacNotFound)
	}
	return WithFindings(StatusWarn, count(len(findings), "pod")+" stuck without their NIC", findings)
}

func terwayHostPort(e *Env) Result {
	if r := e.requirePlugin(PluginTerway); r != nil {
		return *r
	}
	if r := e.skipUnless(cluster.ReadPods); r != nil {
		return *r
	}
	if e.S.Pods.HostPortCount == 0 {
		return Pass("no pod declares a hostPort")
	}
	var findings []Finding
	for _, p := range e.S.Pods.HostPort {
		findings = append(findings, Finding{
			Object:      p.Namespace + "/Pod/" + p.Name,
			Node:        p.Node,
			Message:     "declares hostPort (" + p.Detail + "), which Terway does not support",
			Remediation: "use a NodePort or LoadBalancer Service; pod IPs are reachable in the VPC directly",
		})
	}
	summary := count(e.S.Pods.HostPortCount, "pod") + " with a hostPort"
	if e.S.Pods.HostPortCount > len(findings) {
		summary += fmt.Sprintf(" (first %d shown)", len(findings))
	}
	return WithFindings(StatusWarn, summary, findings)
}

func terwayPodOutsideVSwitch(e *Env) Result {
	if r := e.requirePlugin(PluginTerway); r != nil {
		return *r
	}
	if len(e.S.VSwitchCIDRs) == 0 {
		return Skip("the vSwitch CIDRs are not visible through the Kubernetes API; pass them with --vswitch-cidrs")
	}
	if r := e.skipUnless(cluster.ReadPods); r != nil {
		return *r
	}
	if e.S.Pods.OutsideVSwitchCount == 0 {
		return Pass("every pod IPv4 address lies in a vSwitch CIDR")
	}
	var findings []Finding
	for _, p := range e.S.Pods.OutsideVSwitch {
		findings = append(findings, Finding{
			Object:      p.Namespace + "/Pod/" + p.Name,
			Node:        p.Node,
			Message:     fmt.Sprintf("pod IP %s lies outside every vSwitch CIDR of Terway: a stale ENI from a previous cluster or an old vSwitch config", p.Detail),
			Remediation: "kubectl drain " + p.Node + ", detach the stale ENIs of the instance, then add the node back",
		})
	}
	return WithFindings(StatusWarn, count(e.S.Pods.OutsideVSwitchCount, "pod")+" with IPs outside the vSwitches", findings)
}
