//go:build e2e

package e2e

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-acknet/kubectl-acknet/test/scenario"
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

func TestIPv6ListenAndProbe(t *testing.T) {
	load(t, "terway-healthy")
	kwokNode(t, "kwok-v6-0")
	ctx := context.Background()
	cs := adminClient(t)
	nginx := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: "edge", Labels: map[string]string{scenario.LabelKey: "v6", "app": "nginx"}},
		Spec: corev1.PodSpec{NodeName: "kwok-v6-0", Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.25",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 9090}}}}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge"}}, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts("edge").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("edge").Create(ctx, nginx, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, "edge", "nginx")

	// The node: crictl finds nginx's sandbox, its process 4242 listens on
	// 0.0.0.0:80 (IPv4 only: nginx's default) and [::]:9090.
	root := newFakeRoot(t)
	root.stub("crictl", `case "$1" in
pods) case "$*" in *io.kubernetes.pod.name=nginx*) echo sandbox-nginx;; esac ;;
inspectp) echo 4242 ;;
esac`)
	root.write("proc/4242/net/tcp", "  sl  local_address rem_address   st\n   0: 00000000:0050 00000000:0000 0A\n", 0)
	root.write("proc/4242/net/tcp6", "  sl  local_address rem_address   st\n   0: 00000000000000000000000000000000:2382 00000000000000000000000000000000:0000 0A\n", 0)
	r := acknet(t, "ipv6", "verify", "-n", "edge", "--listen", "--host-root", root.dir, "-o", "json")
	rep := parseReport(t, r)
	if rep.status("ipv6.listen") != "warn" || !strings.Contains(findingMessages(rep, "ipv6.listen"), "port 80 over IPv4 only") {
		t.Errorf("ipv6.listen = %s (%s) %s", rep.status("ipv6.listen"), rep.summary("ipv6.listen"), findingMessages(rep, "ipv6.listen"))
	}
	t.Logf("--listen:\n%s", acknet(t, "ipv6", "verify", "-n", "edge", "--listen", "--host-root", root.dir).stdout)

	// The probe dials only loopback: an open and a refused port on [::1];
	// no pod matches the selector, so no fake pod IP is ever dialled.
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	open := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	c, _ := net.Listen("tcp6", "[::1]:0")
	closed := strconv.Itoa(c.Addr().(*net.TCPAddr).Port)
	_ = c.Close()
	p := acknet(t, "ipv6", "verify", "-n", "edge", "-l", "app=none", "--probe", "--probe-node", "kwok-v6-0", "--host-root", root.dir,
		"--external", "[::1]:"+open, "--external", "[::1]:"+closed, "-o", "json")
	prep := parseReport(t, p)
	if prep.status("ipv6.internet") != "info" || !strings.Contains(prep.summary("ipv6.internet"), "1 of 2 external IPv6 targets reachable") ||
		!strings.Contains(findingMessages(prep, "ipv6.internet"), "refused") {
		t.Errorf("ipv6.internet = %s (%s) %s\n%s", prep.status("ipv6.internet"), prep.summary("ipv6.internet"), findingMessages(prep, "ipv6.internet"), p.stderr)
	}
	t.Logf("--probe:\n%s", acknet(t, "ipv6", "verify", "-n", "edge", "-l", "app=none", "--probe", "--probe-node", "kwok-v6-0", "--host-root", root.dir,
		"--external", "[::1]:"+open, "--external", "[::1]:"+closed).stdout)
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
