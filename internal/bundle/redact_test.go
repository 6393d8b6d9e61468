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
		// Cut by --log-lines: no END line.
		{"-----BEGIN EC PRIVATE KEY-----\n" + canarySecret + "\n", ""},
		{"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + canarySecret + " region=cn-hangzhou", "ALIBABA_CLOUD_ACCESS_KEY_SECRET=[redacted] region=cn-hangzhou"},
		{"client_secret=" + canarySecret, "client_secret=[redacted]"},
		{"refresh_token=" + canaryToken + "&scope=x", "refresh_token=[redacted]&scope=x"},
		{`{"SecurityToken":"` + canaryToken + `","Expiration":"2026-12-02T10:00:00Z"}`, `"Expiration":"2026-12-02T10:00:00Z"`},
		{`"client-key-data": "` + canarySecret + `"`, `"client-key-data": "[redacted]"`},
		{`password: "my ` + canarySecret + ` pass"`, `password: "[redacted]"`},
		{"password: my " + canarySecret + " pass", "password: [redacted]"},
		{"token: Bearer " + canaryToken, "token: [redacted]"},
		{"--access-key-secret=" + canarySecret, "--access-key-secret=[redacted]"},
		{"key id is xLTAI5tBundleCanary0001", "key id is x"},
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

func TestConfigMapsRedactsTextInsideJSONWithCredentialKeys(t *testing.T) {
	s := &cluster.Snapshot{ConfigMaps: map[string]map[string]string{"eni-config": {
		"eni_conf": `{"access_key":"` + canaryAK + `","note":"old key ` + canaryAK + ` password=` + canarySecret + `","vswitches":{"cn-hangzhou-i":["vsw-1"]}}`,
	}}}
	ConfigMaps(s)
	v := s.ConfigMaps["eni-config"]["eni_conf"]
	if strings.Contains(v, canaryAK) || strings.Contains(v, canarySecret) || !strings.Contains(v, `"vsw-1"`) {
		t.Errorf("eni_conf: %s", v)
	}
}

// Every free text of the snapshot, not only the ConfigMaps.
func TestSnapshotRedactsEveryFreeText(t *testing.T) {
	s := &cluster.Snapshot{
		ConfigMaps: map[string]map[string]string{"kube-flannel-cfg": {"net-conf.json": `{"Network":"172.20.0.0/16"}`}},
		DaemonSets: []cluster.DaemonSet{{Namespace: "logging", Name: "shipper", Containers: []cluster.Container{
			{Name: "ship", Args: []string{"/ship", "--api-key=" + canarySecret, "--token", canaryToken, "--verbose", "--region", "cn-hangzhou"}}}}},
		Events: []cluster.Event{{Namespace: "kube-system", Kind: "Pod", Name: "terway-x", Message: "call failed with access_key_id=" + canaryAK}},
		Nodes:  []cluster.Node{{Name: "n1", NetworkUnavailable: &cluster.Condition{Status: "True", Message: "route: token=" + canaryToken}}},
		Logs:   &cluster.Logs{Lines: map[string][]string{"kube-system/terway-x": {"E1202 vpc.go:1] secret: " + canarySecret}}},
	}
	reds := Snapshot(s)
	var b strings.Builder
	if err := cluster.Encode(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{canaryAK, canarySecret, canaryToken} {
		if strings.Contains(b.String(), c) {
			t.Errorf("the snapshot keeps %s", c)
		}
	}
	args := strings.Join(s.DaemonSets[0].Containers[0].Args, " ")
	if args != "/ship --api-key=[redacted] --token [redacted] --verbose --region cn-hangzhou" {
		t.Errorf("args: %s", args)
	}
	if len(reds) != 4 {
		t.Errorf("redactions: %+v", reds)
	}
}
