//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
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

// conntrack --set-max changes the kernel's limit: in a node's own network
// namespace nf_conntrack_max is read-only (TestRealConntrackSetMax shows the
// refusal there), and the machine's own must not change, so the successful
// write is shown in a fake host root on a kwok node.
func TestConntrackSetMaxThroughDebugPods(t *testing.T) {
	load(t, "flannel-broken")
	kwokNode(t, "kwok-ct-1")
	root := newFakeRoot(t)
	root.write("proc/sys/net/netfilter/nf_conntrack_count", "3000\n", 0)
	root.write("proc/sys/net/netfilter/nf_conntrack_max", "262144\n", 0)
	args := []string{"conntrack", "--node", "kwok-ct-1", "--host-root", root.dir, "--set-max", "655350"}
	dry := acknet(t, args...)
	if dry.code != 0 || !strings.Contains(dry.stdout, "kwok-ct-1  3000   262144   655350 (dry run)") || !strings.Contains(dry.stdout, "nothing was changed") {
		t.Fatalf("dry run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(root.dir, "proc/sys/net/netfilter/nf_conntrack_max")); string(b) != "262144\n" {
		t.Fatalf("the dry run changed the limit: %q", b)
	}
	s := acknet(t, append(args, "--apply", "--yes")...)
	if s.code != 0 || !strings.Contains(s.stdout, "kwok-ct-1  3000   262144   655350   /etc/sysctl.d/99-acknet-conntrack.conf") {
		t.Fatalf("apply: exit %d\n%s%s", s.code, s.stdout, s.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(root.dir, "etc/sysctl.d/99-acknet-conntrack.conf")); !strings.Contains(string(b), "net.netfilter.nf_conntrack_max = 655350") {
		t.Errorf("drop-in %q", b)
	}
	t.Logf("conntrack --set-max --apply:\n%s", s.stdout)
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}
