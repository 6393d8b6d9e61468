package checks

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

// thirdPartyCNI maps DaemonSet names and k8s-app/app label values of
// third-party network plugins to their product names.
var thirdPartyCNI = map[string]string{
	"calico-node":  "Calico",
	"canal":        "Canal",
	"cilium":       "Cilium",
	"weave-net":    "Weave Net",
	"antrea-agent": "Antrea",
	"kube-router":  "kube-router",
}

func thirdParty(e *Env) Result {
	if r := e.skipUnless(cluster.ReadDaemonSets); r != nil {
		return *r
	}
	var findings []Finding
	for _, ds := range e.S.DaemonSets {
		// Terway's own DaemonSets embed Cilium/Calico components as the
		// policy container; they are part of ACK, not third-party.
		if strings.HasPrefix(ds.Name, "terway") {
			continue
		}
		product := thirdPartyCNI[ds.Name]
		for _, key := range []string{"k8s-app", "app", "name", "component"} {
			if product == "" {
				product = thirdPartyCNI[ds.Labels[key]]
			}
		}
		if product == "" {
			continue
		}
		findings = append(findings, Finding{
			Object:      ds.Namespace + "/DaemonSet/" + ds.Name,
			Message:     fmt.Sprintf("%s runs beside ACK's network plugin; ACK does not support third-party network plugins and they can break cluster networking", product),
			Remediation: fmt.Sprintf("remove it (kubectl -n %s delete daemonset %s); the network plugin can only be chosen at cluster creation", ds.Namespace, ds.Name),
		})
	}
	if len(findings) == 0 {
		return Pass("no third-party CNI DaemonSet")
	}
	return WithFindings(StatusFail, count(len(findings), "third-party CNI DaemonSet"), findings)
}

const taintNetworkUnavailable = "node.kubernetes.io/network-unavailable"

func networkUnavailable(e *Env) Result {
	if r := e.skipUnless(cluster.ReadNodes); r != nil {
		return *r
	}
	var findings []Finding
	for _, n := range e.S.Nodes {
		var why []string
		if c := n.NetworkUnavailable; c != nil && c.Status == "True" {
			d := "condition NetworkUnavailable=True"
			if c.Reason != "" {
				d += " (" + c.Reason + ")"
			}
			why = append(why, d)
		}
		for _, t := range n.Taints {
			if t.Key == taintNetworkUnavailable {
				why = append(why, "taint "+taintNetworkUnavailable+":"+string(t.Effect))
				break
			}
		}
		if len(why) == 0 {
			continue
		}
		msg := strings.Join(why, " and ")
		if e.Plugin == PluginFlannel {
			msg += ": the cloud-controller-manager did not add the node's pod route (route table full, or several route tables in the VPC)"
		}
		findings = append(findings, Finding{
			Object:      "node/" + n.Name,
			Node:        n.Name,
			Message:     msg,
			Remediation: "kubectl describe node " + n.Name + "; configure the cloud-controller-manager for multiple route tables if the VPC has several",
		})
	}
	if len(findings) == 0 {
		return Pass("no node reports NetworkUnavailable")
	}
	return WithFindings(StatusFail, count(len(findings), "node")+" without network", findings)
}

func ccmRouteTables(e *Env) Result {
	if r := e.skipUnless(cluster.ReadEvents); r != nil {
		return *r
	}
	type group struct {
		count int32
		msg   string
	}
	by := map[string]*group{}
	for _, ev := range e.S.Events {
		routeEvent := strings.Contains(ev.Message, cluster.MsgMultipleRouteTables) ||
			ev.Reason == cluster.ReasonCreateRouteFail || ev.Reason == cluster.ReasonSyncRouteFail
		if !routeEvent {
			continue
		}
		key := "node/" + eventNode(e, ev)
		if ev.Kind != "Node" && ev.Node == "" {
			key = ev.Namespace + "/" + ev.Kind + "/" + ev.Name
		}
		g := by[key]
		if g == nil {
			g = &group{msg: ev.Message}
			by[key] = g
		}
		g.count += ev.Count
	}
	if len(by) == 0 {
		return Pass("no route events of the cloud-controller-manager")
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var findings []Finding
	for _, k := range keys {
		g := by[k]
		node := strings.TrimPrefix(k, "node/")
		if node == k {
			node = ""
		}
		// The events are all this check reads: the advice follows what the
		// event says, not what the route table holds.
		read := "kubectl describe node " + node
		if node == "" {
			// namespace/Kind/name; a cluster-scoped object has no namespace.
			parts := strings.SplitN(k, "/", 3)
			read = "kubectl get events -A --field-selector involvedObject.name=" + parts[len(parts)-1]
			if len(parts) == 3 && parts[0] != "" {
				read = "kubectl -n " + parts[0] + " get events --field-selector involvedObject.name=" + parts[2]
			}
		}
		fix := "read the whole event (" + read + "); then, in the VPC console, check that the route table has room for the node's pod CIDR and no conflicting entry"
		if strings.Contains(g.msg, cluster.MsgMultipleRouteTables) {
			fix = "configure the cloud-controller-manager for multiple route tables (routeTableIDs in its cloud config)"
		}
		findings = append(findings, Finding{
			Object:      k,
			Node:        node,
			Message:     fmt.Sprintf("%s: %s", count(int(g.count), "route event"), truncate(g.msg, 300)),
			Remediation: fix,
		})
	}
	return WithFindings(StatusFail, "pod routes missing for "+count(len(findings), "object"), findings)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
