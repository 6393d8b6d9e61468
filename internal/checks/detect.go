package checks

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// TerwayMixedModeSince is the first Terway that lets a node pool run
// exclusive ENI inside a shared-ENI cluster.
var TerwayMixedModeSince = ackconf.MustImageVersion("v1.11.0")

func networkPlugin(e *Env) Result {
	if e.Plugin == PluginUnknown {
		if r := e.skipUnless(cluster.ReadDaemonSets); r != nil {
			return *r
		}
		return Info("no Terway or Flannel DaemonSet in kube-system")
	}
	parts := []string{}
	var findings []Finding
	switch e.Plugin {
	case PluginTerway:
		parts = append(parts, "Terway "+orUnknown(e.PluginVersion))
		if e.TerwayMode != "" {
			mode := e.TerwayMode
			if e.PluginDS != nil {
				mode += " (DaemonSet " + e.PluginDS.Name + ")"
			}
			parts = append(parts, mode)
		}
		if e.TerwayMode == TerwaySharedENI {
			if v, err := ackconf.ParseImageVersion(e.PluginVersion); err == nil && !v.Less(TerwayMixedModeSince) {
				var part string
				part, findings = exclusiveENINodes(e)
				parts = append(parts, part)
			}
		}
		if e.ENIConfig != nil {
			switch vt := e.ENIConfig.VirtualType(); vt {
			case "":
				parts = append(parts, "acceleration: none")
			default:
				parts = append(parts, "acceleration: "+vt)
			}
		}
	case PluginFlannel:
		parts = append(parts, "Flannel "+orUnknown(e.PluginVersion))
	}
	r := Info("%s", strings.Join(parts, ", "))
	r.Findings = findings
	return r
}

// Node labels that tell an exclusive-ENI node pool in a shared-ENI cluster.
const (
	LabelExclusiveENI      = "k8s.aliyun.com/exclusive-mode-eni-type"
	LabelExclusiveENIValue = "eniOnly"
	LabelNodePool          = "alibabacloud.com/nodepool-id"
)

// exclusiveENINodes names the node pools, and their nodes, that run
// exclusive ENI inside a shared-ENI cluster, from the label Terway reads.
func exclusiveENINodes(e *Env) (string, []Finding) {
	if e.S.ReadErr(cluster.ReadNodes) != nil {
		return "exclusive-ENI node pools unknown (cannot read nodes)", nil
	}
	byPool := map[string][]string{}
	n := 0
	for _, node := range e.S.Nodes {
		if node.Labels[LabelExclusiveENI] != LabelExclusiveENIValue {
			continue
		}
		pool := node.Labels[LabelNodePool]
		if pool == "" {
			pool = "(no node pool label)"
		}
		byPool[pool] = append(byPool[pool], node.Name)
		n++
	}
	if n == 0 {
		return "no node runs exclusive ENI (label " + LabelExclusiveENI + "=" + LabelExclusiveENIValue + ")", nil
	}
	pools := make([]string, 0, len(byPool))
	for p := range byPool {
		pools = append(pools, p)
	}
	sort.Strings(pools)
	var findings []Finding
	for _, p := range pools {
		nodes := byPool[p]
		sort.Strings(nodes)
		shown := nodes
		if len(shown) > 10 {
			shown = append(append([]string{}, nodes[:10]...), fmt.Sprintf("and %d more", len(nodes)-10))
		}
		findings = append(findings, Finding{Object: "nodepool/" + p,
			Message:     fmt.Sprintf("exclusive ENI on %s: %s", count(len(nodes), "node"), strings.Join(shown, ", ")),
			Remediation: "none needed: pods there get a whole ENI each (fewer pods per node; shared-ENI settings such as eniip_virtual_type do not apply)"})
	}
	return fmt.Sprintf("exclusive ENI on %s in %s", count(n, "node"), count(len(pools), "node pool")), findings
}

func orUnknown(v string) string {
	if v == "" {
		return "(version unknown)"
	}
	return v
}

func kubeProxy(e *Env) Result {
	w := e.WorkerKubeProxy()
	if w == nil {
		return Skip("cannot read kube-system/%s: %s", cluster.CMKubeProxyWorker, readReason(e, cluster.CMKubeProxyWorker))
	}
	var parts []string
	for _, name := range []string{cluster.CMKubeProxyWorker, cluster.CMKubeProxyMaster} {
		kp := e.KubeProxy[name]
		if kp == nil {
			continue
		}
		if kp.Err != nil {
			parts = append(parts, name+": config.conf does not parse (see kubeproxy.config)")
			continue
		}
		parts = append(parts, name+": "+describeKubeProxy(kp))
	}
	return Info("%s", strings.Join(parts, "; "))
}

func describeKubeProxy(kp *KubeProxyConf) string {
	s := kp.Summary
	out := "mode " + s.Mode
	if s.Mode == "ipvs" {
		out += ", scheduler " + s.Scheduler + ", udpTimeout " + s.UDPTimeoutHuman
	}
	if s.MaxPerCore != nil {
		out += fmt.Sprintf(", conntrack.maxPerCore %d", *s.MaxPerCore)
		if s.MaxPerCoreDefault {
			out += " (default)"
		}
	}
	if kp.FromFlags {
		out += " (from DaemonSet flags)"
	}
	return out
}

func readReason(e *Env, cm string) string {
	if err := e.S.ReadErr(cluster.ConfigMapRead(cm)); err != nil {
		return err.Error()
	}
	return "not read"
}

// IPFamilies is what the cluster's objects show of IPv4 and IPv6.
type IPFamilies struct {
	NodesV4, NodesV6, Nodes int
	ServicesV6, Services    int
}

func ipFamilies(e *Env) Result {
	if r := e.skipUnless(cluster.ReadNodes); r != nil {
		return *r
	}
	f := IPFamilies{Nodes: len(e.S.Nodes)}
	for _, n := range e.S.Nodes {
		v4, v6 := cidrFamilies(n.PodCIDRs)
		if v4 {
			f.NodesV4++
		}
		if v6 {
			f.NodesV6++
		}
	}
	for _, s := range e.S.Services {
		if len(s.ClusterIPs) == 0 || s.ClusterIPs[0] == "None" {
			continue
		}
		f.Services++
		for _, ip := range s.ClusterIPs {
			if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
				f.ServicesV6++
				break
			}
		}
	}
	stack := "IPv4"
	switch {
	case f.NodesV6 > 0 && f.NodesV4 > 0:
		stack = "dual-stack"
	case f.NodesV6 > 0:
		stack = "IPv6"
	case f.Nodes == 0:
		stack = "unknown (no nodes)"
	}
	summary := fmt.Sprintf("%s: %d/%d nodes have an IPv4 pod CIDR, %d/%d an IPv6 one; %d/%d Services have an IPv6 ClusterIP",
		stack, f.NodesV4, f.Nodes, f.NodesV6, f.Nodes, f.ServicesV6, f.Services)
	if w := e.WorkerKubeProxy(); w != nil && w.Summary.IPv6DualStack != nil {
		summary += fmt.Sprintf("; kube-proxy feature gate IPv6DualStack=%t", *w.Summary.IPv6DualStack)
	}
	return Info("%s", summary)
}

func cidrFamilies(cidrs []string) (v4, v6 bool) {
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			continue
		}
		if p.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return
}

// clusterDomains returns the CoreDNS cluster domains, or a skip result.
func clusterDomains(e *Env) ([]string, *Result) {
	data, err := e.S.ConfigMap(cluster.CMCoreDNS)
	if err != nil {
		r := Skip("cannot read kube-system/%s: %s", cluster.CMCoreDNS, err.Error())
		return nil, &r
	}
	corefile, ok := data[ackconf.KeyCorefile]
	if !ok {
		r := Skip("kube-system/%s has no %s key", cluster.CMCoreDNS, ackconf.KeyCorefile)
		return nil, &r
	}
	domains, perr := ackconf.CorefileClusterDomains(corefile)
	if perr != nil {
		r := Skip("cannot parse the Corefile of kube-system/%s: %v", cluster.CMCoreDNS, perr)
		return nil, &r
	}
	if len(domains) == 0 {
		r := Skip("the kubernetes plugin of the Corefile names no forward zone")
		return nil, &r
	}
	sort.Strings(domains)
	return domains, nil
}

// ClusterDomain is the first zone the CoreDNS kubernetes plugin serves, or
// cluster.local when the Corefile cannot be read.
func (e *Env) ClusterDomain() string {
	domains, r := clusterDomains(e)
	if r != nil || len(domains) == 0 {
		return "cluster.local"
	}
	return domains[0]
}

func clusterDomain(e *Env) Result {
	domains, r := clusterDomains(e)
	if r != nil {
		return *r
	}
	return Info("cluster domain %s (zone of the CoreDNS kubernetes plugin)", strings.Join(domains, ", "))
}
