package ackconf

import (
	"errors"
	"strings"
	"testing"
)

func TestParseENIConfig(t *testing.T) {
	tests := []struct {
		name        string
		data        map[string]string
		wantConfErr string
		vswitches   int
		virtualType string
		inClusterLB bool
		lbInside    bool
		eipPool     bool
		netpolOff   bool
	}{
		{
			name: "datapathv2 dual stack",
			data: map[string]string{
				KeyENIConf:              `{"version":"1","vswitches":{"cn-a":["vsw-a1","vsw-a2"],"cn-b":["vsw-b1"]},"ip_stack":"dual","some_future_key":{"x":1}}`,
				KeyTerwayCNIConf:        `{"cniVersion":"0.4.0","name":"terway","type":"terway","eniip_virtual_type":"DataPathV2"}`,
				KeyInClusterLB:          "true",
				KeyDisableNetworkPolicy: "true",
			},
			vswitches: 3, virtualType: VirtualTypeDatapathV2, inClusterLB: true, netpolOff: true,
		},
		{
			name: "ipvlan conflist, key misplaced inside eni_conf, EIP pool",
			data: map[string]string{
				KeyENIConf:           `{"vswitches":{"cn-a":["vsw-a1"]},"in_cluster_loadbalance":"true","enable_eip_pool":"true"}`,
				KeyTerwayCNIConfList: `{"cniVersion":"0.4.0","name":"terway","plugins":[{"type":"terway","eniip_virtual_type":"IPVlan"},{"type":"cilium-cni"}]}`,
			},
			vswitches: 1, virtualType: VirtualTypeIPVlan, lbInside: true, eipPool: true,
		},
		{
			name:      "only the exact string true enables in-cluster LB",
			data:      map[string]string{KeyENIConf: `{"vswitches":{}}`, KeyInClusterLB: "True", KeyDisableNetworkPolicy: "yes"},
			vswitches: 0,
		},
		{
			name:        "broken JSON reports line and column",
			data:        map[string]string{KeyENIConf: "{\n  \"version\": \"1\",\n  \"vswitches\": {\"a\": [\"vsw-1\"],}\n}"},
			wantConfErr: "line 3",
		},
		{
			name:        "missing eni_conf",
			data:        map[string]string{KeyTerwayCNIConf: `{"type":"terway"}`},
			wantConfErr: `key "eni_conf" is missing`,
		},
		{
			name:    "EIP pool as JSON boolean",
			data:    map[string]string{KeyENIConf: `{"vswitches":{"z":["vsw-1"]},"enable_eip_pool":true}`},
			eipPool: true, vswitches: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ParseENIConfig(tt.data)
			if tt.wantConfErr != "" {
				if c.ENIConfErr == nil || !strings.Contains(c.ENIConfErr.Error(), tt.wantConfErr) {
					t.Fatalf("ENIConfErr = %v, want it to contain %q", c.ENIConfErr, tt.wantConfErr)
				}
				return
			}
			if c.ENIConfErr != nil {
				t.Fatalf("unexpected error: %v", c.ENIConfErr)
			}
			if got := len(c.ENIConf.VSwitchIDs()); got != tt.vswitches {
				t.Errorf("vswitches = %d, want %d", got, tt.vswitches)
			}
			if got := c.VirtualType(); got != tt.virtualType {
				t.Errorf("virtual type = %q, want %q", got, tt.virtualType)
			}
			if got := c.InClusterLBEnabled(); got != tt.inClusterLB {
				t.Errorf("in-cluster LB = %t, want %t", got, tt.inClusterLB)
			}
			if got := c.ENIConf.HasKey(KeyInClusterLB); got != tt.lbInside {
				t.Errorf("in_cluster_loadbalance inside eni_conf = %t, want %t", got, tt.lbInside)
			}
			if got := c.ENIConf.EIPPoolEnabled(); got != tt.eipPool {
				t.Errorf("EIP pool = %t, want %t", got, tt.eipPool)
			}
			if got := c.NetworkPolicyDisabled(); got != tt.netpolOff {
				t.Errorf("network policy disabled = %t, want %t", got, tt.netpolOff)
			}
		})
	}
}

func boolp(b bool) *bool { return &b }

func TestParseFlannelCNI(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		wantErr  bool
		list     bool
		version  string
		hairpin  *bool
		portmap  bool
		tmpfs    bool
		ipamDir  string
		dataDir  string
		hasPlugn bool
	}{
		{
			name:    "single plugin without cniVersion",
			text:    `{"name":"cb0","type":"flannel","delegate":{"isDefaultGateway":true}}`,
			ipamDir: DefaultHostLocalDataDir, dataDir: DefaultFlannelDataDir, hasPlugn: true,
		},
		{
			name: "conflist with hairpin and portmap",
			text: `{"name":"cb0","cniVersion":"0.3.1","plugins":[{"type":"flannel","delegate":{"hairpinMode":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
			list: true, version: "0.3.1", hairpin: boolp(true), portmap: true,
			ipamDir: DefaultHostLocalDataDir, dataDir: DefaultFlannelDataDir, hasPlugn: true,
		},
		{
			name: "tmpfs dirs",
			text: `{"name":"cb0","cniVersion":"0.3.1","plugins":[{"type":"flannel","delegate":{"hairpinMode":false},"dataDir":"/var/run/cni/flannel","ipam":{"type":"host-local","dataDir":"/var/run/cni/networks"}}]}`,
			list: true, version: "0.3.1", hairpin: boolp(false), tmpfs: true,
			ipamDir: "/var/run/cni/networks", dataDir: "/var/run/cni/flannel", hasPlugn: true,
		},
		{
			name:    "only one dir on tmpfs is not enough",
			text:    `{"name":"cb0","type":"flannel","dataDir":"/run/flannel"}`,
			ipamDir: DefaultHostLocalDataDir, dataDir: "/run/flannel", hasPlugn: true,
		},
		{name: "not JSON", text: `{"name": "cb0",`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseFlannelCNI(tt.text)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.List != tt.list || c.CNIVersion != tt.version || c.HasPortmap != tt.portmap || c.OnTmpfs() != tt.tmpfs || c.HasFlannelPlugin != tt.hasPlugn {
				t.Errorf("got list=%t version=%q portmap=%t tmpfs=%t plugin=%t", c.List, c.CNIVersion, c.HasPortmap, c.OnTmpfs(), c.HasFlannelPlugin)
			}
			if (c.HairpinMode == nil) != (tt.hairpin == nil) || (c.HairpinMode != nil && *c.HairpinMode != *tt.hairpin) {
				t.Errorf("hairpin = %v, want %v", c.HairpinMode, tt.hairpin)
			}
			if c.EffectiveIPAMDataDir() != tt.ipamDir || c.EffectiveDataDir() != tt.dataDir {
				t.Errorf("dirs = %s %s, want %s %s", c.EffectiveDataDir(), c.EffectiveIPAMDataDir(), tt.dataDir, tt.ipamDir)
			}
		})
	}
}

func TestParseKubeProxyConfig(t *testing.T) {
	const head = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
	tests := []struct {
		name       string
		text       string
		wantLine   int
		wantReason string
		mode       string
		sched      string
		udp        string
		maxPerCore int32
	}{
		{name: "ipvs tuned", text: head + "mode: ipvs\nipvs:\n  scheduler: lc\n  udpTimeout: 10s\nconntrack:\n  maxPerCore: 65536\n",
			mode: "ipvs", sched: "lc", udp: "10s", maxPerCore: 65536},
		{name: "defaults", text: head + "mode: ipvs\n", mode: "ipvs", sched: "rr", udp: "5m0s (default)"},
		{name: "empty mode is iptables", text: head + "clusterCIDR: 10.0.0.0/8\n", mode: "iptables", udp: "5m0s (default)"},
		{name: "missing space after colon", text: head + "conntrack:\n  maxPerCore: 65536\nmode:ipvs\nipvs:\n  scheduler: rr\n", wantLine: 6, wantReason: "could not find expected ':'"},
		{name: "unknown field", text: head + "mode: ipvs\nipvs:\n  schedular: lc\n", wantLine: 5, wantReason: `unknown field "schedular"`},
		{name: "wrong type", text: head + "conntrack:\n  maxPerCore: lots\n", wantLine: 4, wantReason: "maxPerCore"},
		{name: "wrong kind", text: "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n", wantLine: 2, wantReason: "kind is"},
		{name: "empty", text: "  \n", wantReason: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseKubeProxyConfig(tt.text)
			if tt.wantReason != "" {
				var ce *KubeProxyConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want *KubeProxyConfigError", err)
				}
				if !strings.Contains(ce.Reason, tt.wantReason) {
					t.Errorf("reason = %q, want it to contain %q", ce.Reason, tt.wantReason)
				}
				// YAML reports the line where the parser noticed the
				// fault, which may be the line after the typo.
				if tt.wantLine != 0 && ce.Line != tt.wantLine && ce.Line != tt.wantLine+1 {
					t.Errorf("line = %d, want %d", ce.Line, tt.wantLine)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := SummarizeKubeProxy(cfg)
			if s.Mode != tt.mode || s.Scheduler != tt.sched || s.UDPTimeoutHuman != tt.udp {
				t.Errorf("summary = %+v", s)
			}
			if tt.maxPerCore != 0 && (s.MaxPerCore == nil || *s.MaxPerCore != tt.maxPerCore) {
				t.Errorf("maxPerCore = %v, want %d", s.MaxPerCore, tt.maxPerCore)
			}
		})
	}
}

func TestCorefileClusterDomains(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    string
		wantErr bool
	}{
		{name: "default", text: ".:53 {\n  errors\n  kubernetes cluster.local in-addr.arpa ip6.arpa {\n    pods insecure\n  }\n  forward . /etc/resolv.conf\n}\n", want: "cluster.local"},
		{name: "custom with trailing dot and comment", text: "# main\n.:53 {\n  kubernetes Corp.Example.COM. in-addr.arpa { # zones\n  }\n}\n", want: "corp.example.com"},
		{name: "zones from the server block", text: "mesh.internal:53 {\n  kubernetes\n}\n", want: "mesh.internal"},
		{name: "plugin without block", text: ".:53 {\n  kubernetes cluster.local\n}\n", want: "cluster.local"},
		{name: "no kubernetes plugin", text: ".:53 {\n  forward . 8.8.8.8\n}\n", wantErr: true},
		{name: "unbalanced", text: ".:53 {\n  kubernetes cluster.local {\n}\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CorefileClusterDomains(tt.text)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("got %v, want %s", got, tt.want)
			}
		})
	}
}

func TestImageVersionOrder(t *testing.T) {
	ordered := []string{
		"v0.15.1.4-e02c8f12-aliyun",
		"v0.15.1.5-11d1c700-aliyun",
		"v0.15.1.11-7e95fe23-aliyun",
		"v0.15.1.22-20a397e6-aliyun",
		"v1.2.3",
		"v1.11.0",
		"v1.16.7",
	}
	for i := 0; i+1 < len(ordered); i++ {
		a, b := MustImageVersion(ordered[i]), MustImageVersion(ordered[i+1])
		if !a.Less(b) || b.Less(a) {
			t.Errorf("%s should order before %s", ordered[i], ordered[i+1])
		}
	}
	if MustImageVersion("v1.2").Compare(MustImageVersion("1.2.0")) != 0 {
		t.Error("v1.2 should equal 1.2.0")
	}
	for _, bad := range []string{"", "latest", "v1.x", "sha256"} {
		if _, err := ParseImageVersion(bad); err == nil {
			t.Errorf("ParseImageVersion(%q) should fail", bad)
		}
	}
}

func TestImageTag(t *testing.T) {
	tests := map[string]string{
		"registry-cn-hangzhou.ack.aliyuncs.com/acs/terway:v1.16.7": "v1.16.7",
		"localhost:5000/acs/flannel:v0.15.1.5-11d1c700-aliyun":     "v0.15.1.5-11d1c700-aliyun",
		"localhost:5000/acs/flannel":                               "",
		"acs/terway:v1.2.3@sha256:abc":                             "v1.2.3",
		"TERWAY_IMAGE":                                             "",
	}
	for in, want := range tests {
		if got := ImageTag(in); got != want {
			t.Errorf("ImageTag(%q) = %q, want %q", in, got, want)
		}
	}
}
