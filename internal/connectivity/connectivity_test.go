package connectivity

import (
	"strings"
	"testing"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
)

var twoNodes = []string{"cn-hangzhou.192.168.0.10", "cn-hangzhou.192.168.1.20"}

func ids(cells []Cell) []string {
	var out []string
	for _, c := range cells {
		out = append(out, c.ID)
	}
	return out
}

func countKind(cells []Cell, k Kind, skipped bool) int {
	n := 0
	for _, c := range cells {
		if c.Kind == k && (c.Skip != "") == skipped {
			n++
		}
	}
	return n
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		in     Input
		counts map[Kind][2]int // runnable, skipped
	}{
		{
			name: "two nodes, IPv4 only",
			in:   Input{Nodes: twoNodes, Families: []Family{IPv4}},
			counts: map[Kind][2]int{
				PodPodSameNode: {2, 1}, PodPodCrossNode: {2, 1}, Hairpin: {2, 1}, ClusterIP: {2, 1}, NodePort: {4, 1},
				Headless: {2, 1}, HostNetwork: {12, 1}, DNS: {4, 1}, External: {0, 0},
			},
		},
		{
			name: "one node: the cross-node paths say they need two",
			in:   Input{Nodes: twoNodes[:1], Families: []Family{IPv4, IPv6}},
			counts: map[Kind][2]int{
				PodPodSameNode: {2, 0}, PodPodCrossNode: {0, 2}, ClusterIP: {0, 2}, NodePort: {2, 0}, HostNetwork: {6, 0}, DNS: {4, 0},
			},
		},
		{
			name: "external targets go to their family; names to both",
			in:   Input{Nodes: twoNodes, Families: []Family{IPv4, IPv6}, External: []string{"[2400:3200::1]:53", "1.1.1.1:443", "www.aliyun.com:443"}},
			counts: map[Kind][2]int{
				External: {8, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cells := Plan(tt.in)
			for k, want := range tt.counts {
				if got := [2]int{countKind(cells, k, false), countKind(cells, k, true)}; got != want {
					t.Errorf("%s: %v runnable/skipped, want %v", k, got, want)
				}
			}
			seen := map[string]bool{}
			for _, c := range cells {
				if seen[c.ID] {
					t.Errorf("duplicate cell %s", c.ID)
				}
				seen[c.ID] = true
				if !strings.HasPrefix(c.ID, string(c.Kind)+"/"+string(c.Family)) {
					t.Errorf("cell %s is not named kind/family/...", c.ID)
				}
			}
		})
	}
	cells := Plan(Input{Nodes: twoNodes, Families: []Family{IPv4}})
	for _, want := range []string{
		"conn.pod-pod-cross-node/ipv4/cn-hangzhou.192.168.0.10->cn-hangzhou.192.168.1.20",
		"conn.hairpin/ipv4/cn-hangzhou.192.168.1.20",
		"conn.host-network/ipv4/node->pod/cn-hangzhou.192.168.1.20->cn-hangzhou.192.168.0.10",
		"conn.dns/ipv4/cn-hangzhou.192.168.0.10/tcp",
	} {
		if !contains(ids(cells), want) {
			t.Errorf("no cell %s", want)
		}
	}
	for _, c := range cells {
		if c.Kind == Hairpin && c.Skip == "" && (c.From.Role != RoleServer || c.To.Type != ToClusterIP || c.To.Node != c.From.Node) {
			t.Errorf("hairpin %s does not dial its own Service: %+v", c.ID, c)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSelect(t *testing.T) {
	cells := Plan(Input{Nodes: twoNodes, Families: []Family{IPv4, IPv6}})
	tests := []struct {
		patterns []string
		want     func(Cell) bool
		err      string
	}{
		{nil, func(Cell) bool { return true }, ""},
		{[]string{"conn.hairpin"}, func(c Cell) bool { return c.Kind == Hairpin }, ""},
		{[]string{"conn.dns*", "conn.headless"}, func(c Cell) bool { return c.Kind == DNS || c.Kind == Headless }, ""},
		{[]string{"conn.pod-pod-cross-node/ipv4"}, func(c Cell) bool { return c.Kind == PodPodCrossNode && c.Family == IPv4 }, ""},
		{[]string{"!conn.dns", "!conn.host-network"}, func(c Cell) bool { return c.Kind != DNS && c.Kind != HostNetwork }, ""},
		{[]string{"conn.*", "!conn.*/ipv6"}, func(c Cell) bool { return c.Family == IPv4 }, ""},
		{[]string{"conn.nope"}, nil, `--test "conn.nope" matches no test`},
		{[]string{"[bad"}, nil, "bad --test pattern"},
	}
	for _, tt := range tests {
		got, err := Select(cells, tt.patterns)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: err %v, want %q", tt.patterns, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.patterns, err)
		}
		want := 0
		for _, c := range cells {
			if tt.want(c) {
				want++
			}
		}
		if len(got) != want {
			t.Errorf("%v: %d cells, want %d", tt.patterns, len(got), want)
		}
		for _, c := range got {
			if !tt.want(c) {
				t.Errorf("%v selected %s", tt.patterns, c.ID)
			}
		}
	}
}

func TestNeeds(t *testing.T) {
	cells := Plan(Input{Nodes: twoNodes, Families: []Family{IPv4}})
	dnsOnly, _ := Select(cells, []string{"conn.dns"})
	roles, services := Needs(dnsOnly)
	if services || len(roles) != 2 || roles[0][RoleServer] || roles[0][RoleHost] || !roles[0][RoleClient] {
		t.Errorf("DNS needs only clients: %v %v", roles, services)
	}
	hairpin, _ := Select(cells, []string{"conn.hairpin"})
	roles, services = Needs(hairpin)
	if !services || roles[1][RoleClient] || !roles[1][RoleServer] {
		t.Errorf("hairpin needs servers and their Services: %v %v", roles, services)
	}
	roles, _ = Needs(cells)
	for n := 0; n < 2; n++ {
		if len(roles[n]) != 3 {
			t.Errorf("node %d: %v", n, roles[n])
		}
	}
}

func TestOutcomesExplainFailures(t *testing.T) {
	cells := Plan(Input{Nodes: twoNodes, Families: []Family{IPv4}})
	hairpin, _ := Select(cells, []string{"conn.hairpin/ipv4/" + twoNodes[0]})
	results := []Result{
		{Cell: hairpin[0], Status: checks.StatusFail, From: "srv-0 on " + twoNodes[0], To: "10.96.0.20:80 (ClusterIP of srv-0)", Detail: "timeout: nc: timed out (3 tries)"},
		{Cell: cells[0], Status: checks.StatusPass, From: "client-0 on " + twoNodes[0], To: "172.20.0.5:80"},
	}
	doctor := []checks.Outcome{
		{Check: checks.Check{ID: "flannel.hairpin"}, Result: checks.Result{Status: checks.StatusWarn, Findings: []checks.Finding{
			{Object: "kube-system/ConfigMap/kube-flannel-cfg", Message: "hairpinMode is false in the delegate", Remediation: "kubectl acknet fix flannel.hairpin --apply --restart"}}}},
		{Check: checks.Check{ID: "kubeproxy.proxier"}, Result: checks.Result{Status: checks.StatusFail, Summary: "unrelated"}},
	}
	out := Outcomes(results, doctor)
	if len(out) != 2 || out[0].Result.Status != checks.StatusFail || out[1].Result.Status != checks.StatusPass {
		t.Fatalf("%+v", out)
	}
	f := out[0].Result.Findings
	if len(f) != 2 || !strings.Contains(f[0].Message, "srv-0 on "+twoNodes[0]+" cannot reach 10.96.0.20:80") ||
		!strings.Contains(f[0].Remediation, "on this cluster doctor flags flannel.hairpin") || f[0].Node != twoNodes[0] ||
		f[1].Object != "kube-system/ConfigMap/kube-flannel-cfg" || !strings.Contains(f[1].Remediation, "fix flannel.hairpin") {
		t.Errorf("findings %+v", f)
	}
	if len(out[1].Result.Findings) != 0 || !strings.Contains(out[0].Check.Docs(), "docs/connectivity.md#connhairpin") {
		t.Errorf("pass %+v, docs %s", out[1], out[0].Check.Docs())
	}
	// Without a doctor run (nothing failed) no cell mentions doctor.
	if o := Outcomes(results[:1], nil); strings.Contains(o[0].Result.Findings[0].Remediation, "doctor") {
		t.Errorf("%s", o[0].Result.Findings[0].Remediation)
	}
}

// Every cause a failure names is a check doctor has.
func TestCausesAreChecks(t *testing.T) {
	known := map[string]bool{}
	for _, c := range checks.All() {
		known[c.ID] = true
	}
	for _, k := range Kinds {
		for _, id := range k.Causes {
			if !known[id] {
				t.Errorf("%s names %s, which is no check", k.Kind, id)
			}
		}
		if k.Hint == "" || how(k.Kind) == string(k.Kind) {
			t.Errorf("%s is not documented", k.Kind)
		}
	}
}
