package ackconf

import (
	"errors"
	"testing"
)

// The fuzz targets assert that no input makes a parser panic, and that an
// accepted input yields a usable value.

func FuzzParseENIConfig(f *testing.F) {
	f.Add(`{"vswitches":{"a":["vsw-1"]},"enable_eip_pool":"true"}`, `{"type":"terway","eniip_virtual_type":"IPVlan"}`, "true")
	f.Add(`{`, `{"plugins":[{"type":"terway"}]}`, "")
	f.Fuzz(func(t *testing.T, eni, cni, lb string) {
		c := ParseENIConfig(map[string]string{KeyENIConf: eni, KeyTerwayCNIConf: cni, KeyInClusterLB: lb})
		if c.ENIConfErr == nil {
			_ = c.ENIConf.VSwitchIDs()
			_ = c.ENIConf.EIPPoolEnabled()
		}
		_ = c.VirtualType()
	})
}

func FuzzParseFlannelCNI(f *testing.F) {
	f.Add(`{"name":"cb0","type":"flannel","delegate":{"hairpinMode":true}}`)
	f.Add(`{"name":"cb0","plugins":[{"type":"flannel","ipam":{"dataDir":"/run/x"}},{"type":"portmap"}]}`)
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseFlannelCNI(text)
		if err == nil {
			_ = c.OnTmpfs()
		}
	})
}

func FuzzParseKubeProxyConfig(f *testing.F) {
	f.Add("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  udpTimeout: 10s\n")
	f.Add("mode:ipvs\n")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := ParseKubeProxyConfig(text)
		if err == nil {
			_ = SummarizeKubeProxy(cfg)
		} else if ce := (*KubeProxyConfigError)(nil); !errors.As(err, &ce) {
			t.Fatalf("error of type %T", err)
		}
	})
}

func FuzzCorefileClusterDomains(f *testing.F) {
	f.Add(".:53 {\n kubernetes cluster.local in-addr.arpa {\n }\n}\n")
	f.Add("a:53 {\nkubernetes\n}")
	f.Fuzz(func(t *testing.T, text string) {
		_, _ = CorefileClusterDomains(text)
	})
}

func FuzzImageVersion(f *testing.F) {
	f.Add("v0.15.1.11-7e95fe23-aliyun", "v1.16.7")
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := ParseImageVersion(a)
		vb, errB := ParseImageVersion(b)
		if errA == nil && errB == nil && va.Compare(vb) != -vb.Compare(va) {
			t.Fatalf("Compare is not antisymmetric for %q, %q", a, b)
		}
	})
}
