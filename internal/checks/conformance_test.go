package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-acknet/kubectl-acknet/internal/ackconf"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	"github.com/kubectl-acknet/kubectl-acknet/test/manifest"
)

// The conformance suite runs the parsers and detectors over manifests taken
// from public ACK, Terway, Flannel, kube-proxy and CoreDNS sources. It needs
// ACKNET_FIXTURES to name that directory; CI always sets it.
func fixturesDir(t *testing.T) string { return manifest.FixturesDir(t) }

// fixtureSnapshot loads the ConfigMaps and DaemonSets of fixture files into
// a snapshot, as if they were the cluster's kube-system.
func fixtureSnapshot(t *testing.T, files ...string) *cluster.Snapshot {
	t.Helper()
	s := snapshot().s
	for _, f := range files {
		set, err := manifest.Read(filepath.Join(fixturesDir(t), f))
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range set.ConfigMaps {
			s.ConfigMaps[name] = data
		}
		for i := range set.DaemonSets {
			ds := &set.DaemonSets[i]
			if ds.Namespace == "" {
				ds.Namespace = cluster.SystemNamespace // helm templates leave it to the release
			}
			s.DaemonSets = append(s.DaemonSets, cluster.CompactDaemonSet(ds))
		}
	}
	for _, name := range []string{cluster.CMENIConfig, cluster.CMFlannel, cluster.CMKubeProxyWorker, cluster.CMKubeProxyMaster, cluster.CMCoreDNS} {
		if _, ok := s.ConfigMaps[name]; !ok {
			s.Reads[cluster.ConfigMapRead(name)] = &cluster.ReadError{Reason: "NotFound", Message: name}
		}
	}
	return s
}

func statusOf(t *testing.T, env *Env, id string) Result {
	t.Helper()
	for _, c := range All() {
		if c.ID == id {
			return Run(env, []Check{c})[0].Result
		}
	}
	t.Fatalf("no check %s", id)
	return Result{}
}

func TestFixtureConformance(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		plugin  string
		version string
		mode    string
		vt      string
		want    map[string]Status
	}{
		{name: "terway helm datapathv2 dual", files: []string{"terway/daemonset-terway-eniip.helm.yaml", "terway/eni-config.helm-datapathv2-dual.yaml"},
			plugin: PluginTerway, version: "v1.16.7", mode: TerwaySharedENI, vt: ackconf.VirtualTypeDatapathV2,
			want: map[string]Status{"terway.eni-config": StatusPass, "terway.in-cluster-lb": StatusPass, "terway.network-policy": StatusInfo, "terway.eip-pool": StatusPass, "cni.third-party": StatusPass}},
		{name: "terway helm default", files: []string{"terway/daemonset-terway-eniip.helm.yaml", "terway/eni-config.helm-default.yaml"},
			plugin: PluginTerway, version: "v1.16.7", mode: TerwaySharedENI, vt: "",
			want: map[string]Status{"terway.eni-config": StatusPass, "terway.in-cluster-lb": StatusSkip}},
		{name: "legacy terway multi-IP", files: []string{"terway/legacy-terway-multiip.v1.2.3.yml"},
			plugin: PluginTerway, version: "v1.2.3", mode: TerwaySharedENI, vt: ackconf.VirtualTypeVeth,
			want: map[string]Status{"terway.eni-config": StatusPass, "cni.third-party": StatusPass}},
		{name: "legacy terway VPC", files: []string{"terway/legacy-terway-vpc.yml"},
			plugin: PluginTerway, version: "v1.0.10.333-gfd2b7b8-aliyun", mode: TerwayVPC,
			want: map[string]Status{"terway.eni-config": StatusPass}},
		{name: "legacy terway ENI only", files: []string{"terway/legacy-terway-eni-only.test-template.yml"},
			plugin: PluginTerway, mode: TerwayExclusiveENI},
		{name: "ACK-style terway eniip", files: []string{"terway/ack-style-terway-eniip.ooc.v1.2.1.yaml"},
			plugin: PluginTerway, version: "v1.2.1", mode: TerwaySharedENI,
			want: map[string]Status{"terway.eni-config": StatusPass, "cni.third-party": StatusPass}},
		{name: "ACK flannel v0.15.1.5", files: []string{"flannel/ack-flannel.ooc.v0.15.1.5.yaml"},
			plugin: PluginFlannel, version: "v0.15.1.5-11d1c700-aliyun",
			want: map[string]Status{"flannel.cni-version": StatusPass, "flannel.hairpin": StatusWarn, "flannel.ipam-datadir": StatusWarn}},
		{name: "ACK flannel config of the FAQ", files: []string{"flannel/ack-flannel.ooc.v0.15.1.5.yaml", "flannel/kube-flannel-cfg.ack-doc-v0.15.1.x.yaml"},
			plugin: PluginFlannel, version: "v0.15.1.5-11d1c700-aliyun",
			want: map[string]Status{"flannel.cni-version": StatusPass, "flannel.hairpin": StatusPass}},
		{name: "kube-proxy of the FAQ", files: []string{"kube-proxy/kube-proxy-worker.configmap.ack-doc.yaml"},
			want: map[string]Status{"kubeproxy.config": StatusPass, "kubeproxy.ipvs-udp-timeout": StatusPass, "kubeproxy.conntrack-max-per-core": StatusPass, "kubeproxy.ipvs-scheduler": StatusInfo, "cluster.kube-proxy": StatusInfo}},
		{name: "kube-proxy by flags", files: []string{"kube-proxy/kube-proxy-worker.ooc.v1.20.4-aliyun.1.yaml", "kube-proxy/kube-proxy-master.ooc.v1.20.4-aliyun.1.yaml"},
			want: map[string]Status{"kubeproxy.config": StatusPass, "kubeproxy.ipvs-udp-timeout": StatusSkip, "kubeproxy.master-worker-drift": StatusPass,
				// Neither DaemonSet passes --conntrack-max-per-core: kube-proxy's 32768 applies.
				"kubeproxy.conntrack-max-per-core": StatusWarn}},
		{name: "coredns", files: []string{"coredns/coredns.ooc.1.3.1.yaml"},
			want: map[string]Status{"coredns.cluster-domain": StatusPass, "cluster.cluster-domain": StatusInfo}},
		{name: "cloud-controller-manager is no CNI", files: []string{"ccm/cloud-controller-manager.v2.yaml"},
			want: map[string]Status{"cni.third-party": StatusPass}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(fixtureSnapshot(t, tt.files...))
			if env.Plugin != tt.plugin || env.PluginVersion != tt.version || env.TerwayMode != tt.mode {
				t.Errorf("detected %q %q %q, want %q %q %q", env.Plugin, env.PluginVersion, env.TerwayMode, tt.plugin, tt.version, tt.mode)
			}
			if tt.plugin == PluginTerway && env.ENIConfig.VirtualType() != tt.vt {
				t.Errorf("virtual type %q, want %q", env.ENIConfig.VirtualType(), tt.vt)
			}
			for id, want := range tt.want {
				if r := statusOf(t, env, id); r.Status != want {
					t.Errorf("%s = %s (%s), want %s", id, r.Status, r.Summary, want)
				}
			}
			// No check may fail on its own: every fixture runs through all.
			for _, o := range Run(env, All()) {
				if strings.Contains(o.Result.Summary, "internal error") {
					t.Errorf("%s: %s", o.Check.ID, o.Result.Summary)
				}
			}
		})
	}
}

func TestFixtureFlannelCNIFiles(t *testing.T) {
	dir := fixturesDir(t)
	tests := []struct {
		file    string
		tmpfs   bool
		list    bool
		version string
	}{
		{file: "flannel/cni-conf.ack-doc.tmpfs-ipam.json", tmpfs: true, list: true, version: "0.3.1"},
		{file: "flannel/cni-conf.ack-doc.legacy-pre-v0.15.1.4.json", version: "0.3.0"},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join(dir, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		c, err := ackconf.ParseFlannelCNI(string(data))
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if c.OnTmpfs() != tt.tmpfs || c.List != tt.list || c.CNIVersion != tt.version || c.Name != "cb0" {
			t.Errorf("%s: tmpfs=%t list=%t version=%q name=%q", tt.file, c.OnTmpfs(), c.List, c.CNIVersion, c.Name)
		}
	}
}

func TestFixtureCorefileTemplate(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixturesDir(t), "coredns/Corefile.ack-doc.template"))
	if err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]Status{"cluster.local": StatusPass, "example.com": StatusFail, "acme.internal": StatusInfo} {
		corefile := strings.ReplaceAll(string(data), "{{.ClusterDomain}}", domain)
		env := NewEnv(snapshot().cm(cluster.CMCoreDNS, "Corefile", corefile).s)
		if r := statusOf(t, env, "coredns.cluster-domain"); r.Status != want {
			t.Errorf("domain %s: %s (%s), want %s", domain, r.Status, r.Summary, want)
		}
	}
}

func TestFixtureKubeProxyOfTheFAQ(t *testing.T) {
	env := NewEnv(fixtureSnapshot(t, "kube-proxy/kube-proxy-worker.configmap.ack-doc.yaml"))
	s := env.WorkerKubeProxy().Summary
	if s.Mode != "ipvs" || s.Scheduler != "lc" || s.UDPTimeoutHuman != "10s" || *s.MaxPerCore != 65536 || s.IPv6DualStack == nil || !*s.IPv6DualStack {
		t.Errorf("summary = %+v", s)
	}
}
