package checks

import (
	"strings"
	"testing"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

func TestPlanNodeFacts(t *testing.T) {
	tests := []struct {
		name      string
		snap      *snapB
		scripts   []string
		vars      map[string]string
		needsPods bool
	}{
		{"iptables on Terway: conntrack only", terwayCluster().cm(cluster.CMKubeProxyWorker, "config.conf", kpIptables),
			[]string{"conntrack"}, map[string]string{}, false},
		{"IPVS: the modules and timeouts of its scheduler", terwayCluster().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned),
			[]string{"conntrack", "ipvs-modules", "ipvs-timeout"}, map[string]string{"SCHEDULER": "rr", "APPLY": "0", "PERSIST_FILE": nodescripts.ModulesPersistFile}, false},
		{"Flannel: the IPAM scan, judged against the pods", flannelCluster(flannelCNIGood).cm(cluster.CMKubeProxyWorker, "config.conf", kpIptables),
			[]string{"conntrack", "flannel-scan"}, map[string]string{"NETWORK": "cb0", "IPAM_DIRS": "/var/lib/cni/networks /var/run/cni/networks"}, true},
		{"Flannel with a network name the script cannot take: the default, not the name", flannelCluster(strings.Replace(flannelCNIGood, `"name":"cb0"`, `"name":"cb0; rm -rf /"`, 1)),
			[]string{"conntrack", "flannel-scan"}, map[string]string{"NETWORK": "cb0", "IPAM_DIRS": "/var/lib/cni/networks /var/run/cni/networks"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PlanNodeFacts(NewEnv(tt.snap.s))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range p.defs {
				got = append(got, d.Script.Name)
				if !strings.Contains(p.Script.Text, "printf 'section\\t"+d.Script.Name+"\\n'") {
					t.Errorf("combined script has no section %s", d.Script.Name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.scripts, ",") {
				t.Errorf("scripts %v, want %v", got, tt.scripts)
			}
			if len(p.Vars) != len(tt.vars) {
				t.Errorf("vars %v, want %v", p.Vars, tt.vars)
			}
			for k, v := range tt.vars {
				if p.Vars[k] != v {
					t.Errorf("%s=%q, want %q", k, p.Vars[k], v)
				}
			}
			if p.NeedsPods != tt.needsPods {
				t.Errorf("NeedsPods %v, want %v", p.NeedsPods, tt.needsPods)
			}
		})
	}
}

func TestNodeFactsParse(t *testing.T) {
	plan, err := PlanNodeFacts(NewEnv(terwayCluster().cm(cluster.CMKubeProxyWorker, "config.conf", kpIPVSTuned).s))
	if err != nil {
		t.Fatal(err)
	}
	ctOK := &nodescripts.Section{Output: "count\t5\nmax\t100\n", Ended: true}
	tests := []struct {
		name            string
		secs            map[string]*nodescripts.Section
		wantTimeoutsErr string
		wantUDP         int
		wantConntrack   string // problem, or "" when read
	}{
		{"read", map[string]*nodescripts.Section{"conntrack": ctOK, "ipvs-timeout": {Output: "timeout\tcurrent\t900\t120\t10\n", Ended: true}}, "", 10, ""},
		{"no ipvsadm: the FAQ's install step", map[string]*nodescripts.Section{"conntrack": ctOK, "ipvs-timeout": {Status: nodescripts.ExitNoIPVSAdm, Ended: true}}, InstallIPVSAdm, 0, ""},
		{"no IPVS", map[string]*nodescripts.Section{"conntrack": ctOK, "ipvs-timeout": {Status: nodescripts.ExitNoIPVS, Ended: true}}, "exit status 4", 0, ""},
		{"cut off", map[string]*nodescripts.Section{"conntrack": {Output: "count\t5\n"}, "ipvs-timeout": {Status: nodescripts.ExitNoIPVSAdm}}, "did not finish", 0, "did not finish"},
		{"nothing came back", map[string]*nodescripts.Section{}, "not run", 0, "not run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := plan.Parse(tt.secs)
			timeouts, problem := TimeoutsFact.On(f)
			if problem != tt.wantTimeoutsErr {
				t.Errorf("timeouts problem %q, want %q", problem, tt.wantTimeoutsErr)
			}
			if tt.wantUDP != 0 && (timeouts == nil || timeouts.Current.UDP != tt.wantUDP) {
				t.Errorf("timeouts %+v", timeouts)
			}
			c, problem := ConntrackFact.On(f)
			if problem != tt.wantConntrack || (problem == "") != (c != nil) {
				t.Errorf("conntrack %+v, problem %q, want problem %q", c, problem, tt.wantConntrack)
			}
		})
	}
}
