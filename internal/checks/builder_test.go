package checks

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/flannelgc"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// testNow is the clock of every test snapshot.
var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// snap builds test snapshots fluently: snapshot().terway(...).cm(...).s
type snapB struct {
	s     *cluster.Snapshot
	nodes map[string]*NodeFacts
	cloud *cloud.Facts
}

// nf is one node's facts as a test states them.
type nf struct {
	Err         string
	Conntrack   *nodescripts.ConntrackStats
	Modules     *nodescripts.ModulesResult
	Timeouts    *nodescripts.TimeoutsResult
	TimeoutsErr string
	Scan        *nodescripts.ScanResult
}

// setFact records a fact on a node as doctor's parse would.
func setFact[T any](f *NodeFacts, k Fact[T], v T, problem string) {
	if f.values == nil {
		f.values, f.problems = map[string]any{}, map[string]string{}
	}
	if problem != "" {
		f.problems[k.name] = problem
	} else {
		f.values[k.name] = v
	}
}

// withNodes adds what doctor --node-checks would have gathered.
func (b *snapB) withNodes(n map[string]nf) *snapB {
	b.nodes = map[string]*NodeFacts{}
	for name, f := range n {
		facts := &NodeFacts{Err: f.Err}
		if f.Conntrack != nil {
			setFact(facts, ConntrackFact, f.Conntrack, "")
		}
		if f.Modules != nil {
			setFact(facts, ModulesFact, f.Modules, "")
		}
		if f.Timeouts != nil || f.TimeoutsErr != "" {
			setFact(facts, TimeoutsFact, f.Timeouts, f.TimeoutsErr)
		}
		if f.Scan != nil {
			setFact(facts, ScanFact, f.Scan, "")
		}
		b.nodes[name] = facts
	}
	return b
}

func ct(count, limit int64, full string) *nodescripts.ConntrackStats {
	return &nodescripts.ConntrackStats{Count: count, Max: limit, TableFull: full, Protocols: map[string]int64{"tcp": count}}
}

func mods(loaded ...string) *nodescripts.ModulesResult {
	r := &nodescripts.ModulesResult{}
	for _, name := range []string{"ip_vs", "ip_vs_rr", "ip_vs_lc", "nf_conntrack"} {
		on := false
		for _, l := range loaded {
			on = on || l == name
		}
		r.Modules = append(r.Modules, nodescripts.Module{Name: name, Loaded: on, Available: true, Persisted: on})
	}
	return r
}

// noIPVSKernel is a kernel without IPVS, as the rig's: only nf_conntrack,
// built in.
func noIPVSKernel() *nodescripts.ModulesResult {
	r := mods("nf_conntrack")
	for i := range r.Modules {
		if r.Modules[i].Name != "nf_conntrack" {
			r.Modules[i].Available = false
		} else {
			r.Modules[i].Builtin = true
		}
	}
	return r
}

// scan is a node with one live sandbox at 10.0.0.2 and, when leak is set, an
// old allocation for each ip whose container is gone.
func scan(leak bool, ips ...string) *nodescripts.ScanResult {
	live := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	r := &nodescripts.ScanResult{Now: testNow, Dirs: map[string]bool{"/var/lib/cni/networks/cb0": true},
		Runtime:     flannelgc.Runtime{Name: "crictl", OK: true, Sandboxes: []string{live}},
		Allocations: []flannelgc.Allocation{{Dir: "/var/lib/cni/networks/cb0", IP: netip.MustParseAddr("10.0.0.2"), ContainerID: live, ModTime: testNow.Add(-time.Hour)}}}
	for _, ip := range ips {
		id := live
		if leak {
			id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		}
		r.Allocations = append(r.Allocations, flannelgc.Allocation{Dir: "/var/lib/cni/networks/cb0", IP: netip.MustParseAddr(ip), ContainerID: id, ModTime: testNow.Add(-time.Hour)})
	}
	return r
}

// fixedPool is a Terway cluster with the FAQ's whitelist node pool: one
// tainted node labelled terway-config=eni-config-fixed running pods, its
// vSwitch vsw-fixed of the given CIDR, and with outside a pod there whose IP
// is not from it.
func fixedPool(cidr string, pods int, outside bool) *snapB {
	b := terwayCluster().node("f1", nodeLabel("terway-config", "eni-config-fixed"), func(n *cluster.Node) {
		n.Taints = []corev1.Taint{{Key: "fixed", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
	}).cm("eni-config-fixed", "eni_conf", `{"vswitches":{"cn-beijing-h":["vsw-fixed"]}}`).podIPs("f1", pods)
	b.s.VSwitchByID = map[string][]netip.Prefix{"vsw-fixed": {netip.MustParsePrefix(cidr)}}
	if outside {
		b.s.Pods.OutsideNodeVSwitch = []cluster.PodRef{{Namespace: "db", Name: "client-1", Node: "f1", Detail: "10.0.3.9"}}
		b.s.Pods.OutsideNodeVSwitchCount = 1
	}
	return b
}

// tmpfsConf is a flannel conflist after the FAQ's tmpfs migration.
const tmpfsConf = `{"name":"cb0","cniVersion":"0.3.1","plugins":[{"type":"flannel","dataDir":"/var/run/cni/flannel",` +
	`"ipam":{"type":"host-local","dataDir":"/var/run/cni/networks"},"delegate":{"hairpinMode":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}`

// tmpfsScan is a node scan with the given CNI config and, with onDisk, an
// allocation left in /var/lib/cni/networks.
func tmpfsScan(onDisk bool, conf string) *nodescripts.ScanResult {
	r := &nodescripts.ScanResult{Now: testNow, Dirs: map[string]bool{"/var/run/cni/networks/cb0": true},
		FSTypes:  map[string]string{"/var/lib/cni/networks": "xfs", "/var/run/cni/networks": "tmpfs"},
		CNIConfs: map[string]string{"/etc/cni/net.d/10-flannel.conflist": conf}}
	if onDisk {
		r.Dirs["/var/lib/cni/networks/cb0"] = true
		r.Allocations = append(r.Allocations, flannelgc.Allocation{Dir: "/var/lib/cni/networks/cb0", IP: netip.MustParseAddr("10.0.0.2"), ModTime: testNow.Add(-time.Hour)})
	}
	return r
}

// heldTwice is a node scan after the config moved to tmpfs: 10.0.0.2 is on
// disk for one sandbox and on tmpfs for another; with diskLive the runtime
// still lists the first.
func heldTwice(diskLive bool) *nodescripts.ScanResult {
	r := tmpfsScan(true, tmpfsConf)
	oldID, newID := strings.Repeat("a", 64), strings.Repeat("c", 64)
	r.Allocations[0].ContainerID = oldID
	r.Allocations = append(r.Allocations, flannelgc.Allocation{Dir: "/var/run/cni/networks/cb0", IP: netip.MustParseAddr("10.0.0.2"), ContainerID: newID, ModTime: testNow})
	r.Runtime = flannelgc.Runtime{Name: "crictl", OK: true, Sandboxes: []string{newID}}
	if diskLive {
		r.Runtime.Sandboxes = append(r.Runtime.Sandboxes, oldID)
	}
	return r
}

func snapshot() *snapB {
	return &snapB{s: &cluster.Snapshot{
		Now:           testNow,
		ServerVersion: "v1.30.7-aliyun.1",
		KubeMajor:     1,
		KubeMinor:     30,
		ConfigMaps:    map[string]map[string]string{},
		Reads:         map[string]*cluster.ReadError{},
		Pods:          cluster.PodStats{PodNetworkIPs: map[string]int{}, Tracked: map[string]cluster.PodState{}},
	}}
}

func (b *snapB) version(major, minor int) *snapB {
	b.s.KubeMajor, b.s.KubeMinor = major, minor
	b.s.ServerVersion = fmt.Sprintf("v%d.%d.0", major, minor)
	return b
}

func (b *snapB) ds(ns, name string, labels map[string]string, containers ...cluster.Container) *snapB {
	b.s.DaemonSets = append(b.s.DaemonSets, cluster.DaemonSet{Namespace: ns, Name: name, Labels: labels, Containers: containers})
	return b
}

// terway adds a Terway DaemonSet of that name and image tag.
func (b *snapB) terway(name, tag string, args ...string) *snapB {
	return b.ds("kube-system", name, map[string]string{"app": name},
		cluster.Container{Name: "terway", Image: "registry-cn-hangzhou.ack.aliyuncs.com/acs/terway:" + tag, Args: args})
}

func (b *snapB) flannel(tag string) *snapB {
	return b.ds("kube-system", "kube-flannel-ds", map[string]string{"app": "flannel"},
		cluster.Container{Name: "kube-flannel", Image: "registry-cn-hangzhou.ack.aliyuncs.com/acs/flannel:" + tag})
}

// cm adds a kube-system ConfigMap from key, value pairs.
func (b *snapB) cm(name string, kv ...string) *snapB {
	data := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		data[kv[i]] = kv[i+1]
	}
	b.s.ConfigMaps[name] = data
	return b
}

func (b *snapB) readErr(key, reason string) *snapB {
	b.s.Reads[key] = &cluster.ReadError{Reason: reason, Message: key + " " + reason}
	return b
}

func (b *snapB) forbid(key string) *snapB { return b.readErr(key, "Forbidden") }

func (b *snapB) missing(cm string) *snapB {
	return b.readErr(cluster.ConfigMapRead(cm), "NotFound")
}

func (b *snapB) node(name string, mods ...func(*cluster.Node)) *snapB {
	n := cluster.Node{Name: name, Labels: map[string]string{}, CreationTimestamp: testNow.Add(-24 * time.Hour), Ready: true}
	for _, m := range mods {
		m(&n)
	}
	b.s.Nodes = append(b.s.Nodes, n)
	return b
}

func podCIDRs(c ...string) func(*cluster.Node) { return func(n *cluster.Node) { n.PodCIDRs = c } }
func nodeLabel(k, v string) func(*cluster.Node) {
	return func(n *cluster.Node) { n.Labels[k] = v }
}
func created(t time.Time) func(*cluster.Node) {
	return func(n *cluster.Node) { n.CreationTimestamp = t }
}
func netUnavailable(n *cluster.Node) {
	n.NetworkUnavailable = &cluster.Condition{Status: "True", Reason: "NoRouteCreated"}
}
func taint(key string) func(*cluster.Node) {
	return func(n *cluster.Node) {
		n.Taints = append(n.Taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
	}
}

func (b *snapB) podIPs(node string, n int) *snapB {
	b.s.Pods.PodNetworkIPs[node] = n
	b.s.Pods.Total += n
	return b
}

// event adds an event of interest; age is how long ago it first happened.
func (b *snapB) event(kind, ns, name, msg string, count int32, age time.Duration) *snapB {
	b.s.Events = append(b.s.Events, cluster.Event{Kind: kind, Namespace: ns, Name: name, Message: msg,
		Reason: "FailedCreatePodSandBox", Count: count, First: testNow.Add(-age), Last: testNow})
	return b
}

func (b *snapB) reasonEvent(kind, name, reason, msg string) *snapB {
	b.s.Events = append(b.s.Events, cluster.Event{Kind: kind, Name: name, Node: name, Reason: reason, Message: msg, Count: 1, First: testNow, Last: testNow})
	return b
}

func (b *snapB) tracked(ns, name, node string, phase corev1.PodPhase) *snapB {
	b.s.Pods.Tracked[ns+"/"+name] = cluster.PodState{Phase: phase, Node: node, Running: phase == corev1.PodRunning}
	return b
}

func (b *snapB) service(ns, name, policy string, ips []string, ports ...corev1.ServicePort) *snapB {
	b.s.Services = append(b.s.Services, cluster.Service{Namespace: ns, Name: name, IPFamilyPolicy: policy, ClusterIPs: ips, Ports: ports})
	return b
}

// kubeProxyPod adds a kube-proxy pod of DaemonSet app (kube-proxy-worker or
// kube-proxy-master) with its log lines, as --logs would read them.
func (b *snapB) kubeProxyPod(app, name, node string, lines ...string) *snapB {
	b.s.Pods.SystemPods = append(b.s.Pods.SystemPods, cluster.PodRef{Namespace: "kube-system", Name: name, Node: node, Detail: "kube-proxy", App: app})
	return b.logs("kube-system/"+name, lines...)
}

// terwayPod adds a Terway pod whose policy container logged lines.
func (b *snapB) terwayPod(name, node string, policy ...string) *snapB {
	b.s.Pods.SystemPods = append(b.s.Pods.SystemPods, cluster.PodRef{Namespace: "kube-system", Name: name, Node: node, Detail: "terway", App: "terway-eniip"})
	b.logs("kube-system/" + name)
	if len(policy) > 0 {
		b.s.Logs.Lines["kube-system/"+name+cluster.PolicyLogSuffix] = policy
	}
	return b
}

func (b *snapB) logs(pod string, lines ...string) *snapB {
	if b.s.Logs == nil {
		b.s.Logs = &cluster.Logs{Lines: map[string][]string{}}
	}
	b.s.Logs.Read++
	if len(lines) > 0 {
		b.s.Logs.Lines[pod] = lines
	}
	return b
}

// Common ConfigMap contents.
const (
	eniConfOK         = `{"version":"1","vswitches":{"cn-hangzhou-i":["vsw-test0001"]},"ip_stack":"ipv4"}`
	terwayCNIIPVlan   = `{"cniVersion":"0.4.0","name":"terway","type":"terway","eniip_virtual_type":"IPVlan"}`
	terwayCNIPlain    = `{"cniVersion":"0.4.0","name":"terway","type":"terway"}`
	flannelCNIGood    = `{"name":"cb0","cniVersion":"0.3.1","plugins":[{"type":"flannel","delegate":{"hairpinMode":true},"dataDir":"/var/run/cni/flannel","ipam":{"type":"host-local","dataDir":"/var/run/cni/networks"}},{"type":"portmap"}]}`
	flannelCNINoVer   = `{"name":"cb0","type":"flannel","delegate":{"isDefaultGateway":true}}`
	flannelGoodTag    = "v0.15.1.22-20a397e6-aliyun"
	kpHead            = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
	kpIPVSTuned       = kpHead + "mode: ipvs\nipvs:\n  scheduler: rr\n  udpTimeout: 10s\nconntrack:\n  maxPerCore: 65536\n"
	kpIPVSDefaults    = kpHead + "mode: ipvs\n"
	kpIptables        = kpHead + "mode: iptables\n"
	corefileDefault   = ".:53 {\n  kubernetes cluster.local in-addr.arpa ip6.arpa {\n  }\n}\n"
	corefileTemplated = ".:53 {\n  kubernetes %s in-addr.arpa ip6.arpa {\n  }\n}\n"
)

func terwayCluster() *snapB {
	return snapshot().terway("terway-eniip", "v1.16.7").cm(cluster.CMENIConfig, "eni_conf", eniConfOK, "10-terway.conf", terwayCNIPlain)
}

func flannelCluster(cni string) *snapB {
	return snapshot().flannel(flannelGoodTag).cm(cluster.CMFlannel, "cni-conf.json", cni)
}
