//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
