package cluster

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func pod(ns, name, node string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, m := range mods {
		m(p)
	}
	return p
}

func withIP(ip string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.PodIP = ip; p.Status.PodIPs = []corev1.PodIP{{IP: ip}} }
}

func TestAggregatePod(t *testing.T) {
	st := PodStats{PodNetworkIPs: map[string]int{}, Tracked: map[string]PodState{}}
	tracked := map[string]bool{"shop/stuck": true}
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	pods := []*corev1.Pod{
		pod("shop", "web", "n1", withIP("10.0.1.5")),
		pod("shop", "old-eni", "n1", withIP("172.16.0.7")),
		pod("shop", "done", "n1", withIP("10.0.1.6"), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("kube-system", "kube-proxy-worker-x", "n1", withIP("192.168.0.5"), func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Labels["k8s-app"] = "kube-proxy-worker"
		}),
		pod("shop", "stuck", "n2", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }),
		pod("edge", "gw", "n2", withIP("10.0.2.9"), func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		}),
	}
	for _, p := range pods {
		aggregatePod(&st, p, tracked, cidrs, nil)
	}
	if st.Total != 6 {
		t.Errorf("total %d", st.Total)
	}
	// web and old-eni on n1 (done is terminated, kube-proxy is hostNetwork); gw on n2.
	if st.PodNetworkIPs["n1"] != 2 || st.PodNetworkIPs["n2"] != 1 {
		t.Errorf("pod IPs per node %v", st.PodNetworkIPs)
	}
	if st.HostPortCount != 1 || st.HostPort[0].Name != "gw" || st.HostPort[0].Detail != "c 8080/TCP" {
		t.Errorf("hostPort %d %+v", st.HostPortCount, st.HostPort)
	}
	if st.OutsideVSwitchCount != 1 || st.OutsideVSwitch[0].Name != "old-eni" {
		t.Errorf("outside %d %+v", st.OutsideVSwitchCount, st.OutsideVSwitch)
	}
	if s, ok := st.Tracked["shop/stuck"]; !ok || s.Running || s.Node != "n2" || len(st.Tracked) != 1 {
		t.Errorf("tracked %+v", st.Tracked)
	}
	if len(st.SystemPods) != 1 || st.SystemPods[0].Detail != "kube-proxy" {
		t.Errorf("system pods %+v", st.SystemPods)
	}
}

func TestAggregateCapsSamples(t *testing.T) {
	st := PodStats{PodNetworkIPs: map[string]int{}, Tracked: map[string]PodState{}}
	for i := 0; i < MaxSamples+25; i++ {
		aggregatePod(&st, pod("a", "p", "n", withIP("10.0.0.1"), func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 1}}
		}), nil, nil, nil)
	}
	if st.HostPortCount != MaxSamples+25 || len(st.HostPort) != MaxSamples {
		t.Errorf("count %d, samples %d", st.HostPortCount, len(st.HostPort))
	}
}

func TestListPagedRestartsOnceWhenTheTokenExpires(t *testing.T) {
	expired := apierrors.NewResourceExpired("continue token too old")
	calls, resets, seen := 0, 0, 0
	err := ListPaged(context.Background(), 2, metav1.ListOptions{}, func(o metav1.ListOptions) (string, error) {
		calls++
		if o.Limit != 2 {
			t.Errorf("limit %d", o.Limit)
		}
		switch {
		case calls == 2: // second page of the first attempt
			return "", expired
		case o.Continue == "":
			seen += 2
			return "next", nil
		default:
			seen += 1
			return "", nil
		}
	}, func() { resets++; seen = 0 })
	if err != nil || resets != 1 || calls != 4 || seen != 3 {
		t.Errorf("err %v, resets %d, calls %d, seen %d", err, resets, calls, seen)
	}

	// A second expiry is returned, not retried forever.
	err = ListPaged(context.Background(), 2, metav1.ListOptions{}, func(o metav1.ListOptions) (string, error) {
		if o.Continue == "" {
			return "next", nil
		}
		return "", expired
	}, func() {})
	if !apierrors.IsResourceExpired(err) {
		t.Errorf("err %v", err)
	}
}

func TestRecordClassifiesErrors(t *testing.T) {
	r := &reader{s: &Snapshot{Reads: map[string]*ReadError{}}}
	gr := schema.GroupResource{Resource: "events"}
	r.record("a", apierrors.NewForbidden(gr, "", errors.New("no")))
	r.record("b", apierrors.NewNotFound(gr, "x"))
	r.record("c", errors.New("boom"))
	r.record("d", nil)
	want := map[string]string{"a": "Forbidden", "b": "NotFound", "c": "Error"}
	for k, v := range want {
		if r.s.Reads[k] == nil || r.s.Reads[k].Reason != v {
			t.Errorf("%s: %+v, want %s", k, r.s.Reads[k], v)
		}
	}
	if r.s.Reads["d"] != nil {
		t.Error("nil error recorded")
	}
}

func TestCompactEventDefaults(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := compactEvent(&corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1"},
		EventTime:      metav1.NewMicroTime(now),
		Message:        MsgMultipleRouteTables,
	})
	if e.Count != 1 || !e.First.Equal(now) || !e.Last.Equal(now) || e.Node != "n1" {
		t.Errorf("%+v", e)
	}
	if !eventOfInterest(&corev1.Event{Reason: ReasonSyncRouteFail}) || eventOfInterest(&corev1.Event{Reason: "BackOff", Message: "restarting"}) {
		t.Error("eventOfInterest misclassifies")
	}
}

func TestNodeVSwitchCIDRs(t *testing.T) {
	fixed := netip.MustParsePrefix("10.2.1.0/24")
	r := &reader{opts: Options{VSwitchByID: map[string][]netip.Prefix{"vsw-fixed": {fixed}}}, s: &Snapshot{
		Nodes: []Node{
			{Name: "f1", Labels: map[string]string{LabelTerwayConfig: "eni-config-fixed"}},
			{Name: "u1", Labels: map[string]string{LabelTerwayConfig: "eni-config-unknown"}},
			{Name: "plain"},
		},
		ConfigMaps: map[string]map[string]string{
			"eni-config-fixed":   {"eni_conf": `{"vswitches": {"cn-beijing-h": ["vsw-fixed"]}}`},
			"eni-config-unknown": {"eni_conf": `{"vswitches": {"cn-beijing-h": ["vsw-fixed", "vsw-other"]}}`},
		},
	}}
	got := r.nodeVSwitchCIDRs()
	if len(got) != 1 || len(got["f1"]) != 1 || got["f1"][0] != fixed {
		t.Fatalf("node CIDRs %v (a config naming a vSwitch of unknown CIDR must be left out)", got)
	}
	st := PodStats{PodNetworkIPs: map[string]int{}, Tracked: map[string]PodState{}}
	for _, p := range []*corev1.Pod{
		pod("db", "in", "f1", withIP("10.2.1.7")),
		pod("db", "out", "f1", withIP("10.0.3.9")),
		pod("db", "elsewhere", "plain", withIP("10.0.3.10")),
	} {
		aggregatePod(&st, p, nil, nil, got)
	}
	if st.OutsideNodeVSwitchCount != 1 || st.OutsideNodeVSwitch[0].Name != "out" || st.OutsideNodeVSwitch[0].Detail != "10.0.3.9" {
		t.Errorf("outside the node's vSwitches: %d %+v", st.OutsideNodeVSwitchCount, st.OutsideNodeVSwitch)
	}
}
