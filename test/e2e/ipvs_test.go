//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIPVSModulesThroughDebugPods(t *testing.T) {
	load(t, "flannel-broken") // kube-proxy-worker: mode ipvs, scheduler lc
	kwokNode(t, "kwok-ipvs-0")
	root := newFakeRoot(t)
	root.write("proc/modules", "ip_vs 180224 6 - Live 0x0\nnf_conntrack 172032 5 ip_vs, Live 0x0\n", 0)
	root.write("etc/modules-load.d/k8s.conf", "ip_vs\n", 0)

	r := acknet(t, "ipvs", "modules", "--node", "kwok-ipvs-0", "--host-root", root.dir)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"kwok-ipvs-0  ip_vs         yes     yes        yes",
		"kwok-ipvs-0  ip_vs_lc      no",
		"kwok-ipvs-0  nf_conntrack  yes     yes        no",
		"to fix: kubectl acknet ipvs modules --scheduler lc <nodes> --apply",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	t.Logf("ipvs modules:\n%s", r.stdout)

	// The fake root has no /lib/modules, so loading ip_vs_lc fails (and
	// can never reach the real kernel); what is loaded gets persisted.
	a := acknet(t, "ipvs", "modules", "--node", "kwok-ipvs-0", "--host-root", root.dir, "--apply", "--yes")
	if a.code != 1 || !strings.Contains(a.stdout, "load failed") || !strings.Contains(a.stderr, "1 modules could not be loaded") {
		t.Errorf("apply: exit %d\n%s%s", a.code, a.stdout, a.stderr)
	}
	conf, _ := os.ReadFile(filepath.Join(root.dir, "etc/modules-load.d/ack-ipvs-modules.conf"))
	if string(conf) != "nf_conntrack\n" {
		t.Errorf("persisted %q", conf)
	}
	if bad := acknet(t, "ipvs", "modules", "--node", "kwok-ipvs-0", "--scheduler", "lc;reboot"); bad.code != 1 || !strings.Contains(bad.stderr, "no IPVS scheduler") {
		t.Errorf("bad scheduler accepted: exit %d %s", bad.code, bad.stderr)
	}
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

func TestIPVSTimeoutThroughDebugPods(t *testing.T) {
	load(t, "flannel-broken")
	kwokNode(t, "kwok-ipvs-1")
	root := newFakeRoot(t)
	root.write("var/ipvs-timeouts", "900 120 300", 0)
	root.stub("ipvsadm", `f=/var/ipvs-timeouts
case "$1" in
-L) echo "Timeout (tcp tcpfin udp): $(cat $f)" ;;
--set) echo "$2 $3 $4" > $f ;;
*) exit 2 ;;
esac`)
	r := acknet(t, "ipvs", "timeout", "--node", "kwok-ipvs-1", "--host-root", root.dir)
	if r.code != 0 || !strings.Contains(r.stdout, "kwok-ipvs-1  900  120     300") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s := acknet(t, "ipvs", "timeout", "--node", "kwok-ipvs-1", "--host-root", root.dir, "--set", "900,120,10", "--yes")
	if s.code != 0 || !strings.Contains(s.stdout, "900 120 300") || !strings.Contains(s.stdout, "900 120 10") {
		t.Fatalf("set: exit %d\n%s%s", s.code, s.stdout, s.stderr)
	}
	t.Logf("ipvs timeout --set:\n%s", s.stdout)
	noTTY := acknet(t, "ipvs", "timeout", "--node", "kwok-ipvs-1", "--host-root", root.dir, "--set", "900,120,10")
	if noTTY.code != 1 || !strings.Contains(noTTY.stderr, "pass --yes") {
		t.Errorf("a change without a terminal and without --yes: exit %d %s", noTTY.code, noTTY.stderr)
	}
	missing := newFakeRoot(t)
	m := acknet(t, "ipvs", "timeout", "--node", "kwok-ipvs-1", "--host-root", missing.dir)
	if m.code != 1 || !strings.Contains(m.stderr, "yum install -y ipvsadm") {
		t.Errorf("no ipvsadm: exit %d %s", m.code, m.stderr)
	}
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

func TestDoctorNodeChecks(t *testing.T) {
	load(t, "flannel-broken") // Flannel, kube-proxy IPVS with scheduler lc
	podIP := kwokNode(t, "kwok-doc-0")
	root := newFakeRoot(t)
	root.write("proc/sys/net/netfilter/nf_conntrack_count", "970\n", 0)
	root.write("proc/sys/net/netfilter/nf_conntrack_max", "1000\n", 0)
	root.write("proc/modules", "ip_vs 1 0 - Live 0x0\nnf_conntrack 1 0 - Live 0x0\n", 0)
	root.write("var/ipvs-timeouts", "900 120 300", 0)
	root.stub("ipvsadm", `echo "Timeout (tcp tcpfin udp): $(cat /var/ipvs-timeouts)"`)
	root.stub("crictl", "echo "+liveA)
	root.write("var/lib/cni/networks/cb0/10.244.7.202", liveA+"\r\neth0", time.Hour)
	root.write("var/lib/cni/networks/cb0/"+podIP, goneID(1)+"\r\neth0", time.Hour)
	root.write("var/lib/cni/networks/cb0/10.244.7.240", goneID(2)+"\r\neth0", time.Hour)

	r := acknet(t, "doctor", "-o", "json", "--node-checks", "--node", "kwok-doc-0", "--host-root", root.dir)
	rep := parseReport(t, r)
	want := map[string]string{
		"node.conntrack-usage": "fail", "node.ipvs-modules": "fail", "node.ipvs-timeouts": "info",
		"node.flannel-ip-leak": "warn", "node.flannel-ipam-tmpfs": "info", "flannel.cni-version": "fail",
	}
	for id, st := range want {
		if got := rep.status(id); got != st {
			t.Errorf("%s = %s (%s), want %s", id, got, rep.summary(id), st)
		}
	}
	if objs := rep.findingObjects("node.flannel-ip-leak"); len(objs) != 1 || objs[0] != "node/kwok-doc-0" {
		t.Errorf("leak findings %v", objs)
	}
	if r.code != 2 {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
	tbl := acknet(t, "doctor", "--node-checks", "--node", "kwok-doc-0", "--host-root", root.dir, "--checks", "node.*")
	t.Logf("doctor --node-checks:\n%s", tbl.stdout)

	// Without --node-checks no pod is created and the node checks are not listed.
	plain := parseReport(t, acknet(t, "doctor", "-o", "json"))
	if plain.status("node.conntrack-usage") != "(absent)" {
		t.Error("node checks ran without --node-checks")
	}
}
