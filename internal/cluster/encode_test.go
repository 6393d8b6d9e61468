package cluster

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// optionalZero are fields the fixture may leave zero.
var optionalZero = map[string]bool{"Service.IPFamilyPolicy": true, "Event.Source": true, "DaemonSet.Labels": true, "PodStats.OutsideVSwitch": true,
	"PodStats.OutsideVSwitchCount": true, "PodStats.OutsideNodeVSwitch": true, "PodStats.OutsideNodeVSwitchCount": true}

func TestSnapshotRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 2, 7, 0, 0, 123, time.UTC)
	s := &Snapshot{
		Now: now, ServerVersion: "v1.37.2", KubeMajor: 1, KubeMinor: 37,
		Nodes: []Node{{Name: "n1", Labels: map[string]string{"a": "b"}, CreationTimestamp: now.Add(-time.Hour), PodCIDRs: []string{"10.0.0.0/24"},
			InternalIPs: []string{"192.168.0.1"}, NetworkUnavailable: &Condition{Status: "True", Reason: "NoRoute"},
			Taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}, KernelVersion: "5.10", Ready: true, ProviderID: "cn-hangzhou.i-1", MaxPods: 64}},
		Pods: PodStats{Total: 3, PodNetworkIPs: map[string]int{"n1": 2}, HostNetworkPods: map[string]int{"n1": 1},
			HostPort: []PodRef{{Namespace: "a", Name: "p", Node: "n1", Detail: "web 80/TCP"}}, HostPortCount: 1,
			InRange: map[string]int{"vsw-1": 2}, OutsideRanges: []PodRef{{Name: "x", Detail: "10.9.9.9"}}, OutsideRangesCount: 1,
			Tracked: map[string]PodState{"a/p": {Phase: corev1.PodRunning, Node: "n1", Running: true}}, SystemPods: []PodRef{{Name: "kube-proxy-1", App: "kube-proxy-worker"}}},
		Services:     []Service{{Namespace: "default", Name: "web", Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.10"}, Ports: []corev1.ServicePort{{Port: 80}}, Selector: map[string]string{"app": "web"}}},
		DaemonSets:   []DaemonSet{{Namespace: "kube-system", Name: "terway-eniip", Containers: []Container{{Name: "terway", Image: "x:v1", Args: []string{"-a"}}}, Desired: 2, Ready: 2}},
		ConfigMaps:   map[string]map[string]string{"eni-config": {"eni_conf": "{}"}},
		Events:       []Event{{Namespace: "a", Kind: "Pod", Name: "p", Reason: "FailedCreatePodSandBox", Message: "m", Count: 3, First: now.Add(-time.Minute), Last: now, Node: "n1"}},
		Logs:         &Logs{Lines: map[string][]string{"kube-system/kube-proxy-1": {"line"}}, Read: 1},
		Reads:        map[string]*ReadError{ReadEvents: {Reason: "Forbidden", Message: "events is forbidden"}},
		VSwitchCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		VSwitchByID:  map[string][]netip.Prefix{"vsw-1": {netip.MustParsePrefix("10.1.0.0/16")}},
	}
	// Every field is set, so a field that does not survive JSON fails here;
	// a new field fails until the fixture sets it.
	for _, v := range []any{*s, s.Nodes[0], s.Pods, s.Events[0], s.DaemonSets[0], s.Services[0]} {
		rv := reflect.ValueOf(v)
		for i := 0; i < rv.NumField(); i++ {
			if f := rv.Type().Field(i); rv.Field(i).IsZero() && !optionalZero[rv.Type().Name()+"."+f.Name] {
				t.Errorf("fixture leaves %s.%s unset", rv.Type().Name(), f.Name)
			}
		}
	}
	var b bytes.Buffer
	if err := Encode(&b, s); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip changed the snapshot:\n got %+v\nwant %+v", got, s)
	}
}

func TestDecodeRefusesOtherVersions(t *testing.T) {
	for _, in := range []string{`{"apiVersion":"acknet.kubectl.io/v9","kind":"ClusterSnapshot","snapshot":{}}`, `{"apiVersion":"acknet.kubectl.io/v1alpha1","kind":"ClusterSnapshot","snapshot":{"Surprise":1}}`, `not json`} {
		if _, err := Decode(strings.NewReader(in)); err == nil {
			t.Errorf("decoded %s", in)
		}
	}
}
