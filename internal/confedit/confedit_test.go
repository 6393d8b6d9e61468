package confedit

import (
	"strings"
	"testing"
)

func TestJSONSet(t *testing.T) {
	tests := []struct {
		name, in, want string
		edit           func(d *JSONDoc) error
	}{
		{
			name: "replace keeps everything else",
			in:   "{\n  \"name\": \"cb0\",\n  \"cniVersion\":\"0.2.0\",\n  \"type\": \"flannel\"\n}\n",
			want: "{\n  \"name\": \"cb0\",\n  \"cniVersion\":\"0.3.1\",\n  \"type\": \"flannel\"\n}\n",
			edit: func(d *JSONDoc) error { return d.Set(d.Root(), "cniVersion", `"0.3.1"`, "") },
		},
		{
			name: "insert after a named member, multi-line style",
			in:   "{\n    \"name\": \"cb0\",\n    \"type\": \"flannel\"\n}\n",
			want: "{\n    \"name\": \"cb0\",\n    \"cniVersion\": \"0.3.1\",\n    \"type\": \"flannel\"\n}\n",
			edit: func(d *JSONDoc) error { return d.Set(d.Root(), "cniVersion", `"0.3.1"`, "name") },
		},
		{
			name: "insert at the end of a one-line object",
			in:   `{"Network": "172.26.0.0/16", "Backend": {"Type": "alloc"}}`,
			want: `{"Network": "172.26.0.0/16", "Backend": {"Type": "alloc", "Port": 8472}}`,
			edit: func(d *JSONDoc) error { return d.Set(d.Root().Get("Backend"), "Port", "8472", "") },
		},
		{
			name: "single member object uses its line break",
			in:   "{\n  \"delegate\": {\n    \"isDefaultGateway\": true\n  }\n}",
			want: "{\n  \"delegate\": {\n    \"isDefaultGateway\": true,\n    \"hairpinMode\": true\n  }\n}",
			edit: func(d *JSONDoc) error { return d.Set(d.Root().Get("delegate"), "hairpinMode", "true", "") },
		},
		{
			name: "two inserts into an empty object",
			in:   `{"a": {}}`,
			want: `{"a": {"x": 1, "y": 2}}`,
			edit: func(d *JSONDoc) error {
				if err := d.Set(d.Root().Get("a"), "x", "1", ""); err != nil {
					return err
				}
				return d.Set(d.Root().Get("a"), "y", "2", "")
			},
		},
		{
			name: "two inserts into one object keep their order",
			in:   "{\n\t\"type\": \"flannel\"\n}",
			want: "{\n\t\"type\": \"flannel\",\n\t\"dataDir\": \"/var/run/cni/flannel\",\n\t\"ipam\": {}\n}",
			edit: func(d *JSONDoc) error {
				if err := d.Set(d.Root(), "dataDir", `"/var/run/cni/flannel"`, ""); err != nil {
					return err
				}
				return d.Set(d.Root(), "ipam", "{}", "")
			},
		},
		{
			name: "delete a middle member",
			in:   "{\n  \"a\": 1,\n  \"in_cluster_loadbalance\": \"true\",\n  \"b\": [1, {\"c\": \"}\"}]\n}",
			want: "{\n  \"a\": 1,\n  \"b\": [1, {\"c\": \"}\"}]\n}",
			edit: func(d *JSONDoc) error { return d.Delete(d.Root(), "in_cluster_loadbalance") },
		},
		{
			name: "delete the last member takes the comma before it",
			in:   "{\n  \"a\": \"x\\\"y\",\n  \"in_cluster_loadbalance\": \"true\"\n}",
			want: "{\n  \"a\": \"x\\\"y\"\n}",
			edit: func(d *JSONDoc) error { return d.Delete(d.Root(), "in_cluster_loadbalance") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseJSON(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.edit(d); err != nil {
				t.Fatal(err)
			}
			if got := d.Result(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestJSONRefusesInvalid(t *testing.T) {
	if _, err := ParseJSON(`{"a": 1,}`); err == nil {
		t.Fatal("trailing comma accepted")
	}
	d, _ := ParseJSON(`[1]`)
	if err := d.Set(d.Root(), "a", "1", ""); err == nil {
		t.Fatal("set on an array accepted")
	}
}

const kubeProxyConf = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clusterCIDR: 172.26.0.0/16 # pods
conntrack:
  maxPerCore: 32768   # too low
mode: ipvs
ipvs:
  scheduler: "lc"
`

func TestSetYAML(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		path  []string
		value string
		want  string
	}{
		{"replace keeps the comment", kubeProxyConf, []string{"conntrack", "maxPerCore"}, "65536",
			strings.Replace(kubeProxyConf, "maxPerCore: 32768   # too low", "maxPerCore: 65536   # too low", 1)},
		{"replace a quoted scalar", kubeProxyConf, []string{"ipvs", "scheduler"}, "rr",
			strings.Replace(kubeProxyConf, `scheduler: "lc"`, `scheduler: rr`, 1)},
		{"add to an existing mapping after its last entry", kubeProxyConf, []string{"ipvs", "udpTimeout"}, "10s",
			kubeProxyConf + "  udpTimeout: 10s\n"},
		{"add a missing mapping at the root", "kind: KubeProxyConfiguration\nmode: ipvs", []string{"ipvs", "udpTimeout"}, "10s",
			"kind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  udpTimeout: 10s"},
		{"four-space indent is kept", "a: 1\nipvs:\n    scheduler: rr\nz: 2\n", []string{"ipvs", "udpTimeout"}, "10s",
			"a: 1\nipvs:\n    scheduler: rr\n    udpTimeout: 10s\nz: 2\n"},
		{"empty parent", "ipvs:\nmode: ipvs\n", []string{"ipvs", "udpTimeout"}, "10s",
			"ipvs:\n  udpTimeout: 10s\nmode: ipvs\n"},
		{"empty value", "ipvs:\n  udpTimeout: # later\nmode: ipvs\n", []string{"ipvs", "udpTimeout"}, "10s",
			"ipvs:\n  udpTimeout: 10s # later\nmode: ipvs\n"},
		{"CRLF lines stay CRLF", "a: 1\r\nipvs:\r\n  scheduler: rr\r\n", []string{"ipvs", "udpTimeout"}, "10s",
			"a: 1\r\nipvs:\r\n  scheduler: rr\r\n  udpTimeout: 10s\r\n"},
		{"CRLF replace keeps the line end", "ipvs:\r\n  scheduler: rr\r\n", []string{"ipvs", "scheduler"}, "lc",
			"ipvs:\r\n  scheduler: lc\r\n"},
		{"nested mapping before the insert point", "conntrack:\n  a:\n    b: 1\nmode: ipvs\n", []string{"conntrack", "maxPerCore"}, "65536",
			"conntrack:\n  a:\n    b: 1\n  maxPerCore: 65536\nmode: ipvs\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetYAML(tt.in, tt.path, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestSetYAMLRefuses(t *testing.T) {
	for _, in := range []string{
		"ipvs: {scheduler: rr}\n",         // flow mapping
		"ipvs:\n  scheduler: |\n    rr\n", // block scalar
		"- a\n- b\n",                      // not a mapping
		"a: [1\n",                         // invalid
		"\ripvs:\n scheduler:",            // a bare CR ends a line for YAML
	} {
		if got, err := SetYAML(in, []string{"ipvs", "scheduler"}, "lc"); err == nil {
			t.Errorf("%q: accepted, got %q", in, got)
		}
	}
}

func TestDeleteYAML(t *testing.T) {
	got, err := DeleteYAML(kubeProxyConf, []string{"conntrack", "maxPerCore"})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(kubeProxyConf, "  maxPerCore: 32768   # too low\n", "", 1); got != want {
		t.Errorf("got\n%s", got)
	}
	same, err := DeleteYAML(kubeProxyConf, []string{"ipvs", "udpTimeout"})
	if err != nil || same != kubeProxyConf {
		t.Errorf("deleting an absent key changed the text: %v", err)
	}
}
