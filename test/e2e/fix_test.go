//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

var backupRe = regexp.MustCompile(`backup (acknet-backup-[a-z0-9-]+)`)

// kubeSystemData returns the data of every kube-system ConfigMap that is
// not a fix backup.
func kubeSystemData(t *testing.T) map[string]map[string]string {
	t.Helper()
	l, err := adminClient(t).CoreV1().ConfigMaps("kube-system").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, cm := range l.Items {
		if cm.Labels["acknet.kubectl.io/backup-of"] == "" {
			out[cm.Name] = cm.Data
		}
	}
	return out
}

// lineChanges returns the lines only in before and only in after. It fails
// the test when the lines both share are not the same sequence, byte for
// byte: an edit must not move or reformat anything else.
func lineChanges(t *testing.T, before, after string) (removed, added []string) {
	t.Helper()
	keep := func(text, other string) []string {
		count := map[string]int{}
		for _, l := range strings.Split(other, "\n") {
			count[l]++
		}
		var out []string
		for _, l := range strings.Split(text, "\n") {
			if count[l] > 0 {
				count[l]--
				out = append(out, l)
			}
		}
		return out
	}
	if a, b := keep(before, after), keep(after, before); !reflect.DeepEqual(a, b) {
		t.Errorf("the untouched lines changed order or bytes:\n%q\n%q", a, b)
	}
	count := map[string]int{}
	for _, l := range strings.Split(before, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(after, "\n") {
		if count[l] > 0 {
			count[l]--
			continue
		}
		added = append(added, strings.TrimSpace(l))
	}
	for l, n := range count {
		for ; n > 0; n-- {
			removed = append(removed, strings.TrimSpace(l))
		}
	}
	sort.Strings(removed)
	return removed, added
}

type fixCase struct {
	scenario string
	id       string
	args     []string
	// prepare adjusts the scenario before the fix (nil: nothing).
	prepare func(t *testing.T)
	// what must change: ConfigMap, key, and the lines removed and added.
	cm, key        string
	removed, added []string
	// doctor after the fix: this status, and no findings.
	after string
}

// readerOf is the DaemonSet that reads a ConfigMap in the scenarios; their
// DaemonSets mount nothing, so fix finds them by what ACK names them.
var readerOf = map[string]string{"kube-flannel-cfg": "kube-flannel-ds", "eni-config": "terway-eniip"}

// checkFix runs one fix on its scenario: doctor flags the check, the dry run
// changes nothing, --apply changes exactly the expected lines of one key
// and makes doctor pass, --rollback restores the data byte for byte.
func checkFix(t *testing.T, tc fixCase) string {
	t.Helper()
	load(t, tc.scenario)
	if tc.prepare != nil {
		tc.prepare(t)
	}
	before := parseReport(t, acknet(t, "doctor", "-o", "json", "--checks", tc.id))
	if len(before.findingObjects(tc.id)) == 0 {
		t.Fatalf("%s: doctor does not flag it before the fix: %s", tc.id, before.status(tc.id))
	}
	orig := kubeSystemData(t)

	dry := acknet(t, append([]string{"fix", tc.id}, tc.args...)...)
	if dry.code != 0 || !strings.Contains(dry.stdout, "+++ b/kube-system/"+tc.cm+"/"+tc.key) || !strings.Contains(dry.stdout, "dry run: nothing written") {
		t.Fatalf("dry run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	if got := kubeSystemData(t); !reflect.DeepEqual(got, orig) {
		t.Fatalf("the dry run wrote")
	}

	apply := acknet(t, append([]string{"fix", tc.id, "--apply", "--yes"}, tc.args...)...)
	if apply.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", apply.code, apply.stdout, apply.stderr)
	}
	if ds := readerOf[tc.cm]; ds != "" && !strings.Contains(apply.stdout, "restart DaemonSet kube-system/"+ds+" ") {
		t.Errorf("apply does not name %s as the reader to restart:\n%s", ds, apply.stdout)
	}
	fixed := kubeSystemData(t)
	for cm, data := range orig {
		for k, v := range data {
			if cm == tc.cm && k == tc.key {
				continue
			}
			if fixed[cm][k] != v {
				t.Errorf("%s/%s changed:\n%s", cm, k, fixed[cm][k])
			}
		}
	}
	removed, added := lineChanges(t, orig[tc.cm][tc.key], fixed[tc.cm][tc.key])
	if strings.Join(removed, "|") != strings.Join(tc.removed, "|") || strings.Join(added, "|") != strings.Join(tc.added, "|") {
		t.Errorf("%s/%s: removed %q added %q, want %q and %q\n%s", tc.cm, tc.key, removed, added, tc.removed, tc.added, fixed[tc.cm][tc.key])
	}
	after := parseReport(t, acknet(t, "doctor", "-o", "json", "--checks", tc.id))
	if s := after.status(tc.id); s != tc.after || len(after.findingObjects(tc.id)) != 0 {
		t.Errorf("doctor after the fix: %s %q %v", s, after.summary(tc.id), after.findingObjects(tc.id))
	}

	m := backupRe.FindStringSubmatch(apply.stdout)
	if m == nil {
		t.Fatalf("apply names no backup:\n%s", apply.stdout)
	}
	if c := acknet(t, "__complete", "fix", "--rollback", "acknet-"); !strings.Contains(c.stdout, m[1]+"\t"+tc.cm) {
		t.Errorf("--rollback does not complete %s:\n%s", m[1], c.stdout)
	}
	rb := acknet(t, "fix", "--rollback", m[1], "--yes")
	if rb.code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", rb.code, rb.stdout, rb.stderr)
	}
	if got := kubeSystemData(t); !reflect.DeepEqual(got[tc.cm], orig[tc.cm]) {
		t.Errorf("rollback did not restore %s byte for byte:\n%q\nwant\n%q", tc.cm, got[tc.cm], orig[tc.cm])
	}
	return apply.stdout
}

func setFlannelImage(tag string) func(t *testing.T) {
	return func(t *testing.T) {
		patch := `{"spec":{"template":{"spec":{"containers":[{"name":"kube-flannel","image":"registry-cn-shenzhen-vpc.ack.aliyuncs.com/acs/flannel:` + tag + `"}]}}}}`
		if _, err := adminClient(t).AppsV1().DaemonSets("kube-system").Patch(context.Background(), "kube-flannel-ds",
			types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFixEveryConfigCheck(t *testing.T) {
	cases := []fixCase{
		{scenario: "flannel-broken", id: "flannel.cni-version", cm: "kube-flannel-cfg", key: "cni-conf.json",
			added: []string{`"cniVersion": "0.3.1",`}, after: "pass"},
		{scenario: "flannel-broken", id: "flannel.hairpin", cm: "kube-flannel-cfg", key: "cni-conf.json",
			removed: []string{`"isDefaultGateway": true`}, added: []string{`"isDefaultGateway": true,`, `"hairpinMode": true`}, after: "pass"},
		// The scenario's Flannel predates the IPAM fix, which no config cures;
		// on a current image the config part is what is missing.
		{scenario: "flannel-broken", id: "flannel.ipam-datadir", prepare: setFlannelImage("v0.15.1.22-20a397e6-aliyun"), cm: "kube-flannel-cfg", key: "cni-conf.json",
			removed: []string{"}"}, added: []string{"},", `"dataDir": "/var/run/cni/flannel",`, `"ipam": {"type": "host-local", "dataDir": "/var/run/cni/networks"}`}, after: "pass"},
		{scenario: "flannel-broken", id: "kubeproxy.conntrack-max-per-core", cm: "kube-proxy-worker", key: "config.conf",
			removed: []string{"maxPerCore: 32768"}, added: []string{"maxPerCore: 65536"}, after: "pass"},
		{scenario: "flannel-broken", id: "kubeproxy.ipvs-udp-timeout", cm: "kube-proxy-worker", key: "config.conf",
			added: []string{"udpTimeout: 10s"}, after: "pass"},
		{scenario: "terway-broken", id: "terway.in-cluster-lb", cm: "eni-config", key: "eni_conf",
			removed: []string{`"enable_eip_pool": "true",`, `"in_cluster_loadbalance": "true"`}, added: []string{`"enable_eip_pool": "true"`}, after: "pass"},
		{scenario: "terway-broken", id: "terway.network-policy", cm: "eni-config", key: "disable_network_policy",
			removed: []string{"false"}, added: []string{"true"}, after: "info"},
	}
	var transcript []string
	for _, tc := range cases {
		t.Run(tc.scenario+"/"+tc.id, func(t *testing.T) {
			out := checkFix(t, tc)
			if tc.id == "kubeproxy.ipvs-udp-timeout" {
				transcript = append(transcript, out)
			}
		})
	}
	t.Logf("fix --apply transcript:\n%s", strings.Join(transcript, "\n"))

	t.Run("in-cluster-lb adds the sibling key", func(t *testing.T) {
		load(t, "terway-broken")
		if r := acknet(t, "fix", "terway.in-cluster-lb", "--apply", "--yes"); r.code != 0 {
			t.Fatalf("exit %d %s", r.code, r.stderr)
		}
		if v := kubeSystemData(t)["eni-config"]["in_cluster_loadbalance"]; v != "true" {
			t.Errorf("in_cluster_loadbalance = %q", v)
		}
	})
	t.Run("network policy objects stop it", func(t *testing.T) {
		load(t, "terway-broken")
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-all", Namespace: "default", Labels: map[string]string{"acknet.test/scenario": "fix"}}}
		cs := adminClient(t)
		if _, err := cs.NetworkingV1().NetworkPolicies("default").Create(context.Background(), np, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cs.NetworkingV1().NetworkPolicies("default").Delete(context.Background(), "deny-all", metav1.DeleteOptions{})
		}()
		r := acknet(t, "fix", "terway.network-policy", "--apply", "--yes")
		if r.code != 1 || !strings.Contains(r.stderr, "NetworkPolicy objects exist (e.g. default/deny-all)") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("a config.conf that does not load is not edited", func(t *testing.T) {
		load(t, "terway-broken")
		orig := kubeSystemData(t)
		r := acknet(t, "fix", "kubeproxy.ipvs-udp-timeout", "--apply", "--yes")
		if r.code != 1 || !strings.Contains(r.stderr, "fix it by hand first") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
		if !reflect.DeepEqual(kubeSystemData(t), orig) {
			t.Error("written")
		}
	})
	t.Run("no terminal and no --yes writes nothing", func(t *testing.T) {
		load(t, "flannel-broken")
		orig := kubeSystemData(t)
		r := acknet(t, "fix", "flannel.cni-version", "--apply")
		if r.code != 1 || !strings.Contains(r.stderr, "not run on a terminal, so pass --yes") || !reflect.DeepEqual(kubeSystemData(t), orig) {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
}

// TestFixConflict edits the ConfigMap between the plugin's read and its
// write: the write must fail on the resourceVersion, keep the other edit,
// and a second run must then apply on top of it.
func TestFixConflict(t *testing.T) {
	load(t, "flannel-broken")
	cs := adminClient(t)
	proxy := editBeforeFirstPut(t, cs, "kube-proxy-worker", func(cm *corev1.ConfigMap) {
		cm.Data["config.conf"] = strings.Replace(cm.Data["config.conf"], "clusterCIDR: 172.26.0.0/16", "clusterCIDR: 172.26.0.0/16 # edited by someone else", 1)
	})
	r := runWith(t, proxy.kubeconfig, "fix", "kubeproxy.ipvs-udp-timeout", "--apply", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "changed after it was read") || !strings.Contains(r.stderr, "nothing written to it") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("conflict:\n%s", r.stderr)
	conf := kubeSystemData(t)["kube-proxy-worker"]["config.conf"]
	if !strings.Contains(conf, "edited by someone else") || strings.Contains(conf, "udpTimeout") {
		t.Errorf("after the conflict:\n%s", conf)
	}
	l, _ := cs.CoreV1().ConfigMaps("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "acknet.kubectl.io/backup-of"})
	if len(l.Items) != 0 {
		t.Errorf("%d backups left of a write that did not happen", len(l.Items))
	}
	again := acknet(t, "fix", "kubeproxy.ipvs-udp-timeout", "--apply", "--yes")
	conf = kubeSystemData(t)["kube-proxy-worker"]["config.conf"]
	if again.code != 0 || !strings.Contains(conf, "edited by someone else") || !strings.Contains(conf, "udpTimeout: 10s") {
		t.Errorf("second run: exit %d %s\n%s", again.code, again.stderr, conf)
	}
}

// TestFixSchedulerChecksModules: setting an IPVS scheduler runs the module
// check on every node first and refuses when a node lacks the module.
func TestFixSchedulerChecksModules(t *testing.T) {
	load(t, "flannel-broken") // worker: lc; master: rr, 10s, 65536
	cs := adminClient(t)
	// Only kwok nodes, so every node runs the debug pod.
	if err := cs.CoreV1().Nodes().DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "acknet.test/scenario=flannel-broken"}); err != nil {
		t.Fatal(err)
	}
	kwokNode(t, "kwok-sched-0")
	kwokNode(t, "kwok-sched-1")
	root := newFakeRoot(t)
	root.write("proc/modules", "ip_vs_rr 16384 4 - Live 0x0\nip_vs_lc 16384 0 - Live 0x0\nip_vs 180224 6 ip_vs_rr,ip_vs_lc, Live 0x0\nnf_conntrack 172032 5 ip_vs, Live 0x0\n", 0)
	orig := kubeSystemData(t)

	r := acknet(t, "fix", "kubeproxy.ipvs-scheduler", "--set", "scheduler=wrr", "--apply", "--yes", "--host-root", root.dir)
	if r.code != 1 || !strings.Contains(r.stderr, "ip_vs_wrr is neither loaded nor available on 2 of 2 nodes: kwok-sched-0, kwok-sched-1") ||
		!strings.Contains(r.stderr, "kubectl acknet ipvs modules --scheduler wrr --node kwok-sched-0,kwok-sched-1 --apply") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !reflect.DeepEqual(kubeSystemData(t), orig) {
		t.Error("written although refused")
	}
	t.Logf("refused:\n%s", r.stderr)

	checkDebugPods := func() {
		if n := debugPodsLeft(t); n != 0 {
			t.Errorf("%d debug pods left", n)
		}
	}
	checkDebugPods()
	// rr is loaded everywhere: kube-proxy-worker goes from lc to rr and the
	// check passes; kube-proxy-master already has rr.
	ok := acknet(t, "fix", "kubeproxy.ipvs-scheduler", "--set", "scheduler=rr", "--apply", "--yes", "--host-root", root.dir)
	// Loaded but persisted nowhere: allowed, with a warning and the command.
	if ok.code != 0 || !strings.Contains(ok.stderr, "ip_vs_rr is loaded or loadable on all 2 nodes") || !strings.Contains(ok.stdout, "unchanged: kube-proxy-master ipvs.scheduler: rr") ||
		!strings.Contains(ok.stderr, "warning: ip_vs_rr is not loaded or not persisted on 2 nodes (kwok-sched-0, kwok-sched-1)") {
		t.Fatalf("exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
	removed, added := lineChanges(t, orig["kube-proxy-worker"]["config.conf"], kubeSystemData(t)["kube-proxy-worker"]["config.conf"])
	if strings.Join(removed, "|") != "scheduler: lc" || strings.Join(added, "|") != "scheduler: rr" {
		t.Errorf("removed %q added %q", removed, added)
	}
	rep := parseReport(t, acknet(t, "doctor", "-o", "json", "--checks", "kubeproxy.ipvs-scheduler"))
	if s := rep.status("kubeproxy.ipvs-scheduler"); s != "pass" {
		t.Errorf("doctor after: %s %s", s, rep.summary("kubeproxy.ipvs-scheduler"))
	}
	checkDebugPods()

	// Drift: the worker now has rr but no udpTimeout and a low maxPerCore;
	// the master is right, and the worker follows it.
	before := parseReport(t, acknet(t, "doctor", "-o", "json", "--checks", "kubeproxy.master-worker-drift"))
	if s := before.status("kubeproxy.master-worker-drift"); s != "warn" {
		t.Fatalf("drift before: %s", s)
	}
	d := acknet(t, "fix", "kubeproxy.master-worker-drift", "--set", "source=master", "--apply", "--yes", "--host-root", root.dir)
	if d.code != 0 {
		t.Fatalf("drift: exit %d\n%s%s", d.code, d.stdout, d.stderr)
	}
	removed, added = lineChanges(t, orig["kube-proxy-worker"]["config.conf"], kubeSystemData(t)["kube-proxy-worker"]["config.conf"])
	if strings.Join(removed, "|") != "maxPerCore: 32768|scheduler: lc" || strings.Join(added, "|") != "maxPerCore: 65536|scheduler: rr|udpTimeout: 10s" {
		t.Errorf("drift: removed %q added %q", removed, added)
	}
	after := parseReport(t, acknet(t, "doctor", "-o", "json", "--checks", "kubeproxy.*"))
	for _, id := range []string{"kubeproxy.master-worker-drift", "kubeproxy.conntrack-max-per-core", "kubeproxy.ipvs-udp-timeout", "kubeproxy.ipvs-scheduler"} {
		if s := after.status(id); s != "pass" {
			t.Errorf("after the drift fix %s is %s: %s", id, s, after.summary(id))
		}
	}
	now := kubeSystemData(t)
	for cm, data := range orig {
		for k, v := range data {
			if (cm != "kube-proxy-worker" || k != "config.conf") && now[cm][k] != v {
				t.Errorf("%s/%s changed", cm, k)
			}
		}
	}
	// Undo both fixes, newest first: the worker is back byte for byte.
	for _, out := range []string{d.stdout, ok.stdout} {
		m := backupRe.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no backup named:\n%s", out)
		}
		if rb := acknet(t, "fix", "--rollback", m[1], "--yes"); rb.code != 0 {
			t.Fatalf("rollback %s: exit %d %s", m[1], rb.code, rb.stderr)
		}
	}
	if got := kubeSystemData(t); !reflect.DeepEqual(got, orig) {
		t.Errorf("after both rollbacks:\n%q\nwant\n%q", got["kube-proxy-worker"], orig["kube-proxy-worker"])
	}
}

// A fix that writes kube-proxy-master and then kube-proxy-worker meets a
// conflict on the second: the first is put back, so nothing of it stays.
func TestFixTwoConfigMapsAllOrNothing(t *testing.T) {
	load(t, "flannel-broken")
	cs := adminClient(t)
	before := kubeSystemData(t)
	proxy := editBeforeFirstPut(t, cs, "kube-proxy-worker", func(cm *corev1.ConfigMap) {
		cm.Annotations = map[string]string{"edited-by": "someone else"}
	})
	r := runWith(t, proxy.kubeconfig, "fix", "kubeproxy.conntrack-max-per-core", "--set", "maxPerCore=131072", "--apply", "--yes")
	// "wrote" is said only of what stays written: here nothing.
	if r.code != 1 || strings.Contains(r.stdout, "wrote ") ||
		!strings.Contains(r.stderr, "put back as it was (its backup removed): kube-system/ConfigMap/kube-proxy-master") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	after := kubeSystemData(t)
	for _, name := range []string{"kube-proxy-master", "kube-proxy-worker"} {
		if after[name]["config.conf"] != before[name]["config.conf"] {
			t.Errorf("%s changed:\n%s", name, after[name]["config.conf"])
		}
	}
	l, _ := cs.CoreV1().ConfigMaps("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "acknet.kubectl.io/backup-of"})
	if len(l.Items) != 0 {
		t.Errorf("%d backups left of a fix that was undone", len(l.Items))
	}
	t.Logf("half a fix undone:\n%s%s", r.stdout, r.stderr)
}

// editBeforeFirstPut returns a proxy that, when the plugin first PUTs
// ConfigMap kube-system/name, changes it with edit just before the PUT
// reaches the server: the plugin's write then conflicts.
func editBeforeFirstPut(t *testing.T, cs kubernetes.Interface, name string, edit func(*corev1.ConfigMap)) *proxy {
	t.Helper()
	interfered := false
	return newProxy(t, func(r *http.Request) {
		if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/configmaps/"+name) || interfered {
			return
		}
		interfered = true
		cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		edit(cm)
		if _, err := cs.CoreV1().ConfigMaps("kube-system").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}, nil)
}
