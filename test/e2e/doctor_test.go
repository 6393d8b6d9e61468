//go:build e2e

package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/test/scenario"
)

// Each scenario with the statuses doctor must report for it. Checks not
// listed may have any status; the exit code follows --fail-on.
var scenarioExpectations = []struct {
	scenario string
	args     []string
	code     int
	want     map[string]string
	objects  map[string][]string // check ID -> finding objects that must appear
}{
	{
		scenario: "terway-healthy",
		code:     0,
		want: map[string]string{
			"cluster.network-plugin": "info", "terway.eni-config": "pass", "terway.in-cluster-lb": "pass",
			"terway.eip-pool": "pass", "terway.hostport": "pass", "kubeproxy.config": "pass",
			"kubeproxy.ipvs-udp-timeout": "pass", "coredns.cluster-domain": "pass", "dns.nodelocal": "info",
			"flannel.cni-version": "skip", "cni.third-party": "pass", "terway.network-policy": "info",
		},
	},
	{
		scenario: "terway-broken",
		args:     []string{"--vswitch-cidrs", "10.30.0.0/16"},
		code:     2,
		want: map[string]string{
			"cni.third-party": "fail", "terway.vswitch-ip-exhausted": "fail", "terway.in-cluster-lb": "fail",
			"terway.dynamic-config": "fail", "terway.eip-pool": "warn", "terway.mac-not-found": "warn",
			"terway.hostport": "warn", "terway.pod-outside-vswitch": "warn", "kubeproxy.config": "fail",
			"coredns.cluster-domain": "fail", "terway.eni-config": "pass", "terway.network-policy": "info",
		},
		objects: map[string][]string{
			"terway.vswitch-ip-exhausted": {"vswitch/vsw-2zebroken00000000h"},
			"terway.dynamic-config":       {"kube-system/ConfigMap/eni-config-bigdata", "kube-system/ConfigMap/eni-config-gpu"},
			"terway.mac-not-found":        {"orders/Pod/worker-0"},
			"terway.hostport":             {"edge/Pod/gateway-0"},
			"terway.pod-outside-vswitch":  {"edge/Pod/legacy-0"},
			"cni.third-party":             {"kube-system/DaemonSet/calico-node"},
		},
	},
	{
		scenario: "terway-eni-no-config",
		code:     2,
		want: map[string]string{
			"terway.eni-config": "fail", "cluster.kube-proxy": "info", "kubeproxy.ipvs-udp-timeout": "warn",
			"terway.in-cluster-lb": "skip", "flannel.hairpin": "skip",
		},
	},
	{
		scenario: "terway-broken-json",
		code:     2,
		want: map[string]string{
			"terway.eni-config": "fail", "kubeproxy.config": "fail", "cluster.cluster-domain": "skip",
			"coredns.cluster-domain": "skip", "terway.eip-pool": "skip",
		},
	},
	{
		scenario: "flannel-healthy",
		code:     0,
		want: map[string]string{
			"cluster.network-plugin": "info", "flannel.cni-version": "pass", "flannel.hairpin": "pass",
			"flannel.ipam-datadir": "pass", "flannel.ip-exhausted": "pass", "node.pod-cidr-capacity": "pass",
			"node.network-unavailable": "pass", "ccm.route-tables": "pass", "terway.eni-config": "skip",
			"kubeproxy.ipvs-udp-timeout": "skip",
		},
	},
	{
		scenario: "flannel-broken",
		code:     2,
		want: map[string]string{
			"flannel.cni-version": "fail", "flannel.hairpin": "warn", "flannel.ipam-datadir": "warn",
			"flannel.ip-exhausted": "fail", "node.pod-cidr-capacity": "fail", "node.network-unavailable": "fail",
			"ccm.route-tables": "fail", "kubeproxy.conntrack-max-per-core": "warn", "kubeproxy.ipvs-udp-timeout": "warn",
			"kubeproxy.ipvs-scheduler": "info", "kubeproxy.master-worker-drift": "warn", "coredns.cluster-domain": "info",
			"kubeproxy.proxier": "skip",
		},
		objects: map[string][]string{
			"flannel.ip-exhausted":     {"node/cn-shenzhen.172.18.0.20"},
			"node.pod-cidr-capacity":   {"node/cn-shenzhen.172.18.0.20", "node/cn-shenzhen.172.18.0.21"},
			"node.network-unavailable": {"node/cn-shenzhen.172.18.0.22"},
			"ccm.route-tables":         {"node/cn-shenzhen.172.18.0.22"},
		},
	},
}

func TestDoctorScenarios(t *testing.T) {
	for _, sc := range scenarioExpectations {
		t.Run(sc.scenario, func(t *testing.T) {
			load(t, sc.scenario)
			r := acknet(t, append([]string{"doctor", "-o", "json"}, sc.args...)...)
			rep := parseReport(t, r)
			if r.code != sc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, sc.code, r.stderr)
			}
			for id, want := range sc.want {
				if got := rep.status(id); got != want {
					t.Errorf("%s = %s (%s), want %s", id, got, rep.summary(id), want)
				}
			}
			for id, objs := range sc.objects {
				got := rep.findingObjects(id)
				for _, o := range objs {
					if !slices.Contains(got, o) {
						t.Errorf("%s: no finding on %s (got %v)", id, o, got)
					}
				}
			}
			// The table of the same cluster is printed without error and
			// names every failing check.
			tbl := acknet(t, append([]string{"doctor", "--no-color"}, sc.args...)...)
			if tbl.code != sc.code {
				t.Errorf("table run: exit code %d, want %d", tbl.code, sc.code)
			}
			for id, want := range sc.want {
				if want == "fail" && !strings.Contains(tbl.stdout, "✖ fail  "+id) {
					t.Errorf("table lacks the failing %s:\n%s", id, tbl.stdout)
				}
			}
			if strings.Contains(tbl.stdout, "\x1b[") {
				t.Error("--no-color output carries ANSI escapes")
			}
		})
	}
}

func TestDoctorYAMLAndFailOn(t *testing.T) {
	load(t, "flannel-healthy")
	y := acknet(t, "doctor", "-o", "yaml")
	if y.code != 0 || !strings.Contains(y.stdout, "kind: DoctorReport") {
		t.Fatalf("yaml run: exit %d\n%s%s", y.code, y.stdout, y.stderr)
	}
	// Only info results: passes at --fail-on warn, fails at --fail-on info.
	if r := acknet(t, "doctor", "-o", "json", "--fail-on", "warn"); r.code != 0 {
		t.Errorf("--fail-on warn: exit %d", r.code)
	}
	if r := acknet(t, "doctor", "-o", "json", "--fail-on", "info"); r.code != 2 {
		t.Errorf("--fail-on info: exit %d", r.code)
	}
	md := acknet(t, "doctor", "-o", "markdown")
	if md.code != 0 || !strings.Contains(md.stdout, "# kubectl acknet doctor") || !strings.Contains(md.stdout, "| ✔ pass | `flannel.cni-version` |") {
		t.Errorf("markdown: exit %d\n%s", md.code, md.stdout)
	}
	ju := acknet(t, "doctor", "-o", "junit", "--fail-on", "info")
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(ju.stdout), &suites); err != nil || ju.code != 2 || suites.Tests < 20 || suites.Failures == 0 {
		t.Errorf("junit: exit %d, %v %+v\n%s", ju.code, err, suites, ju.stdout)
	}
	r := acknet(t, "doctor", "-o", "json", "--checks", "flannel.*", "--skip", "flannel.hairpin")
	rep := parseReport(t, r)
	if len(rep.Checks) != 3 || rep.status("flannel.hairpin") != "(absent)" {
		t.Errorf("filtered report has %d checks", len(rep.Checks))
	}
	if r := acknet(t, "doctor", "--checks", "flanel.*"); r.code != 1 || !strings.Contains(r.stderr, `no check matches "flanel.*"`) {
		t.Errorf("typo in --checks: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := acknet(t, "doctor", "-o", "xml"); r.code != 1 || !strings.Contains(r.stderr, "--output") {
		t.Errorf("bad -o: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestThroughKubectlPluginDiscovery(t *testing.T) {
	load(t, "flannel-broken")
	kubectl := rigBin + "/kubectl"
	v := runBin(t, kubectl, "acknet", "version")
	if v.code != 0 || !strings.HasPrefix(v.stdout, "kubectl-acknet ") {
		t.Fatalf("kubectl acknet version: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	r := runBin(t, kubectl, "acknet", "doctor", "-o", "json", "--checks", "flannel.*")
	rep := parseReport(t, r)
	if r.code != 2 || rep.status("flannel.cni-version") != "fail" {
		t.Errorf("kubectl acknet doctor: exit %d, flannel.cni-version %s", r.code, rep.status("flannel.cni-version"))
	}
	h := runBin(t, kubectl, "acknet", "doctor", "--help")
	if !strings.Contains(h.stdout, "kubectl acknet doctor [flags]") {
		t.Errorf("help does not read as kubectl acknet:\n%s", h.stdout)
	}
}

// The README's read-only RBAC is enough: the rig's readonly user has exactly
// get/list on the resources it names (hack/rig/rbac.yaml) and sees what the
// admin sees, check by check; and doctor sends nothing but GETs, no watch.
func TestReadOnlyUser(t *testing.T) {
	load(t, "flannel-broken")
	var mu sync.Mutex
	var writes []string
	proxy := newProxy(t, func(r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Query().Get("watch") != "" {
			mu.Lock()
			writes = append(writes, r.Method+" "+r.URL.String())
			mu.Unlock()
		}
	}, nil)
	for _, args := range [][]string{{"doctor", "-o", "json"}, {"doctor", "-o", "json", "--logs"}} {
		admin := parseReport(t, runWith(t, proxy.kubeconfig, args...))
		r := acknet(t, append(args, "--context", "readonly")...)
		ro := parseReport(t, r)
		if r.code != 2 {
			t.Errorf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		for _, c := range admin.Checks {
			if got := ro.status(c.ID); got != c.Status || ro.summary(c.ID) != c.Summary {
				t.Errorf("%v %s: read-only user sees %s (%s), admin %s (%s)", args, c.ID, got, ro.summary(c.ID), c.Status, c.Summary)
			}
		}
	}
	if len(writes) > 0 {
		t.Errorf("doctor sent more than GET/LIST:\n%s", strings.Join(writes, "\n"))
	}
}

func TestUserWhoCannotListEvents(t *testing.T) {
	load(t, "flannel-broken")
	r := acknet(t, "doctor", "-o", "json", "--context", "noevents")
	rep := parseReport(t, r)
	for _, id := range []string{"flannel.ip-exhausted", "ccm.route-tables"} {
		if rep.status(id) != "skip" || !strings.Contains(rep.summary(id), "Forbidden") {
			t.Errorf("%s = %s (%s), want skip with the Forbidden reason", id, rep.status(id), rep.summary(id))
		}
	}
	// What it can read still fails the run.
	if r.code != 2 || rep.status("flannel.cni-version") != "fail" {
		t.Errorf("exit %d, flannel.cni-version %s", r.code, rep.status("flannel.cni-version"))
	}
}

func TestServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // now nothing listens there
	r := acknet(t, "doctor", "--server", "https://"+addr, "--insecure-skip-tls-verify", "--request-timeout", "5s")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "cannot reach the API server at https://"+addr) || !strings.Contains(lines[0], "connection refused") {
		t.Errorf("stderr should be one clear line, got:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout should be empty, got %q", r.stdout)
	}
	if r.elapsed > 5*time.Second {
		t.Errorf("took %s, longer than --request-timeout", r.elapsed)
	}
	// A CI job that collects a JUnit file still gets a valid one.
	ju := acknet(t, "doctor", "-o", "junit", "--server", "https://"+addr, "--insecure-skip-tls-verify")
	var doc struct {
		Errors int `xml:"errors,attr"`
	}
	if err := xml.Unmarshal([]byte(ju.stdout), &doc); err != nil || doc.Errors != 1 || ju.code != 1 {
		t.Errorf("junit on a down server: exit %d, %v\n%s", ju.code, err, ju.stdout)
	}
}

// countingTransport counts requests by kind: a LIST's first page, its
// continuation pages, and everything else.
type countingTransport struct {
	rt                   http.RoundTripper
	first, pages, others atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	switch {
	case q.Get("continue") != "":
		c.pages.Add(1)
	case q.Get("limit") != "":
		c.first.Add(1)
	default:
		c.others.Add(1)
	}
	return c.rt.RoundTrip(req)
}

func countRequests(t *testing.T, chunk int64) *countingTransport {
	t.Helper()
	cfg := restConfig(t)
	ct := &countingTransport{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { ct.rt = rt; return ct })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Read(context.Background(), cs, cluster.Options{ChunkSize: chunk}); err != nil {
		t.Fatal(err)
	}
	return ct
}

func TestRequestCountDoesNotGrowWithNodes(t *testing.T) {
	load(t, "flannel-healthy") // 2 nodes
	ctx := context.Background()
	cs := adminClient(t)
	const chunk = 500
	small := countRequests(t, chunk)

	// Grow the cluster to 1,000 nodes, all with a pod CIDR.
	var wg sync.WaitGroup
	errs := make(chan error, 998)
	sem := make(chan struct{}, 16)
	for i := 0; i < 998; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scale-%04d", i), Labels: map[string]string{scenario.LabelKey: "scale"}},
				Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256)}}
			if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	big := countRequests(t, chunk)
	t.Logf("2 nodes: %d first pages, %d continuations, %d others; 1000 nodes: %d, %d, %d",
		small.first.Load(), small.pages.Load(), small.others.Load(), big.first.Load(), big.pages.Load(), big.others.Load())
	if small.first.Load() != big.first.Load() || small.others.Load() != big.others.Load() {
		t.Errorf("requests grew with nodes: first pages %d -> %d, others %d -> %d",
			small.first.Load(), big.first.Load(), small.others.Load(), big.others.Load())
	}
	// Only the node LIST pages more: ceil(1000/500) - 1 continuation.
	if got := big.pages.Load() - small.pages.Load(); got != 1 {
		t.Errorf("continuation pages grew by %d, want 1 (1,000 nodes at %d a page)", got, chunk)
	}
}

// The FAQ's whitelist setup: a node pool labelled terway-config=
// eni-config-fixed whose pods get IPs from one vSwitch. The pods and nodes
// are read from the API server; the vSwitch's CIDR comes by ID.
func TestFixedIPNodePool(t *testing.T) {
	load(t, "terway-healthy")
	cs := adminClient(t)
	ctx := context.Background()
	labels := map[string]string{scenario.LabelKey: "fixed"}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "eni-config-fixed", Namespace: "kube-system", Labels: labels},
		Data: map[string]string{"eni_conf": `{"vswitches": {"cn-shanghai-b": ["vsw-fixed0001"]}, "security_group": "sg-fixed"}`}}
	if _, err := cs.CoreV1().ConfigMaps("kube-system").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cn-shanghai.10.12.0.31",
		Labels: map[string]string{scenario.LabelKey: "fixed", "terway-config": "eni-config-fixed"}}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, ip := range map[string]string{"client-in": "10.2.1.7", "client-out": "10.12.200.40"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: labels},
			Spec: corev1.PodSpec{NodeName: node.Name, Containers: []corev1.Container{{Name: "c", Image: "registry.example.com/db-client:1"}}}}
		created, err := cs.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
		if _, err := cs.CoreV1().Pods("shop").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r := acknet(t, "doctor", "--checks", "terway.dynamic-config", "--vswitch-cidrs", "vsw-fixed0001=10.2.1.0/24", "-o", "json")
	rep := parseReport(t, r)
	msgs := findingMessages(rep, "terway.dynamic-config")
	if rep.status("terway.dynamic-config") != "warn" || !strings.Contains(msgs, "without a NoSchedule taint (cn-shanghai.10.12.0.31)") ||
		!strings.Contains(msgs, "shop/client-out 10.12.200.40") || strings.Contains(msgs, "client-in") {
		t.Errorf("terway.dynamic-config %s:\n%s", rep.status("terway.dynamic-config"), msgs)
	}
	// By ID the vSwitch is no list of every vSwitch: the cluster-wide check
	// stays off rather than call every other pod outside.
	if rep.status("terway.pod-outside-vswitch") != "(absent)" {
		t.Errorf("terway.pod-outside-vswitch ran: %s", rep.status("terway.pod-outside-vswitch"))
	}
	byID := parseReport(t, acknet(t, "doctor", "--checks", "terway.pod-outside-vswitch", "--vswitch-cidrs", "vsw-fixed0001=10.2.1.0/24", "-o", "json"))
	if byID.status("terway.pod-outside-vswitch") != "skip" {
		t.Errorf("terway.pod-outside-vswitch with a vSwitch by ID only: %s %s", byID.status("terway.pod-outside-vswitch"), findingMessages(byID, "terway.pod-outside-vswitch"))
	}
	// Without the vSwitch by ID the pods cannot be judged, and are not.
	plain := parseReport(t, acknet(t, "doctor", "--checks", "terway.dynamic-config", "-o", "json"))
	if strings.Contains(findingMessages(plain, "terway.dynamic-config"), "client-out") {
		t.Errorf("pods judged without their vSwitch's CIDR: %s", findingMessages(plain, "terway.dynamic-config"))
	}
	if bad := acknet(t, "doctor", "--vswitch-cidrs", "fixed=10.2.1.0/24"); bad.code != 1 || !strings.Contains(bad.stderr, "neither a CIDR nor vsw-ID=CIDR") {
		t.Errorf("a bad --vswitch-cidrs: exit %d %s", bad.code, bad.stderr)
	}
}
