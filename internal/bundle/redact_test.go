package bundle

import (
	"strings"
	"testing"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

const (
	canaryAK     = "LTAI5tBundleCanary0001"
	canarySecret = "bundleCanarySecret0002xyz"
	canaryToken  = "bundleCanaryToken0003"
)

func TestTextRedactsCredentials(t *testing.T) {
	tests := []struct{ in, keep string }{
		{"using access key " + canaryAK + " for vpc", "using access key"},
		{`access_key_secret=` + canarySecret + ` region=cn-hangzhou`, "region=cn-hangzhou"},
		{`{"access_secret": "` + canarySecret + `", "version": "1"}`, `"version": "1"`},
		{"Authorization: Bearer " + canaryToken, "Authorization:"},
		{"token: " + canaryToken, "token: [redacted]"},
		{"client-key-data: " + canarySecret, "client-key-data: [redacted]"},
		{"-----BEGIN RSA PRIVATE KEY-----\n" + canarySecret + "\n-----END RSA PRIVATE KEY-----", ""},
	}
	for _, tc := range tests {
		got, n := Text(tc.in)
		for _, c := range []string{canaryAK, canarySecret, canaryToken} {
			if strings.Contains(got, c) {
				t.Errorf("Text(%q) = %q keeps %s", tc.in, got, c)
			}
		}
		if n == 0 || !strings.Contains(got, tc.keep) {
			t.Errorf("Text(%q) = %q (%d), want it to keep %q", tc.in, got, n, tc.keep)
		}
	}
	if got, n := Text("calling with access_key_id=" + canaryAK); n != 1 || got != "calling with access_key_id=[redacted]" {
		t.Errorf("one credential counted %d times: %q", n, got)
	}
	if got, n := Text("I1202 07:00:00 proxier.go:100] Using ipvs Proxier"); n != 0 {
		t.Errorf("ordinary line changed: %q", got)
	}
}

func TestConfigMapsRedactsENIConfigKeys(t *testing.T) {
	s := &cluster.Snapshot{ConfigMaps: map[string]map[string]string{
		"eni-config": {
			"eni_conf":      `{"version":"1","access_key":"` + canaryAK + `","access_secret":"` + canarySecret + `","vswitches":{"cn-hangzhou-i":["vsw-1"]}}`,
			"access_key":    canaryAK,
			"in_cluster_lb": "true",
		},
		"kube-proxy-worker": {"kubeconfig.conf": "users:\n- name: default\n  user:\n    token: " + canaryToken + "\n"},
	}}
	reds := ConfigMaps(s)
	all := ""
	for _, d := range s.ConfigMaps {
		for _, v := range d {
			all += v
		}
	}
	for _, c := range []string{canaryAK, canarySecret, canaryToken} {
		if strings.Contains(all, c) {
			t.Errorf("a canary survived: %s", c)
		}
	}
	if !strings.Contains(s.ConfigMaps["eni-config"]["eni_conf"], `"vsw-1"`) || s.ConfigMaps["eni-config"]["in_cluster_lb"] != "true" {
		t.Errorf("non-secret data changed: %v", s.ConfigMaps["eni-config"])
	}
	if len(reds) != 3 {
		t.Errorf("redactions: %+v", reds)
	}
	for _, r := range reds {
		for _, c := range []string{canaryAK, canarySecret, canaryToken} {
			if strings.Contains(r.Where+r.What, c) {
				t.Errorf("the redaction list names a value: %+v", r)
			}
		}
	}
}
