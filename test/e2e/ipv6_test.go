//go:build e2e

package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestIPv6VerifyScenarios(t *testing.T) {
	load(t, "terway-healthy")
	healthy := acknet(t, "ipv6", "verify", "-n", "shop", "-o", "json")
	rep := parseReport(t, healthy)
	if healthy.code != 0 || rep.Kind != "IPv6Report" {
		t.Errorf("healthy: exit %d kind %s\n%s", healthy.code, rep.Kind, healthy.stderr)
	}
	for _, id := range []string{"ipv6.cluster", "ipv6.pod-ips", "ipv6.service-families"} {
		if rep.status(id) != "pass" {
			t.Errorf("healthy %s = %s (%s)", id, rep.status(id), rep.summary(id))
		}
	}

	load(t, "ipv6-mixed")
	r := acknet(t, "ipv6", "verify", "-n", "mall", "-o", "json")
	rep = parseReport(t, r)
	want := map[string]string{"ipv6.cluster": "fail", "ipv6.pod-ips": "fail", "ipv6.service-families": "warn"}
	for id, st := range want {
		if rep.status(id) != st {
			t.Errorf("%s = %s (%s), want %s", id, rep.status(id), rep.summary(id), st)
		}
	}
	if objs := rep.findingObjects("ipv6.pod-ips"); len(objs) != 1 || objs[0] != "mall/Pod/cart-0" {
		t.Errorf("pod-ips findings %v", objs)
	}
	if objs := rep.findingObjects("ipv6.service-families"); len(objs) != 1 || objs[0] != "mall/Service/cart" {
		t.Errorf("service findings %v", objs)
	}
	if r.code != 2 {
		t.Errorf("exit %d", r.code)
	}
	tbl := acknet(t, "ipv6", "verify", "-n", "mall")
	t.Logf("ipv6 verify -n mall:\n%s", tbl.stdout)
	sel := parseReport(t, acknet(t, "ipv6", "verify", "-n", "mall", "-l", "app=storefront", "-o", "json"))
	if sel.status("ipv6.pod-ips") != "pass" || sel.status("ipv6.service-families") != "pass" {
		t.Errorf("-l app=storefront: %s %s", sel.status("ipv6.pod-ips"), sel.status("ipv6.service-families"))
	}
}

// --listen reads a real pod's sockets on its node; --probe dials from the
// real default image (busybox, applets in /bin only).
func TestRealIPv6ListenAndProbe(t *testing.T) {
	useRealRig(t)
	ns := testNamespace(t, "edge")
	// Port 80 on IPv4 only (nginx's default), 9090 on [::] (both families).
	web := webPod(ns, "web", nodeName(0))
	web.Spec.Containers[0].Command = []string{"sh", "-c", "mkdir -p /www && httpd -p 0.0.0.0:80 -h /www && exec httpd -f -p 9090 -h /www"}
	web.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 9090}}
	createPod(t, web)
	// A listener on the node's [::1] for the probe, which runs in the node's
	// network namespace.
	lo := webPod(ns, "loopback", nodeName(0))
	lo.Labels = map[string]string{"app": "loopback"}
	lo.Spec.HostNetwork = true
	lo.Spec.Containers[0].Command = []string{"sh", "-c", "mkdir -p /www && exec httpd -f -p [::1]:18080 -h /www"}
	lo.Spec.Containers[0].Ports = nil
	createPod(t, lo)
	podIP(t, ns, "web", "")
	podIP(t, ns, "loopback", "")

	r := acknet(t, "ipv6", "verify", "-n", ns, "-l", "app=web", "--listen", "-o", "json")
	rep := parseReport(t, r)
	msgs := findingMessages(rep, "ipv6.listen")
	if rep.status("ipv6.listen") != "warn" || !strings.Contains(msgs, "port 80 over IPv4 only") || strings.Contains(msgs, "9090") {
		t.Errorf("ipv6.listen = %s (%s) %s\n%s", rep.status("ipv6.listen"), rep.summary("ipv6.listen"), msgs, r.stderr)
	}
	t.Logf("--listen:\n%s", acknet(t, "ipv6", "verify", "-n", ns, "-l", "app=web", "--listen").stdout)

	// Only the node's own loopback is dialled: an open and a closed port.
	p := acknet(t, "ipv6", "verify", "-n", ns, "-l", "app=none", "--probe", "--probe-node", nodeName(0),
		"--external", "[::1]:18080", "--external", "[::1]:18081", "-o", "json")
	prep := parseReport(t, p)
	if prep.status("ipv6.internet") != "info" || !strings.Contains(prep.summary("ipv6.internet"), "1 of 2 external IPv6 targets reachable") ||
		!strings.Contains(findingMessages(prep, "ipv6.internet"), "refused") {
		t.Errorf("ipv6.internet = %s (%s) %s\n%s", prep.status("ipv6.internet"), prep.summary("ipv6.internet"), findingMessages(prep, "ipv6.internet"), p.stderr)
	}
	t.Logf("--probe:\n%s", acknet(t, "ipv6", "verify", "-n", ns, "-l", "app=none", "--probe", "--probe-node", nodeName(0),
		"--external", "[::1]:18080", "--external", "[::1]:18081").stdout)
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

func findingMessages(r report, id string) string {
	var out []string
	for _, c := range r.Checks {
		if c.ID == id {
			for _, f := range c.Findings {
				out = append(out, f.Object+": "+f.Message)
			}
		}
	}
	return strings.Join(out, "\n")
}
