//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-acknet/kubectl-acknet/test/scenario"
)

// kwok serves the rig's pods.log (CRI format) as the log of its pods, so
// doctor --logs reads a kube-proxy log through the API server for real.
func TestDoctorLogsKubeProxyFallback(t *testing.T) {
	load(t, "flannel-broken") // kube-proxy in IPVS mode
	kwokNode(t, "kwok-log-0")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-worker-x1", Namespace: "kube-system",
		Labels: map[string]string{"k8s-app": "kube-proxy-worker", scenario.LabelKey: "logs"}},
		Spec: corev1.PodSpec{NodeName: "kwok-log-0", HostNetwork: true, Containers: []corev1.Container{{Name: "kube-proxy-worker", Image: "kube-proxy:v1.30"}}}}
	if _, err := adminClient(t).CoreV1().Pods("kube-system").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, "kube-system", pod.Name)
	logFile := filepath.Join(rigDir, "pods.log")
	defer func() { _ = os.WriteFile(logFile, nil, 0o644) }()

	// A clean log first, then one that says kube-proxy fell back.
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	if err := os.WriteFile(logFile, []byte(stamp+" stderr F I1127 proxier.go:200] Using ipvs Proxier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clean := parseReport(t, acknet(t, "doctor", "-o", "json", "--logs", "--checks", "kubeproxy.proxier"))
	if clean.status("kubeproxy.proxier") != "pass" {
		t.Errorf("clean log: %s (%s)", clean.status("kubeproxy.proxier"), clean.summary("kubeproxy.proxier"))
	}
	line := stamp + " stderr F W1127 server_others.go:578] Can't use the IPVS proxier: IPVS proxier will not be used because the following required kernel modules are not loaded: [ip_vs_lc]\n"
	if err := os.WriteFile(logFile, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	r := acknet(t, "doctor", "-o", "json", "--logs", "--since", "10m", "--checks", "kubeproxy.proxier")
	rep := parseReport(t, r)
	if rep.status("kubeproxy.proxier") != "fail" || !strings.Contains(strings.Join(rep.findingObjects("kubeproxy.proxier"), " "), "kube-system/Pod/kube-proxy-worker-x1") {
		t.Errorf("fallback log: %s (%s) %v\n%s", rep.status("kubeproxy.proxier"), rep.summary("kubeproxy.proxier"), rep.findingObjects("kubeproxy.proxier"), r.stderr)
	}
	// Without --logs the check says why it did not look.
	if st := parseReport(t, acknet(t, "doctor", "-o", "json", "--checks", "kubeproxy.proxier")); st.status("kubeproxy.proxier") != "skip" {
		t.Errorf("without --logs: %s", st.status("kubeproxy.proxier"))
	}
}
