package checks

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"

	"github.com/kubectl-acknet/kubectl-acknet/internal/flannelgc"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// Thresholds of node.conntrack-usage, in percent.
const (
	ConntrackWarnPct = 80
	ConntrackFailPct = 95
)

// DNSShareNodeLocal is the share of conntrack entries, in percent, from
// which DNS is named first among the remedies.
const DNSShareNodeLocal = 20

// LeakMinAge is the youngest allocation node.flannel-ip-leak may call leaked.
const LeakMinAge = 10 * time.Minute

// eachNode runs fn over the nodes in name order, and returns a skip when the
// node checks did not run or no node could be examined.
func eachNode(e *Env, fn func(node string, f *NodeFacts)) *Result {
	if e.NodeFacts == nil {
		r := Skip("node-side check: runs only with --node-checks")
		return &r
	}
	names := make([]string, 0, len(e.NodeFacts))
	var errs []string
	for n, f := range e.NodeFacts {
		names = append(names, n)
		if f.Err != "" {
			errs = append(errs, n+": "+f.Err)
		}
	}
	if len(names) == 0 {
		r := Skip("no node was examined")
		return &r
	}
	if len(errs) == len(names) {
		sort.Strings(errs)
		r := Skip("no node could be examined: %s", truncate(strings.Join(errs, "; "), 300))
		return &r
	}
	sort.Strings(names)
	for _, n := range names {
		if e.NodeFacts[n].Err == "" {
			fn(n, e.NodeFacts[n])
		}
	}
	return nil
}

// worst keeps the highest-ranked status.
func worst(a, b Status) Status {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

func conntrackUsage(e *Env) Result {
	status := StatusPass
	var findings []Finding
	var skipped []string
	highest, highestNode := -1.0, ""
	if r := eachNode(e, func(n string, f *NodeFacts) {
		c, problem := ConntrackFact.On(f)
		if c == nil {
			skipped = append(skipped, n+": "+problem)
			return
		}
		u := c.Usage()
		if u > highest {
			highest, highestNode = u, n
		}
		var s Status
		switch {
		case u >= ConntrackFailPct || c.TableFull != "":
			s = StatusFail
		case u >= ConntrackWarnPct:
			s = StatusWarn
		default:
			return
		}
		status = worst(status, s)
		msg := fmt.Sprintf("conntrack table %.0f%% full (%d of %d)", u, c.Count, c.Max)
		if len(c.Protocols) > 0 {
			msg += "; by protocol: " + protocolList(c.Protocols)
		}
		if c.DNS >= 0 && c.Count > 0 {
			msg += fmt.Sprintf("; DNS (port 53) %d, %.0f%% of the entries", c.DNS, 100*float64(c.DNS)/float64(c.Count))
		}
		if c.TableFull != "" {
			msg += "; kernel: " + c.TableFull
		}
		fix := "kubectl acknet conntrack --node " + n + " --set-max N (then --apply) or conntrack.maxPerCore in kube-proxy-worker; move short-lived connections to persistent ones"
		// The FAQ's case for NodeLocal DNSCache: DNS holding much of the table.
		if c.DNS >= 0 && c.Count > 0 && float64(c.DNS) >= float64(c.Count)*DNSShareNodeLocal/100 {
			fix = "NodeLocal DNSCache (DNS holds much of the table, see dns.nodelocal); " + fix
		}
		findings = append(findings, Finding{Object: "node/" + n, Node: n, Message: msg, Remediation: fix})
	}); r != nil {
		return *r
	}
	if len(findings) > 0 {
		return WithFindings(status, count(len(findings), "node")+" with a filling conntrack table", findings)
	}
	if highestNode == "" {
		return Skip("conntrack could not be read: %s", truncate(strings.Join(skipped, "; "), 300))
	}
	return Pass("highest usage %.0f%% on %s", highest, highestNode)
}

func protocolList(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// ipvsMode returns the worker scheduler, or a not-applicable result.
func ipvsMode(e *Env) (string, *Result) {
	w := e.WorkerKubeProxy()
	if w == nil || w.Err != nil {
		r := Skip("kube-proxy mode unknown (see cluster.kube-proxy)")
		return "", &r
	}
	if w.Summary.Mode != "ipvs" {
		r := NotApplicable("kube-proxy mode is %s", w.Summary.Mode)
		return "", &r
	}
	return w.Summary.Scheduler, nil
}

func nodeIPVSModules(e *Env) Result {
	sched, r := ipvsMode(e)
	if r != nil {
		return *r
	}
	var findings []Finding
	examined := 0
	if r := eachNode(e, func(n string, f *NodeFacts) {
		mods, _ := ModulesFact.On(f)
		if mods == nil {
			return
		}
		examined++
		var problems, absent []string
		required := map[string]bool{"ip_vs": true, "ip_vs_" + sched: true, "nf_conntrack": true}
		for _, m := range mods.Modules {
			if !required[m.Name] {
				continue
			}
			switch {
			case !m.Loaded && !m.Available:
				absent = append(absent, m.Name)
			case !m.Loaded:
				problems = append(problems, m.Name+" not loaded")
			}
			if m.Name == "ip_vs_"+sched && m.Available && !m.Persisted {
				problems = append(problems, m.Name+" not persisted under /etc/modules-load.d/")
			}
		}
		switch {
		case len(absent) > 0:
			// Loading cannot help: the kernel does not have them.
			findings = append(findings, Finding{Object: "node/" + n, Node: n,
				Message:     "the kernel has no " + strings.Join(absent, ", ") + " (neither loaded nor available to modprobe): kube-proxy cannot run in IPVS mode here",
				Remediation: "run the node on an OS image whose kernel has IPVS, or set kube-proxy mode: iptables in kube-proxy-worker and restart kube-proxy"})
		case len(problems) > 0:
			findings = append(findings, Finding{Object: "node/" + n, Node: n, Message: strings.Join(problems, "; "),
				Remediation: "kubectl acknet ipvs modules --scheduler " + sched + " --node " + n + " --apply"})
		}
	}); r != nil {
		return *r
	}
	if examined == 0 {
		return Skip("the module check could not run on any node")
	}
	if len(findings) > 0 {
		return WithFindings(StatusFail, count(len(findings), "node")+" without the IPVS modules", findings)
	}
	return Pass("ip_vs, ip_vs_%s and nf_conntrack loaded and persisted on %s", sched, count(examined, "node"))
}

func nodeIPVSTimeouts(e *Env) Result {
	if _, r := ipvsMode(e); r != nil {
		return *r
	}
	canSet, known := udpTimeoutInConfigMap(e)
	byValue := map[string][]string{}
	var findings []Finding
	var noTool []string
	if r := eachNode(e, func(n string, f *NodeFacts) {
		t, problem := TimeoutsFact.On(f)
		if problem == InstallIPVSAdm {
			noTool = append(noTool, n)
			return
		}
		if t == nil || t.Current == nil {
			return
		}
		byValue[t.Current.String()] = append(byValue[t.Current.String()], n)
		if t.Current.UDP > 10 && known && !canSet {
			findings = append(findings, Finding{Object: "node/" + n, Node: n,
				Message:     fmt.Sprintf("IPVS udp timeout is %ds and this Kubernetes cannot set ipvs.udpTimeout", t.Current.UDP),
				Remediation: "kubectl acknet ipvs timeout --set 900,120,10 --node " + n})
		}
	}); r != nil {
		return *r
	}
	var parts []string
	for v, nodes := range byValue {
		parts = append(parts, fmt.Sprintf("tcp/tcpfin/udp %s s on %s", strings.ReplaceAll(v, " ", "/"), count(len(nodes), "node")))
	}
	sort.Strings(parts)
	if len(noTool) > 0 {
		parts = append(parts, "no ipvsadm on "+count(len(noTool), "node"))
		for _, n := range noTool {
			msg := InstallIPVSAdm + ": its IPVS timeouts cannot be read"
			if known && !canSet {
				msg += " or set, and this Kubernetes sets the UDP timeout only there"
			}
			findings = append(findings, Finding{Object: "node/" + n, Node: n, Message: msg,
				Remediation: "on the node: yum install -y ipvsadm; then kubectl acknet ipvs timeout --node " + n})
		}
	}
	if len(byValue) == 0 && len(noTool) == 0 {
		return Skip("no node reported IPVS timeouts (no IPVS in use or in the kernel; kubectl acknet ipvs timeout says which)")
	}
	status := StatusInfo
	if known && !canSet && len(findings) > 0 {
		status = StatusWarn
	}
	if len(findings) > 0 {
		return WithFindings(status, strings.Join(parts, "; "), findings)
	}
	return Info("%s", strings.Join(parts, "; "))
}

func nodeFlannelIPLeak(e *Env) Result {
	if r := e.requirePlugin(PluginFlannel); r != nil {
		return *r
	}
	var findings []Finding
	var refused []string
	examined := 0
	if r := eachNode(e, func(n string, f *NodeFacts) {
		scan, _ := ScanFact.On(f)
		if scan == nil {
			return
		}
		examined++
		p := flannelgc.Decide(flannelgc.Input{Node: n, Allocations: scan.Allocations, Runtime: scan.Runtime,
			Pods: f.Pods, Now: scan.Now, MinAge: LeakMinAge})
		if p.Refused != "" {
			refused = append(refused, n)
			findings = append(findings, Finding{Object: "node/" + n, Node: n, Message: "cannot decide: " + p.Refused,
				Remediation: "check the container runtime on the node (crictl pods)"})
			return
		}
		if len(p.Leaked) == 0 {
			return
		}
		var ips []string
		for i, a := range p.Leaked {
			if i == 5 {
				ips = append(ips, fmt.Sprintf("and %d more", len(p.Leaked)-5))
				break
			}
			ips = append(ips, a.IP.String())
		}
		findings = append(findings, Finding{Object: "node/" + n, Node: n,
			Message:     fmt.Sprintf("%s leaked: %s", count(len(p.Leaked), "pod IP"), strings.Join(ips, ", ")),
			Remediation: "kubectl acknet flannel gc --node " + n + " --apply"})
	}); r != nil {
		return *r
	}
	if examined == 0 {
		return Skip("the IPAM scan could not run on any node")
	}
	if len(findings) > 0 {
		return WithFindings(StatusWarn, fmt.Sprintf("leaked IPs on %s", count(len(findings)-len(refused), "node")), findings)
	}
	return Pass("no leaked IP on %s", count(examined, "node"))
}

func onTmpfsPath(dir string) bool {
	return strings.HasPrefix(dir, "/var/run/") || strings.HasPrefix(dir, "/run/")
}

// IPAMNotOnTmpfs says why a node still keeps IPAM state where a reboot does not
// clear it (nil when it does not), from what the scan read on the node: the
// CNI config the kubelet uses, the filesystem under the IPAM data dir, and
// allocations left in the dirs on disk. This is the FAQ's check after its
// tmpfs migration (upgrade, drain, remove /etc/cni and /var/lib/cni, reboot).
func IPAMNotOnTmpfs(sc *nodescripts.ScanResult) []string {
	var why []string
	var conf *ackconf.FlannelCNI
	paths := make([]string, 0, len(sc.CNIConfs))
	for p := range sc.CNIConfs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	switch {
	case len(paths) == 0:
		why = append(why, "no Flannel CNI config in /etc/cni/net.d")
	case sc.CNIConfs[paths[0]] == "":
		why = append(why, paths[0]+" could not be read")
	default:
		c, err := ackconf.ParseFlannelCNI(sc.CNIConfs[paths[0]])
		if err != nil {
			why = append(why, paths[0]+" does not parse: "+err.Error())
			break
		}
		conf = c
		if !onTmpfsPath(c.DataDir) {
			why = append(why, fmt.Sprintf("%s: the flannel dataDir is %s", paths[0], orDefault(c.DataDir, "unset (/var/lib/cni/flannel)")))
		}
		if !onTmpfsPath(c.IPAMDataDir) {
			why = append(why, fmt.Sprintf("%s: the host-local ipam dataDir is %s", paths[0], orDefault(c.IPAMDataDir, "unset (/var/lib/cni/networks)")))
		}
	}
	if len(paths) > 1 {
		why = append(why, "more than one Flannel CNI config: "+strings.Join(paths, ", ")+" (the kubelet uses the first by name)")
	}
	if conf != nil && onTmpfsPath(conf.IPAMDataDir) {
		if fs := sc.FSTypes[conf.IPAMDataDir]; fs != "" && fs != "-" && fs != "tmpfs" {
			why = append(why, fmt.Sprintf("%s is on %s, not tmpfs: a reboot keeps it", conf.IPAMDataDir, fs))
		}
	}
	onDisk := map[string]int{}
	for _, a := range sc.Allocations {
		if !onTmpfsPath(a.Dir) {
			onDisk[a.Dir]++
		}
	}
	dirs := make([]string, 0, len(onDisk))
	for d := range onDisk {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		why = append(why, fmt.Sprintf("%s still holds %s", d, count(onDisk[d], "allocation")))
	}
	return why
}

// DuplicateIPs are the IPs allocated both on disk and on tmpfs to different
// containers that the runtime both lists as sandboxes: after the move to
// tmpfs, host-local no longer reads the old directory and hands out IPs that
// pods started before still hold. A file on disk of a sandbox gone is a leak
// (node.flannel-ip-leak), not a shared IP; without a good runtime listing
// nothing is claimed. Sorted.
func DuplicateIPs(sc *nodescripts.ScanResult) []string {
	if !sc.Runtime.OK {
		return nil
	}
	disk, tmp := map[string]string{}, map[string]string{}
	for _, a := range sc.Allocations {
		if onTmpfsPath(a.Dir) {
			tmp[a.IP.String()] = a.ContainerID
		} else {
			disk[a.IP.String()] = a.ContainerID
		}
	}
	var out []string
	live := func(id string) bool { return flannelgc.SandboxKnown(sc.Runtime.Sandboxes, id) }
	for ip, id := range tmp {
		if old, ok := disk[ip]; ok && old != id && live(old) && live(id) {
			out = append(out, ip)
		}
	}
	sort.Strings(out)
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func nodeFlannelIPAMTmpfs(e *Env) Result {
	if r := e.requirePlugin(PluginFlannel); r != nil {
		return *r
	}
	var findings []Finding
	examined := 0
	dup := false
	if r := eachNode(e, func(n string, f *NodeFacts) {
		scan, _ := ScanFact.On(f)
		if scan == nil {
			return
		}
		examined++
		if dups := DuplicateIPs(scan); len(dups) > 0 {
			dup = true
			findings = append(findings, Finding{Object: "node/" + n, Node: n,
				Message: fmt.Sprintf("%s allocated twice, on disk and on tmpfs, to different containers: two pods share each (host-local on tmpfs does not see what pods started before still hold): %s",
					count(len(dups), "IP"), strings.Join(dups, ", ")),
				Remediation: "drain the node now and finish its move: kubectl acknet flannel tmpfs --node " + n})
			return
		}
		if why := IPAMNotOnTmpfs(scan); len(why) > 0 {
			findings = append(findings, Finding{Object: "node/" + n, Node: n,
				Message:     "IPAM state is not (only) on tmpfs: " + strings.Join(why, "; "),
				Remediation: "kubectl acknet flannel tmpfs --node " + n + " (prints the FAQ's steps for this node)"})
		}
	}); r != nil {
		return *r
	}
	if examined == 0 {
		return Skip("the IPAM scan could not run on any node")
	}
	if dup {
		return WithFindings(StatusWarn, fmt.Sprintf("pod IPs allocated twice; %d of %d nodes keep IPAM state on tmpfs only", examined-len(findings), examined), findings)
	}
	res := Info("%d of %d nodes keep IPAM state on tmpfs only (see flannel.ipam-datadir)", examined-len(findings), examined)
	res.Findings = findings
	return res
}
