// Package ipv6 judges dual-stack readiness from what the API server and the
// nodes report: the ipv6.* checks of the catalog, as pure functions.
package ipv6

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// Input is everything ipv6 verify read.
type Input struct {
	Nodes    []Node
	Pods     []Pod
	Services []Service
	// TerwayIPStack is eni_conf's ip_stack on Terway clusters, "" otherwise.
	TerwayIPStack string
	// Listen holds, with --listen, the sockets of pods by namespace/name.
	Listen map[string]*nodescripts.PodSockets
	// ListenErr says why listeners could not be read at all.
	ListenErr string
	// Probe holds, with --probe, what the probe pods dialled; Internet the
	// --external targets.
	Probe    []Target
	Internet []Target
	ProbeErr string
}

// Target is one dialled address with what it stands for.
type Target struct {
	nodescripts.ProbeResult
	Object string // e.g. shop/Pod/web-0 or shop/Service/web
	From   string // node of the probe pod
}

// Check IDs of ipv6 verify (public contract, from the catalog).
const (
	IDCluster      = "ipv6.cluster"
	IDPodIPs       = "ipv6.pod-ips"
	IDServices     = "ipv6.service-families"
	IDListen       = "ipv6.listen"
	IDReachability = "ipv6.reachability"
	IDInternet     = "ipv6.internet"
)

func is6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && !a.Is4In6()
}

func has6(ips []string) bool {
	for _, ip := range ips {
		if is6(ip) {
			return true
		}
	}
	return false
}

func prefix6(s string) bool {
	p, err := netip.ParsePrefix(s)
	return err == nil && p.Addr().Is6()
}

// Verify runs the ipv6 checks; listen and probe only when their data is set.
func Verify(in Input, listen, probe bool) []checks.Outcome {
	out := []checks.Outcome{
		{Check: checks.Check{ID: IDCluster, Title: "Nodes are dual-stack"}, Result: clusterCheck(in)},
		{Check: checks.Check{ID: IDPodIPs, Title: "Pods have IPv6 addresses"}, Result: podIPs(in)},
		{Check: checks.Check{ID: IDServices, Title: "Services ask for IPv6"}, Result: services(in)},
	}
	if listen {
		out = append(out, checks.Outcome{Check: checks.Check{ID: IDListen, Title: "Processes listen on IPv6"}, Result: listeners(in)})
	}
	if probe {
		out = append(out,
			checks.Outcome{Check: checks.Check{ID: IDReachability, Title: "IPv6 reachability in the cluster"}, Result: reachability(in)},
			checks.Outcome{Check: checks.Check{ID: IDInternet, Title: "IPv6 from the pods to outside the cluster"}, Result: internet(in)})
	}
	return out
}

func clusterCheck(in Input) checks.Result {
	if len(in.Nodes) == 0 {
		return checks.Skip("no nodes")
	}
	if in.TerwayIPStack != "" {
		return terwayCluster(in)
	}
	var findings []checks.Finding
	for _, n := range in.Nodes {
		var missing []string
		cidr6 := false
		for _, c := range n.PodCIDRs {
			cidr6 = cidr6 || prefix6(c)
		}
		if !cidr6 {
			missing = append(missing, "no IPv6 pod CIDR")
		}
		if !n.Has6InternalIP {
			missing = append(missing, "no IPv6 InternalIP")
		}
		if len(missing) > 0 {
			findings = append(findings, checks.Finding{Object: "node/" + n.Name, Node: n.Name, Message: strings.Join(missing, " and "),
				Remediation: "dual-stack is chosen at cluster creation: the node pool needs IPv6-enabled vSwitches and an IPv6 pod CIDR; recreate the node in a dual-stack pool"})
		}
	}
	if len(findings) > 0 {
		return checks.WithFindings(checks.StatusFail, "the cluster is not dual-stack", findings)
	}
	return checks.Pass("%s with an IPv6 pod CIDR and InternalIP", checks.Count(len(in.Nodes), "node"))
}

// terwayCluster judges Terway by what Terway uses: its ip_stack, and the
// addresses its pods got from the vSwitches. Terway nodes usually have no
// pod CIDR at all, so podCIDRs say nothing here.
func terwayCluster(in Input) checks.Result {
	if in.TerwayIPStack != "dual" {
		return checks.WithFindings(checks.StatusFail, "the cluster is not dual-stack", []checks.Finding{{
			Object:      "kube-system/ConfigMap/eni-config",
			Message:     fmt.Sprintf("Terway eni_conf ip_stack is %q, not \"dual\": Terway gives pods no IPv6 address", in.TerwayIPStack),
			Remediation: "IPv6 for Terway is chosen at cluster creation (ip_stack: dual, with IPv6-enabled vSwitches)"}})
	}
	// Per node: do its pods on the pod network have IPv6 addresses?
	with6, without6 := map[string]int{}, map[string]int{}
	for _, p := range in.Pods {
		if !p.OnPodNetwork() || p.Node == "" {
			continue
		}
		if has6(p.IPs) {
			with6[p.Node]++
		} else {
			without6[p.Node]++
		}
	}
	var findings []checks.Finding
	ok, unknown := 0, 0
	for _, n := range in.Nodes {
		switch {
		case without6[n.Name] > 0 && with6[n.Name] == 0:
			findings = append(findings, checks.Finding{Object: "node/" + n.Name, Node: n.Name,
				Message:     fmt.Sprintf("none of its %s got an IPv6 address from Terway", checks.Count(without6[n.Name], "running pod")),
				Remediation: "the node's pod vSwitch likely has no IPv6 CIDR: enable IPv6 on the vSwitch (VPC console) or move the node pool to IPv6-enabled vSwitches; then recreate the pods"})
		case with6[n.Name] > 0:
			ok++
		default:
			unknown++
		}
	}
	summary := fmt.Sprintf("Terway ip_stack dual; pods have IPv6 addresses on %d of %d nodes", ok, len(in.Nodes))
	if unknown > 0 {
		summary += fmt.Sprintf(" (%d run no matching pod on the pod network, so cannot tell)", unknown)
	}
	summary += "; the vSwitches' IPv6 CIDRs are not read here"
	if len(findings) > 0 {
		return checks.WithFindings(checks.StatusFail, summary, findings)
	}
	if ok == 0 {
		return checks.Info("%s", summary)
	}
	return checks.Pass("%s", summary)
}

func podIPs(in Input) checks.Result {
	var findings []checks.Finding
	checked := 0
	for _, p := range in.Pods {
		if !p.OnPodNetwork() {
			continue
		}
		checked++
		if !has6(p.IPs) {
			findings = append(findings, checks.Finding{Object: p.Namespace + "/Pod/" + p.Name, Node: p.Node,
				Message:     fmt.Sprintf("status.podIPs has no IPv6 address (podIP %s)", p.PodIP),
				Remediation: "the pod's node has no IPv6 pod CIDR or vSwitch (see ipv6.cluster); recreate the pod on a dual-stack node"})
		}
	}
	if checked == 0 {
		return checks.Skip("no running pod on the pod network matches")
	}
	if len(findings) > 0 {
		return checks.WithFindings(checks.StatusFail, fmt.Sprintf("%d of %d running pods without IPv6", len(findings), checked), findings)
	}
	return checks.Pass("%d running pods have an IPv6 address", checked)
}

func services(in Input) checks.Result {
	var findings []checks.Finding
	status := checks.StatusPass
	checked := 0
	apiServer := false
	for _, s := range in.Services {
		if s.Type == corev1.ServiceTypeExternalName || s.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		// The API server keeps default/kubernetes SingleStack by design
		// (its primary family only); no user can change it.
		if s.Namespace == "default" && s.Name == "kubernetes" {
			apiServer = true
			continue
		}
		checked++
		policy := s.Policy
		if policy == "" {
			policy = corev1.IPFamilyPolicySingleStack
		}
		obj := s.Namespace + "/Service/" + s.Name
		switch {
		case has6(s.ClusterIPs):
			continue
		case policy == corev1.IPFamilyPolicySingleStack:
			findings = append(findings, checks.Finding{Object: obj, Message: "ipFamilyPolicy SingleStack (IPv4): it never gets an IPv6 ClusterIP",
				Remediation: "set spec.ipFamilyPolicy: PreferDualStack (or RequireDualStack) and spec.ipFamilies: [IPv4, IPv6]"})
			if status == checks.StatusPass {
				status = checks.StatusWarn
			}
		default:
			findings = append(findings, checks.Finding{Object: obj, Message: fmt.Sprintf("ipFamilyPolicy %s but spec.clusterIPs %v has no IPv6 address", policy, s.ClusterIPs),
				Remediation: "the API server's service CIDR lacks an IPv6 range; recreate the Service once the cluster is dual-stack"})
			status = checks.StatusFail
		}
	}
	note := ""
	if apiServer {
		note = " (default/kubernetes left out: the API server keeps it SingleStack by design)"
	}
	if checked == 0 {
		return checks.Skip("no Service with a ClusterIP matches%s", note)
	}
	if len(findings) > 0 {
		return checks.WithFindings(status, fmt.Sprintf("%d of %d Services without an IPv6 ClusterIP%s", len(findings), checked, note), findings)
	}
	return checks.Pass("%d Services have an IPv6 ClusterIP%s", checked, note)
}

func listeners(in Input) checks.Result {
	if in.ListenErr != "" {
		return checks.Skip("%s", in.ListenErr)
	}
	var findings []checks.Finding
	ok, examined := 0, 0
	var unread []string
	for _, p := range in.Pods {
		key := p.Namespace + "/" + p.Name
		socks, found := in.Listen[key]
		if !found {
			continue
		}
		if socks.Err != "" {
			unread = append(unread, key+": "+socks.Err)
			continue
		}
		examined++
		for _, port := range p.Ports {
			if !port.TCP() {
				continue
			}
			v6, v4 := socks.Listens(int(port.Port))
			obj := p.Namespace + "/Pod/" + p.Name
			switch {
			case v6:
				ok++
			case v4:
				findings = append(findings, checks.Finding{Object: obj, Node: p.Node,
					Message:     fmt.Sprintf("container %s listens on port %d over IPv4 only", port.Container, port.Port),
					Remediation: "make the process listen on [::] as well (nginx: add `listen [::]:" + fmt.Sprint(port.Port) + ";`)"})
			default:
				findings = append(findings, checks.Finding{Object: obj, Node: p.Node,
					Message:     fmt.Sprintf("container %s declares port %d but nothing listens on it", port.Container, port.Port),
					Remediation: "check the process and the declared containerPort"})
			}
		}
	}
	sort.Strings(unread)
	if examined == 0 {
		if len(unread) > 0 {
			return checks.Skip("no pod's sockets could be read: %s", strings.Join(unread, "; "))
		}
		return checks.Skip("no pod to examine")
	}
	summary := fmt.Sprintf("%d declared ports listen on IPv6", ok)
	if len(unread) > 0 {
		summary += fmt.Sprintf("; sockets of %d pods unreadable", len(unread))
	}
	if len(findings) > 0 {
		return checks.WithFindings(checks.StatusWarn, fmt.Sprintf("%d declared ports do not listen on IPv6, %s", len(findings), summary), findings)
	}
	return checks.Pass("%s", summary)
}

func targetFindings(ts []Target) (bad []checks.Finding, good int) {
	for _, t := range ts {
		if t.Result == "reachable" {
			good++
			continue
		}
		msg := fmt.Sprintf("[%s]:%d from node %s: %s", t.Address, t.Port, t.From, t.Result)
		if t.Message != "" {
			msg += " (" + t.Message + ")"
		}
		bad = append(bad, checks.Finding{Object: t.Object, Node: t.From, Message: msg,
			Remediation: "check the pod's IPv6 listener (ipv6.listen), NetworkPolicies, and the security group rules for IPv6"})
	}
	return bad, good
}

func reachability(in Input) checks.Result {
	if in.ProbeErr != "" {
		return checks.Skip("%s", in.ProbeErr)
	}
	if len(in.Probe) == 0 {
		return checks.Skip("no IPv6 pod IP or ClusterIP with a declared TCP port to dial")
	}
	bad, good := targetFindings(in.Probe)
	if len(bad) > 0 {
		return checks.WithFindings(checks.StatusFail, fmt.Sprintf("%d of %d IPv6 targets unreachable", len(bad), len(in.Probe)), bad)
	}
	return checks.Pass("%d IPv6 targets reachable", good)
}

func internet(in Input) checks.Result {
	if in.ProbeErr != "" {
		return checks.Skip("%s", in.ProbeErr)
	}
	if len(in.Internet) == 0 {
		return checks.Skip("no --external target given")
	}
	bad, good := targetFindings(in.Internet)
	// It dials out from the probe pods. The FAQ's case, the Internet not
	// reaching a pod over IPv6, has the same cause (no IPv6 public
	// bandwidth) but only a client outside the VPC can show it.
	r := checks.Info("%d of %d external IPv6 targets reachable from the probe pods (outbound only; whether the Internet reaches the pods takes a client outside the VPC)", good, len(in.Internet))
	for i := range bad {
		bad[i].Remediation = "the VPC needs an IPv6 gateway, and the node's IPv6 address needs IPv6 public bandwidth (without it IPv6 stays inside the VPC, outbound and inbound)"
	}
	r.Findings = bad
	return r
}
