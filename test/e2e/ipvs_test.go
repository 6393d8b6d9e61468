//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// This kernel has no IPVS (TestRealIPVSOnAKernelWithoutIPVS shows what the
// command does then); a successful --set through a debug pod can only be
// shown with a stub ipvsadm in a fake host root on a kwok node.
func TestIPVSTimeoutThroughDebugPods(t *testing.T) {
	load(t, "flannel-broken")
	kwokNode(t, "kwok-ipvs-1")
	root := newFakeRoot(t)
	root.write("var/ipvs-timeouts", "900 120 300", 0)
	root.write("proc/net/ip_vs", "IP Virtual Server version 1.2.1 (size=4096)\n", 0)
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
