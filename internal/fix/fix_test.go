package fix

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/test/manifest"
)

// configMaps reads the ConfigMaps of YAML files (scenario or fixture) into
// Input.Data form.
func configMaps(t *testing.T, files ...string) map[string]map[string]string {
	t.Helper()
	set, err := manifest.Read(files...)
	if err != nil {
		t.Fatal(err)
	}
	return set.ConfigMaps
}

func scenario(name string) string {
	return filepath.Join("..", "..", "test", "scenarios", name)
}

func fixture(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(manifest.FixturesDir(t), rel)
}

// plan runs one fixer and applies its edits to a copy of data.
func plan(t *testing.T, id string, in *Input) (*Plan, map[string]map[string]string) {
	t.Helper()
	f, ok := Lookup(id)
	if !ok {
		t.Fatalf("no fixer %s", id)
	}
	p, err := f.Plan(in)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	after := map[string]map[string]string{}
	for cm, d := range in.Data {
		after[cm] = map[string]string{}
		for k, v := range d {
			after[cm][k] = v
		}
	}
	for _, e := range p.Edits {
		if e.Existed && in.Data[e.ConfigMap][e.Key] != e.Before {
			t.Fatalf("%s: Before of %s/%s is not the current text", id, e.ConfigMap, e.Key)
		}
		after[e.ConfigMap][e.Key] = e.After
	}
	return p, after
}

// changedLines returns the lines of after that are not in before, in order.
func changedLines(before, after string) []string {
	old := map[string]int{}
	for _, l := range strings.Split(before, "\n") {
		old[l]++
	}
	var out []string
	for _, l := range strings.Split(after, "\n") {
		if old[l] > 0 {
			old[l]--
			continue
		}
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

func TestFixesOnScenarios(t *testing.T) {
	flannel := configMaps(t, scenario("flannel-broken/10-flannel.yaml"), scenario("flannel-broken/20-kube-proxy.yaml"))
	terway := configMaps(t, scenario("terway-broken/10-terway.yaml"))
	tests := []struct {
		id    string
		data  map[string]map[string]string
		set   map[string]string
		edits int
		// added lines of the first edit, trimmed
		added []string
		sched string
	}{
		{id: "flannel.cni-version", data: flannel, edits: 1, added: []string{`"cniVersion": "0.3.1",`}},
		{id: "flannel.hairpin", data: flannel, edits: 1, added: []string{`"isDefaultGateway": true,`, `"hairpinMode": true`}},
		{id: "flannel.ipam-datadir", data: flannel, edits: 1, added: []string{`},`, `"dataDir": "/var/run/cni/flannel",`, `"ipam": {"type": "host-local", "dataDir": "/var/run/cni/networks"}`}},
		{id: "kubeproxy.conntrack-max-per-core", data: flannel, edits: 1, added: []string{"maxPerCore: 65536"}},
		{id: "kubeproxy.ipvs-udp-timeout", data: flannel, edits: 1, added: []string{"udpTimeout: 10s"}},
		{id: "kubeproxy.ipvs-scheduler", data: flannel, set: map[string]string{"scheduler": "wrr"}, edits: 2, added: []string{"scheduler: wrr"}, sched: "wrr"},
		{id: "kubeproxy.master-worker-drift", data: flannel, set: map[string]string{"source": "worker"}, edits: 1, added: []string{"maxPerCore: 32768", "scheduler: lc"}, sched: "lc"},
		{id: "terway.in-cluster-lb", data: terway, edits: 2, added: []string{`"enable_eip_pool": "true"`}},
		{id: "terway.network-policy", data: terway, edits: 1, added: []string{"true"}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			in := &Input{Data: tt.data, Set: tt.set}
			p, after := plan(t, tt.id, in)
			if len(p.Edits) != tt.edits {
				t.Fatalf("%d edits, want %d: %+v", len(p.Edits), tt.edits, p.Edits)
			}
			e := p.Edits[0]
			if got := changedLines(e.Before, e.After); strings.Join(got, "|") != strings.Join(tt.added, "|") {
				t.Errorf("changed lines %q, want %q\n%s", got, tt.added, e.After)
			}
			if p.Scheduler != tt.sched {
				t.Errorf("scheduler %q, want %q", p.Scheduler, tt.sched)
			}
			// A second run on the fixed data changes nothing.
			p2, _ := plan(t, tt.id, &Input{Data: after, Set: tt.set})
			if len(p2.Edits) != 0 {
				t.Errorf("not idempotent: %+v", p2.Edits)
			}
		})
	}
}

func TestDriftFromMaster(t *testing.T) {
	data := configMaps(t, scenario("flannel-broken/20-kube-proxy.yaml"))
	p, after := plan(t, "kubeproxy.master-worker-drift", &Input{Data: data, Set: map[string]string{"source": "master"}})
	if len(p.Edits) != 1 || p.Edits[0].ConfigMap != "kube-proxy-worker" {
		t.Fatalf("edits %+v", p.Edits)
	}
	w, _ := ackconf.ParseKubeProxyConfig(after["kube-proxy-worker"]["config.conf"])
	m, _ := ackconf.ParseKubeProxyConfig(after["kube-proxy-master"]["config.conf"])
	ws, ms := ackconf.SummarizeKubeProxy(w), ackconf.SummarizeKubeProxy(m)
	if ws.Scheduler != ms.Scheduler || ws.UDPTimeoutHuman != ms.UDPTimeoutHuman || *ws.MaxPerCore != *ms.MaxPerCore {
		t.Errorf("still differ: worker %+v master %+v", ws, ms)
	}
}

func TestFixesOnFixtures(t *testing.T) {
	// The FAQ's "before" Flannel config (conflist form) gets the tmpfs
	// directories of its "after" example, in the flannel plugin.
	in := &Input{Data: configMaps(t, fixture(t, "flannel/kube-flannel-cfg.ack-doc-v0.15.1.x.yaml"))}
	p, after := plan(t, "flannel.ipam-datadir", in)
	if len(p.Edits) != 1 {
		t.Fatalf("edits %+v", p.Edits)
	}
	want, err := os.ReadFile(fixture(t, "flannel/cni-conf.ack-doc.tmpfs-ipam.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ackconf.ParseFlannelCNI(after["kube-flannel-cfg"]["cni-conf.json"])
	exp, _ := ackconf.ParseFlannelCNI(string(want))
	if got.HairpinMode == nil || exp.HairpinMode == nil || *got.HairpinMode != *exp.HairpinMode {
		t.Errorf("hairpinMode %v, want %v", got.HairpinMode, exp.HairpinMode)
	}
	got.HairpinMode, exp.HairpinMode = nil, nil
	if *got != *exp {
		t.Errorf("got %+v\nwant %+v", *got, *exp)
	}
	// The FAQ's kube-proxy example is already right: nothing to do.
	kp := &Input{Data: configMaps(t, fixture(t, "kube-proxy/kube-proxy-worker.configmap.ack-doc.yaml"))}
	for _, id := range []string{"kubeproxy.conntrack-max-per-core", "kubeproxy.ipvs-udp-timeout"} {
		if p, _ := plan(t, id, kp); len(p.Edits) != 0 {
			t.Errorf("%s on the FAQ example: %+v", id, p.Edits)
		}
	}
}

// An unset conntrack.maxPerCore is kube-proxy's default 32768, below the
// FAQ's 65536: fix sets it, and says what was there.
func TestMaxPerCoreUnset(t *testing.T) {
	head := "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"
	in := &Input{Data: map[string]map[string]string{"kube-proxy-worker": {"config.conf": head}}}
	p, after := plan(t, "kubeproxy.conntrack-max-per-core", in)
	if len(p.Edits) != 1 || !strings.Contains(p.Edits[0].What, "unset (kube-proxy's default 32768) -> 65536") {
		t.Fatalf("edits %+v", p.Edits)
	}
	if got := changedLines(p.Edits[0].Before, p.Edits[0].After); strings.Join(got, "|") != "conntrack:|maxPerCore: 65536" {
		t.Errorf("changed %q", got)
	}
	if p2, _ := plan(t, "kubeproxy.conntrack-max-per-core", &Input{Data: after}); len(p2.Edits) != 0 {
		t.Errorf("not idempotent: %+v", p2.Edits)
	}
}

func TestRefusals(t *testing.T) {
	flannel := configMaps(t, scenario("flannel-broken/10-flannel.yaml"), scenario("flannel-broken/20-kube-proxy.yaml"))
	broken := configMaps(t, scenario("terway-broken-json/00-cluster.yaml"))
	terway := configMaps(t, scenario("terway-broken/10-terway.yaml"))
	tests := []struct {
		id   string
		in   *Input
		want string
	}{
		{"flannel.cni-version", &Input{Data: flannel, Set: map[string]string{"cniVersion": "latest"}}, "not a CNI spec version"},
		{"flannel.cni-version", &Input{Data: flannel, Set: map[string]string{"version": "0.3.1"}}, "takes no --set version"},
		{"flannel.hairpin", &Input{Data: flannel, Set: map[string]string{"x": "1"}}, "takes no --set values"},
		{"flannel.ipam-datadir", &Input{Data: flannel, Set: map[string]string{"dataDir": "/var/lib/cni/flannel"}}, "not under /var/run"},
		{"flannel.hairpin", &Input{Data: terway}, "kube-flannel-cfg does not exist"},
		{"kubeproxy.ipvs-scheduler", &Input{Data: flannel}, "say which scheduler"},
		{"kubeproxy.master-worker-drift", &Input{Data: flannel}, "say which ConfigMap is right"},
		{"kubeproxy.ipvs-scheduler", &Input{Data: flannel, Set: map[string]string{"scheduler": "fastest"}}, "no IPVS scheduler"},
		{"kubeproxy.ipvs-udp-timeout", &Input{Data: flannel, Set: map[string]string{"udpTimeout": "10"}}, "not a positive duration"},
		{"kubeproxy.ipvs-udp-timeout", &Input{Data: flannel, KubeMajor: 1, KubeMinor: 16}, "kubectl acknet ipvs timeout --set 900,120,10"},
		{"kubeproxy.conntrack-max-per-core", &Input{Data: broken}, "fix it by hand first"},
		{"terway.in-cluster-lb", &Input{Data: broken}, "fix it by hand first"},
		{"terway.network-policy", &Input{Data: terway, NetworkPolicies: 2, Example: "shop/deny-all"}, "shop/deny-all"},
		{"terway.network-policy", &Input{Data: terway, NetworkPolicies: -1, Example: "Forbidden"}, "cannot tell"},
	}
	for _, tt := range tests {
		t.Run(tt.id+" "+tt.want, func(t *testing.T) {
			f, _ := Lookup(tt.id)
			_, err := f.Plan(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// Every fixer belongs to a check of the catalog, and that check's Fix text
// names the command, so doctor output and the docs lead to it.
func TestFixersAreNamedByTheirChecks(t *testing.T) {
	byID := map[string]checks.Check{}
	for _, c := range checks.All() {
		byID[c.ID] = c
	}
	for _, f := range Fixers() {
		c, ok := byID[f.ID]
		if !ok {
			t.Errorf("fixer %s has no check", f.ID)
			continue
		}
		if !strings.Contains(c.Fix, "kubectl acknet fix "+f.ID) {
			t.Errorf("check %s: Fix %q does not name kubectl acknet fix %s", f.ID, c.Fix, f.ID)
		}
		if len(f.ConfigMaps) == 0 || f.Changes == "" {
			t.Errorf("fixer %s: no ConfigMaps or Changes", f.ID)
		}
	}
	if len(Fixers()) != 9 {
		t.Errorf("%d fixers, want the 9 config remedies", len(Fixers()))
	}
}

// Values that exist but are wrong are replaced in place.
func TestFixReplacesExistingValues(t *testing.T) {
	fixtureCfg := configMaps(t, fixture(t, "flannel/kube-flannel-cfg.ack-doc-v0.15.1.x.yaml"))
	off := strings.Replace(fixtureCfg["kube-flannel-cfg"]["cni-conf.json"], `"hairpinMode": true`, `"hairpinMode": false`, 1)
	in := &Input{Data: map[string]map[string]string{"kube-flannel-cfg": {"cni-conf.json": off}}}
	p, _ := plan(t, "flannel.hairpin", in)
	if len(p.Edits) != 1 || p.Edits[0].After != fixtureCfg["kube-flannel-cfg"]["cni-conf.json"] {
		t.Errorf("hairpinMode false was not turned into the fixture's true: %+v", p.Edits)
	}
	in = &Input{Data: fixtureCfg, Set: map[string]string{"cniVersion": "1.0.0"}}
	p, _ = plan(t, "flannel.cni-version", in)
	if len(p.Edits) != 1 || !strings.Contains(p.Edits[0].After, `"cniVersion":"1.0.0"`) {
		t.Errorf("explicit cniVersion: %+v", p.Edits)
	}
	// Without --set an existing cniVersion is left alone.
	if p, _ := plan(t, "flannel.cni-version", &Input{Data: fixtureCfg}); len(p.Edits) != 0 {
		t.Errorf("changed an existing cniVersion: %+v", p.Edits)
	}
}

// The DaemonSets of the public manifests mount the ConfigMaps the fixes
// edit, which is how fix --restart finds what to restart.
func TestConsumersOfFixtureDaemonSets(t *testing.T) {
	tests := []struct{ file, cm, want string }{
		{"flannel/ack-flannel.ooc.v0.15.1.5.yaml", "kube-flannel-cfg", "kube-flannel-ds"},
		{"terway/daemonset-terway-eniip.helm.yaml", "eni-config", "terway-eniip"},
		{"terway/ack-style-terway-eniip.ooc.v1.2.1.yaml", "eni-config", "terway-eniip"},
		{"kube-proxy/kube-proxy-worker.ooc.v1.20.4-aliyun.1.yaml", "kube-proxy-worker", "kube-proxy-worker"},
		{"kube-proxy/kube-proxy-master.ooc.v1.20.4-aliyun.1.yaml", "kube-proxy-master", "kube-proxy-master"},
	}
	for _, tt := range tests {
		set, err := manifest.Read(fixture(t, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		dss := set.DaemonSets
		if got := strings.Join(Readers(dss, tt.cm), ","); got != tt.want {
			t.Errorf("%s: consumers of %s = %q, want %q", tt.file, tt.cm, got, tt.want)
		}
	}
}
