package checks

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

const (
	// MinMaxPerCore is the FAQ's floor for conntrack.maxPerCore (the ACK default).
	MinMaxPerCore = 65536
	// MaxUDPTimeout is the IPVS UDP timeout the FAQ recommends.
	MaxUDPTimeout = 10 * time.Second
)

// UDPTimeoutRule is the one rule for where the IPVS UDP timeout is set, as
// the FAQ gives it. ACK shipped no 1.17, so "before 1.18" is 1.16 and earlier.
const UDPTimeoutRule = "Kubernetes 1.18 and later: ipvs.udpTimeout in the kube-proxy ConfigMap; " +
	"before 1.18 (1.16 and earlier on ACK) kube-proxy does not know that field, and the timeout is set on each node with ipvsadm (kubectl acknet ipvs timeout)"

// udpTimeoutInConfigMap says whether kube-proxy of this cluster takes
// ipvs.udpTimeout; known is false when the version is unknown.
func udpTimeoutInConfigMap(e *Env) (yes, known bool) { return e.kubeAtLeast(1, 18) }

// InstallIPVSAdm is the FAQ's step for a node without ipvsadm.
const InstallIPVSAdm = "ipvsadm is not installed on the node; install it there: yum install -y ipvsadm"

// SchedulerModuleCutoff is the creation date before which a node may run an
// image without the kernel modules of non-default IPVS schedulers.
var SchedulerModuleCutoff = time.Date(2022, time.October, 1, 0, 0, 0, 0, time.UTC)

func restartKubeProxy(name string) string {
	return "kubectl -n kube-system delete pod -l k8s-app=" + name
}

// kubeProxyConfigs returns the readable kube-proxy configs in a fixed order.
func kubeProxyConfigs(e *Env) ([]*KubeProxyConf, *Result) {
	if e.WorkerKubeProxy() == nil {
		r := Skip("cannot read kube-system/%s: %s", cluster.CMKubeProxyWorker, readReason(e, cluster.CMKubeProxyWorker))
		return nil, &r
	}
	out := []*KubeProxyConf{e.WorkerKubeProxy()}
	if m := e.KubeProxy[cluster.CMKubeProxyMaster]; m != nil {
		out = append(out, m)
	}
	return out, nil
}

func kubeProxyConfigCheck(e *Env) Result {
	confs, r := kubeProxyConfigs(e)
	if r != nil {
		return *r
	}
	var findings []Finding
	for _, kp := range confs {
		if kp.Err == nil {
			continue
		}
		msg := kp.Err.Error()
		var ce *ackconf.KubeProxyConfigError
		if errors.As(kp.Err, &ce) && ce.Line > 0 {
			msg = fmt.Sprintf("config.conf line %d: %s", ce.Line, ce.Reason)
		}
		findings = append(findings, Finding{
			Object:      "kube-system/ConfigMap/" + kp.Name,
			Message:     msg + "; kube-proxy refuses to start with this config",
			Remediation: "kubectl -n kube-system edit configmap " + kp.Name + " and fix config.conf, then " + restartKubeProxy(kp.Name),
		})
	}
	if len(findings) > 0 {
		return WithFindings(StatusFail, "kube-proxy config does not load", findings)
	}
	names := []string{}
	for _, kp := range confs {
		if kp.FromFlags {
			names = append(names, kp.Name+" (flags, no config.conf)")
		} else {
			names = append(names, kp.Name)
		}
	}
	return Pass("config.conf decodes strictly: %s", strings.Join(names, ", "))
}

// parsedKubeProxy returns configs that parsed; a skip when none did.
func parsedKubeProxy(e *Env) ([]*KubeProxyConf, *Result) {
	confs, r := kubeProxyConfigs(e)
	if r != nil {
		return nil, r
	}
	var ok []*KubeProxyConf
	for _, kp := range confs {
		if kp.Err == nil {
			ok = append(ok, kp)
		}
	}
	if len(ok) == 0 {
		r := Skip("config.conf does not parse (see kubeproxy.config)")
		return nil, &r
	}
	return ok, nil
}

func conntrackMaxPerCore(e *Env) Result {
	confs, r := parsedKubeProxy(e)
	if r != nil {
		return *r
	}
	var findings []Finding
	var effective, low []string
	for _, kp := range confs {
		mpc := kp.Summary.MaxPerCore
		where := "config.conf"
		if kp.FromFlags {
			where = "--conntrack-max-per-core"
		}
		switch {
		case mpc == nil: // never: parsing fills in kube-proxy's default
			continue
		case *mpc == 0:
			// 0: kube-proxy leaves the kernel's limit alone; the nodes decide.
			effective = append(effective, kp.Name+" 0 (the kernel's nf_conntrack_max stays; see node.conntrack-usage)")
			continue
		case kp.Summary.MaxPerCoreDefault:
			effective = append(effective, fmt.Sprintf("%s %d (kube-proxy's default)", kp.Name, *mpc))
		default:
			effective = append(effective, fmt.Sprintf("%s %d", kp.Name, *mpc))
		}
		if *mpc >= MinMaxPerCore {
			continue
		}
		low = append(low, effective[len(effective)-1])
		msg := fmt.Sprintf("conntrack.maxPerCore is %d, below %d: the conntrack table fills and packets are dropped", *mpc, MinMaxPerCore)
		if kp.Summary.MaxPerCoreDefault {
			msg = fmt.Sprintf("%s does not set conntrack.maxPerCore, so kube-proxy applies its default %d per core, below the %d ACK sets: the conntrack table fills sooner and packets are dropped", where, *mpc, MinMaxPerCore)
		}
		fix := fixOr("kubeproxy.conntrack-max-per-core", fmt.Sprintf("set conntrack.maxPerCore: %d (or more) in config.conf, then %s", MinMaxPerCore, restartKubeProxy(kp.Name)))
		obj := "kube-system/ConfigMap/" + kp.Name
		if kp.FromFlags {
			obj = "kube-system/DaemonSet/" + kp.Name
			fix = fmt.Sprintf("add --conntrack-max-per-core=%d to the command of DaemonSet kube-system/%s (it has no config.conf)", MinMaxPerCore, kp.Name)
		}
		findings = append(findings, Finding{Object: obj, Message: msg, Remediation: fix})
	}
	if len(findings) > 0 {
		return WithFindings(StatusWarn, "conntrack.maxPerCore is below "+strconv.Itoa(MinMaxPerCore)+": "+strings.Join(low, ", "), findings)
	}
	return Pass("conntrack.maxPerCore >= %d or 0: %s", MinMaxPerCore, strings.Join(effective, ", "))
}

func ipvsUDPTimeout(e *Env) Result {
	confs, r := parsedKubeProxy(e)
	if r != nil {
		return *r
	}
	var ipvs []*KubeProxyConf
	for _, kp := range confs {
		if kp.Summary.Mode == "ipvs" {
			ipvs = append(ipvs, kp)
		}
	}
	if len(ipvs) == 0 {
		return NotApplicable("kube-proxy mode is %s", confs[0].Summary.Mode)
	}
	if inCM, known := udpTimeoutInConfigMap(e); known && !inCM {
		return nodesUDPTimeout(e, ipvs[0].Name)
	}
	udp := udpServices(e)
	var findings []Finding
	for _, kp := range ipvs {
		s := kp.Summary
		if s.UDPTimeoutSet && s.UDPTimeout <= MaxUDPTimeout {
			continue
		}
		msg := fmt.Sprintf("ipvs.udpTimeout is %s: after a UDP backend goes away, its clients lose packets for up to that long", s.UDPTimeoutHuman)
		if len(udp) > 0 {
			msg += fmt.Sprintf("; UDP Services other than DNS that need care before shortening it: %s", strings.Join(udp, ", "))
		}
		fix := fixOr("kubeproxy.ipvs-udp-timeout", "set ipvs.udpTimeout: 10s in config.conf, then "+restartKubeProxy(kp.Name))
		if kp.FromFlags {
			fix = "add --ipvs-udp-timeout=10s to the command of DaemonSet kube-system/" + kp.Name + " (it has no config.conf)"
		}
		findings = append(findings, Finding{Object: "kube-system/ConfigMap/" + kp.Name, Message: msg, Remediation: fix})
	}
	if len(findings) > 0 {
		return WithFindings(StatusWarn, "IPVS keeps UDP sessions too long", findings)
	}
	return Pass("ipvs.udpTimeout <= %s", MaxUDPTimeout)
}

// nodesUDPTimeout judges a cluster whose kube-proxy cannot set the UDP
// timeout: the nodes' own timeouts decide, as ipvs timeout --set changed
// them. Without node checks it cannot tell, and says how to find out.
func nodesUDPTimeout(e *Env, cm string) Result {
	const set = "kubectl acknet ipvs timeout --set 900,120,10"
	if e.NodeFacts == nil {
		return WithFindings(StatusInfo, "Kubernetes "+e.S.ServerVersion+" keeps the IPVS UDP timeout on the nodes: run with --node-checks to read it", []Finding{{
			Object:      "kube-system/ConfigMap/" + cm,
			Message:     "this kube-proxy cannot set ipvs.udpTimeout (" + UDPTimeoutRule + "); the cluster alone does not tell whether the nodes were set",
			Remediation: "verify: kubectl acknet doctor --node-checks --checks 'kubeproxy.ipvs-udp-timeout,node.ipvs-timeouts'; set: " + set + " --all-nodes",
		}})
	}
	var findings []Finding
	var ok, unknown []string
	if r := eachNode(e, func(n string, f *NodeFacts) {
		switch t, problem := TimeoutsFact.On(f); {
		case problem == InstallIPVSAdm:
			// Without ipvsadm nobody set it: the kernel's 300 s applies.
			findings = append(findings, Finding{Object: "node/" + n, Node: n,
				Message:     InstallIPVSAdm + ", so its UDP timeout was never set: the kernel's 300s applies",
				Remediation: "on the node: yum install -y ipvsadm; then " + set + " --node " + n})
		case t == nil || t.Current == nil:
			unknown = append(unknown, n)
		case time.Duration(t.Current.UDP)*time.Second > MaxUDPTimeout:
			findings = append(findings, Finding{Object: "node/" + n, Node: n,
				Message:     fmt.Sprintf("IPVS udp timeout is %ds: after a UDP backend goes away, its clients lose packets for up to that long", t.Current.UDP),
				Remediation: set + " --node " + n})
		default:
			ok = append(ok, n)
		}
	}); r != nil {
		return *r
	}
	summary := fmt.Sprintf("udp timeout <= %s on %s (set with ipvsadm: this Kubernetes cannot set ipvs.udpTimeout)", MaxUDPTimeout, count(len(ok), "node"))
	if len(unknown) > 0 {
		summary += fmt.Sprintf("; not read on %s (see node.ipvs-timeouts)", count(len(unknown), "node"))
	}
	if len(findings) > 0 {
		summary := fmt.Sprintf("IPVS keeps UDP sessions too long on %s", count(len(findings), "node"))
		if len(unknown) > 0 {
			summary += fmt.Sprintf("; not read on %s (see node.ipvs-timeouts)", count(len(unknown), "node"))
		}
		return WithFindings(StatusWarn, summary, findings)
	}
	if len(ok) == 0 {
		return Skip("no node reported its IPVS udp timeout (see node.ipvs-timeouts)")
	}
	return Pass("%s", summary)
}

// udpServices lists namespace/name of Services with a UDP port other than 53.
func udpServices(e *Env) []string {
	var out []string
	for _, s := range e.S.Services {
		for _, p := range s.Ports {
			if p.Protocol == "UDP" && p.Port != 53 {
				out = append(out, s.Namespace+"/"+s.Name)
				break
			}
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more", len(out)-10))
	}
	return out
}

// isMasterNode: the nodes kube-proxy-master runs on in dedicated clusters.
func isMasterNode(n cluster.Node) bool {
	_, m := n.Labels["node-role.kubernetes.io/master"]
	_, cp := n.Labels["node-role.kubernetes.io/control-plane"]
	return m || cp
}

func ipvsScheduler(e *Env) Result {
	confs, r := parsedKubeProxy(e)
	if r != nil {
		return *r
	}
	// Each ConfigMap's scheduler, for the nodes its DaemonSet runs on:
	// kube-proxy-master on the masters of a dedicated cluster, the worker
	// one elsewhere.
	var custom []*KubeProxyConf
	var rr []string
	for _, kp := range confs {
		switch {
		case kp.Summary.Mode != "ipvs":
		case kp.Summary.Scheduler == "rr":
			rr = append(rr, kp.Name)
		default:
			custom = append(custom, kp)
		}
	}
	if len(custom) == 0 {
		if len(rr) == 0 {
			return NotApplicable("kube-proxy mode is %s", confs[0].Summary.Mode)
		}
		return Pass("default IPVS scheduler rr: %s", strings.Join(rr, ", "))
	}
	var findings []Finding
	var infos []Finding
	var scheds []string
	for _, kp := range custom {
		sched := kp.Summary.Scheduler
		scheds = append(scheds, kp.Name+" "+sched)
		master := kp.Name == cluster.CMKubeProxyMaster
		var old []string
		for _, n := range e.S.Nodes {
			if isMasterNode(n) != master {
				continue
			}
			if !n.CreationTimestamp.IsZero() && n.CreationTimestamp.Before(SchedulerModuleCutoff) {
				old = append(old, n.Name)
			}
		}
		if len(old) == 0 {
			infos = append(infos, Finding{Object: "kube-system/ConfigMap/" + kp.Name,
				Message:     "ipvs.scheduler is " + sched + ": every node it runs on needs kernel module ip_vs_" + sched,
				Remediation: "kubectl acknet ipvs modules --scheduler " + sched + " --all-nodes"})
			continue
		}
		for _, n := range old {
			findings = append(findings, Finding{
				Object:      "node/" + n,
				Node:        n,
				Message:     fmt.Sprintf("created before %s, so its image may lack kernel module ip_vs_%s for scheduler %s (%s)", SchedulerModuleCutoff.Format("2006-01"), sched, sched, kp.Name),
				Remediation: "kubectl acknet ipvs modules --scheduler " + sched + " --node " + n + " --apply",
			})
		}
	}
	if len(findings) > 0 {
		return WithFindings(StatusWarn, fmt.Sprintf("non-default IPVS scheduler (%s) on %s that may lack its module", strings.Join(scheds, ", "), count(len(findings), "node")), findings)
	}
	res := Info("non-default IPVS scheduler %s; every node was created after %s", strings.Join(scheds, ", "), SchedulerModuleCutoff.Format("2006-01"))
	if e.S.ReadErr(cluster.ReadNodes) != nil {
		res.Summary = fmt.Sprintf("non-default IPVS scheduler %s; node ages unknown (cannot read nodes)", strings.Join(scheds, ", "))
	}
	res.Findings = infos
	return res
}

// runningProxier reads from a kube-proxy pod's log lines which proxier it
// runs: the last "Using X Proxier" line wins; "can't use the IPVS proxier"
// with no such line after it means it exited (current releases do). "" when
// the log holds neither, as when the pod started before the window read.
func runningProxier(lines []string) (proxier, failure string) {
	for _, l := range lines {
		low := strings.ToLower(l)
		switch {
		case strings.Contains(low, "can't use the ipvs proxier"):
			proxier, failure = "exited", l
		case strings.Contains(low, "using ipvs proxier"):
			proxier = "ipvs"
		case strings.Contains(low, "using iptables proxier"):
			proxier = "iptables"
		case strings.Contains(low, "using nftables proxier"):
			proxier = "nftables"
		}
	}
	return proxier, failure
}

func kubeProxyProxier(e *Env) Result {
	confs, r := parsedKubeProxy(e)
	if r != nil {
		return *r
	}
	if e.S.Logs == nil {
		return Skip("reads kube-proxy logs only with --logs")
	}
	if err := e.S.ReadErr(cluster.ReadLogs); err != nil {
		return Skip("cannot read logs: %s", err.Error())
	}
	mode := map[string]string{}
	for _, kp := range confs {
		mode[kp.Name] = kp.Summary.Mode
	}
	var pods []cluster.PodRef
	for _, p := range e.S.Pods.SystemPods {
		if p.Detail == "kube-proxy" && mode[p.App] != "" {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	byProxier := map[string]int{}
	status := StatusPass
	var findings []Finding
	for _, p := range pods {
		key := p.Namespace + "/" + p.Name
		proxier, failure := runningProxier(e.S.Logs.Lines[key])
		if proxier == "" {
			byProxier[proxierUnknown]++
			continue
		}
		byProxier[proxier]++
		want := mode[p.App]
		obj := p.Namespace + "/Pod/" + p.Name
		switch {
		case proxier == "exited":
			status = StatusFail
			findings = append(findings, Finding{Object: obj, Node: p.Node,
				Message:     "kube-proxy cannot use IPVS (log: " + truncate(failure, 200) + "): it exited: no Service is served from this node until it can start",
				Remediation: "kubectl acknet ipvs modules --node " + p.Node + " (load the modules with --apply where the kernel has them); where it does not, set mode: iptables in ConfigMap kube-system/" + p.App + " and " + restartKubeProxy(p.App),
			})
		case proxier != want:
			if status == StatusPass {
				status = StatusWarn
			}
			msg := fmt.Sprintf("runs the %s proxier, but ConfigMap kube-system/%s says mode %s", proxier, p.App, want)
			fix := "restart it to take the ConfigMap's mode: kubectl -n " + p.Namespace + " delete pod " + p.Name
			if want == "ipvs" && proxier == "iptables" {
				msg += " (it fell back to iptables: the IPVS settings are ignored)"
				if failure != "" {
					msg += "; log: " + truncate(failure, 200)
				}
				fix = "kubectl acknet ipvs modules --node " + p.Node + " --apply (the modules it lacks), then kubectl -n " + p.Namespace + " delete pod " + p.Name
			}
			findings = append(findings, Finding{Object: obj, Node: p.Node, Message: msg, Remediation: fix})
		}
	}
	if len(pods) == 0 {
		return NotApplicable("no kube-proxy pod runs (labels k8s-app=kube-proxy-worker, kube-proxy-master)")
	}
	var parts []string
	for _, k := range []string{"ipvs", "iptables", "nftables", "exited", proxierUnknown} {
		if byProxier[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, byProxier[k]))
		}
	}
	summary := fmt.Sprintf("proxier by each pod's own log (%s): %s", count(len(pods), "kube-proxy pod"), strings.Join(parts, ", "))
	if len(findings) > 0 {
		return WithFindings(status, summary, findings)
	}
	// A pod logs its proxier once, when it starts: older than the window
	// read (--since), or a log that could not be read, tells nothing.
	switch unknown := byProxier[proxierUnknown]; {
	case unknown == len(pods):
		return Skip("no kube-proxy pod's start is in the logs read (%s; raise --since, or kubectl -n kube-system logs POD | grep Proxier)", count(unknown, "pod"))
	case unknown > 0:
		return Info("%s; %s", summary, "the others started before the logs read: raise --since to judge them")
	}
	return Pass("%s", summary)
}

// proxierUnknown counts the pods whose start line is not in the logs read.
const proxierUnknown = "unknown (start not in the logs read)"

func masterWorkerDrift(e *Env) Result {
	w, m := e.KubeProxy[cluster.CMKubeProxyWorker], e.KubeProxy[cluster.CMKubeProxyMaster]
	if m == nil {
		if err := e.S.ReadErr(cluster.ConfigMapRead(cluster.CMKubeProxyMaster)); err != nil && err.Reason != "NotFound" {
			return Skip("cannot read kube-system/%s: %s", cluster.CMKubeProxyMaster, err.Error())
		}
		return NotApplicable("no kube-proxy-master (managed cluster)")
	}
	if w == nil {
		return Skip("cannot read kube-system/%s: %s", cluster.CMKubeProxyWorker, readReason(e, cluster.CMKubeProxyWorker))
	}
	if w.Err != nil || m.Err != nil {
		return Skip("config.conf does not parse (see kubeproxy.config)")
	}
	ws, ms := w.Summary, m.Summary
	var diffs []string
	cmp := func(field, a, b string) {
		if a != b {
			diffs = append(diffs, fmt.Sprintf("%s: worker %s, master %s", field, a, b))
		}
	}
	cmp("mode", ws.Mode, ms.Mode)
	cmp("ipvs.scheduler", ws.Scheduler, ms.Scheduler)
	cmp("ipvs.udpTimeout", ws.UDPTimeoutHuman, ms.UDPTimeoutHuman)
	cmp("conntrack.maxPerCore", int32Str(ws.MaxPerCore), int32Str(ms.MaxPerCore))
	if len(diffs) == 0 {
		return Pass("kube-proxy-master and kube-proxy-worker agree")
	}
	return WithFindings(StatusWarn, "kube-proxy-master and kube-proxy-worker differ", []Finding{{
		Object:      "kube-system/ConfigMap/" + cluster.CMKubeProxyMaster,
		Message:     strings.Join(diffs, "; "),
		Remediation: fixOr("kubeproxy.master-worker-drift --set source=worker|master", "make both ConfigMaps agree, then "+restartKubeProxy(cluster.CMKubeProxyMaster)+" and "+restartKubeProxy(cluster.CMKubeProxyWorker)),
	}})
}

func int32Str(p *int32) string {
	if p == nil {
		return "default"
	}
	return fmt.Sprint(*p)
}
