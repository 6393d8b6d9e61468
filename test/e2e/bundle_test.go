//go:build e2e

package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
)

var ages = regexp.MustCompile(`\b(\d+h)?(\d+m)?\d+(\.\d+)?s\b`)

// readArchive returns every file of a bundle by name.
func readArchive(t *testing.T, file string) map[string][]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = data
	}
}

// TestBundleReplaysEveryScenario: doctor --from-bundle prints, in every
// format, what doctor printed on the live cluster of each scenario.
func TestBundleReplaysEveryScenario(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join(repoRoot, "test", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		t.Run(d.Name(), func(t *testing.T) {
			load(t, d.Name())
			file := filepath.Join(t.TempDir(), "b.tar.gz")
			if r := acknet(t, "bundle", "-o", file); r.code != 0 || !strings.Contains(r.stdout, "wrote "+file) {
				t.Fatalf("bundle: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			for _, format := range []string{"json", "yaml", "markdown", "junit", "table"} {
				args := []string{"doctor", "-o", format, "--no-color"}
				live := acknet(t, args...)
				replay := acknet(t, append(args, "--from-bundle", file)...)
				// Ages ("Pending 12m1s after ...") count from when each
				// read the cluster: the bundle a moment before.
				if ages.ReplaceAllString(live.stdout, "<age>") != ages.ReplaceAllString(replay.stdout, "<age>") || live.code != replay.code {
					t.Errorf("-o %s: the replay (exit %d) differs from the live report (exit %d):\n--- live\n%s\n--- replay\n%s", format, live.code, replay.code, live.stdout, replay.stdout)
				}
			}
		})
	}
}

func TestBundleRedactsAndNeverReadsSecrets(t *testing.T) {
	const ak, secret, secretObj = "LTAI5tE2EBundleCanary01", "e2eBundleSecretCanary02xyz", "e2eSecretObjectCanary03"
	load(t, "terway-healthy")
	cs := adminClient(t)
	ctx := t.Context()
	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "eni-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["access_key"] = ak
	cm.Data["access_secret"] = secret
	cm.Data["eni_conf"] = strings.Replace(cm.Data["eni_conf"], `"version": "1",`, `"version": "1", "access_key": "`+ak+`", "access_secret": "`+secret+`",`, 1)
	if _, err := cs.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "acknet-canary", Namespace: "kube-system", Labels: map[string]string{"acknet.kubectl.io/scenario": "terway-healthy"}},
		StringData: map[string]string{"token": secretObj}}
	if _, err := cs.CoreV1().Secrets("kube-system").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Secrets("kube-system").Delete(t.Context(), sec.Name, metav1.DeleteOptions{}) })

	file := filepath.Join(t.TempDir(), "b.tar.gz")
	r := acknet(t, "bundle", "-o", file)
	if r.code != 0 {
		t.Fatalf("bundle: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"redacted:", "kube-system/ConfigMap/eni-config key access_key: the whole value", "kube-system/ConfigMap/eni-config key eni_conf: credentials in JSON fields (2)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the user is not shown %q:\n%s", want, r.stdout)
		}
	}
	files := readArchive(t, file)
	for name, data := range files {
		for _, c := range []string{ak, secret, secretObj} {
			if strings.Contains(string(data), c) {
				t.Errorf("%s carries the canary %s", name, c)
			}
		}
	}
	var m struct {
		Redactions []struct{ Where string }
		Files      []struct{ Path string }
	}
	if err := json.Unmarshal(files["acknet-bundle/MANIFEST.json"], &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Redactions) < 3 {
		t.Errorf("MANIFEST redactions: %+v", m.Redactions)
	}
	// The replay still runs the eni-config checks on the redacted config.
	rep := parseReport(t, acknet(t, "doctor", "-o", "json", "--from-bundle", file))
	if rep.status("terway.eni-config") != "pass" {
		t.Errorf("terway.eni-config on the redacted config: %s (%s)", rep.status("terway.eni-config"), rep.summary("terway.eni-config"))
	}
	// An existing file is never overwritten.
	if r := acknet(t, "bundle", "-o", file); r.code == 0 || !strings.Contains(r.stderr, "file exists") {
		t.Errorf("second bundle to the same file: exit %d: %s", r.code, r.stderr)
	}
}

func TestBundleOfAUserWhoCannotListEvents(t *testing.T) {
	load(t, "flannel-broken")
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	r := acknet(t, "bundle", "-o", file, "--context", "noevents")
	if r.code != 0 {
		t.Fatalf("bundle: exit %d: %s", r.code, r.stderr)
	}
	files := readArchive(t, file)
	var m struct {
		Denied []struct{ What, Reason string }
	}
	if err := json.Unmarshal(files["acknet-bundle/MANIFEST.json"], &m); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range m.Denied {
		if d.What == "events" && strings.HasPrefix(d.Reason, "Forbidden") {
			found = true
		}
	}
	if !found {
		t.Errorf("MANIFEST does not mark events as denied: %+v", m.Denied)
	}
	if !strings.Contains(string(files["acknet-bundle/MANIFEST.txt"]), "denied (RBAC):\n  events: Forbidden") {
		t.Errorf("MANIFEST.txt:\n%s", files["acknet-bundle/MANIFEST.txt"])
	}
}

// TestBundleInterrupted: Ctrl-C while the agents' logs are read ends the
// bundle with no archive, not with one whose logs are missing.
func TestBundleInterrupted(t *testing.T) {
	load(t, "flannel-healthy")
	// An agent pod, so there is a log to read (the scenario's DaemonSets
	// have none on kwok).
	agent := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-worker-x1", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-proxy-worker"}},
		Spec:       corev1.PodSpec{NodeName: "cn-hangzhou.192.168.3.10", Containers: []corev1.Container{{Name: "kube-proxy-worker", Image: "kube-proxy"}}},
	}
	createPod(t, agent)
	t.Cleanup(func() {
		// Gone before the next test counts pods (kwok keeps a pod deleted
		// with a grace period until the period ends).
		cs := adminClient(t)
		zero := int64(0)
		_ = cs.CoreV1().Pods("kube-system").Delete(context.Background(), agent.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		for i := 0; i < 100; i++ {
			if _, err := cs.CoreV1().Pods("kube-system").Get(context.Background(), agent.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("pod kube-system/%s still there", agent.Name)
	})
	// The bundle's own log reads, which set a byte limit (doctor's read of
	// kube-proxy's log, before, does not).
	p, held := newNotifyingHoldProxy(t, 5*time.Second, func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/log") && r.URL.Query().Get("limitBytes") != ""
	})
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	old := kubeconfig
	kubeconfig = p.kubeconfig
	r := runSignalledWhen(t, syscall.SIGINT, held, "bundle", "-o", file)
	kubeconfig = old
	if r.code != 1 || !strings.Contains(r.stderr, "interrupted while reading the agents' logs; nothing written") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want no archive", file, err)
	}
}

// TestRealBundleRedactsAgentLogs: on a real node, an agent's log line with
// credentials reaches the bundle redacted.
func TestRealBundleRedactsAgentLogs(t *testing.T) {
	const ak, secret = "LTAI5tE2ELogCanary00001", "e2eLogSecretCanary0002xyz"
	useRealRig(t)
	cs := adminClient(t)
	grace := int64(1)
	// Labelled as a kube-proxy-master pod (the rig runs none), so the bundle
	// reads its log as a network agent's.
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "acknet-log-canary", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-proxy-master"}},
		Spec: corev1.PodSpec{NodeName: nodeName(0), TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{
			Name: "agent", Image: nodeexec.DefaultImage,
			Command: []string{"sh", "-c", `echo "I1202 07:00:00 vpc.go:42] calling DescribeVSwitches with access_key_id=$AK"; echo "W1202 07:00:01 auth.go:7] access_key_secret: $SECRET"; echo "I1202 07:00:02 proxier.go:100] Using ipvs Proxier"; exec sleep 3600`},
			Env:     []corev1.EnvVar{{Name: "AK", Value: ak}, {Name: "SECRET", Value: secret}},
		}}},
	}
	createPod(t, p)
	t.Cleanup(func() {
		_ = cs.CoreV1().Pods("kube-system").Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	})
	for try := 0; ; try++ {
		logs, err := cs.CoreV1().Pods("kube-system").GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(context.Background())
		if err == nil && strings.Contains(string(logs), "Using ipvs Proxier") {
			break
		}
		if try > 60 {
			t.Fatalf("the canary pod did not log: %v %s", err, logs)
		}
		time.Sleep(time.Second)
	}
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	r := acknet(t, "bundle", "-o", file)
	if r.code != 0 || !strings.Contains(r.stdout, "log of kube-system/acknet-log-canary: credentials in log lines (2)") {
		t.Fatalf("bundle: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	files := readArchive(t, file)
	t.Logf("MANIFEST:\n%s", files["acknet-bundle/MANIFEST.txt"])
	log := string(files["acknet-bundle/logs/kube-system/acknet-log-canary.log"])
	if !strings.Contains(log, "access_key_id=[redacted]") || !strings.Contains(log, "Using ipvs Proxier") {
		t.Errorf("agent log in the bundle:\n%s", log)
	}
	for name, data := range files {
		for _, c := range []string{ak, secret} {
			if strings.Contains(string(data), c) {
				t.Errorf("%s carries the canary %s", name, c)
			}
		}
	}
}

// TestRealBundleKeepsNodeFacts: a bundle made with --node-checks replays
// the node checks: doctor --from-bundle --node-checks prints the report the
// bundle recorded (the node facts are read once, by the bundle).
func TestRealBundleKeepsNodeFacts(t *testing.T) {
	useRealRig(t)
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	if r := acknet(t, "bundle", "--node-checks", "-o", file); r.code != 0 {
		t.Fatalf("bundle: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	files := readArchive(t, file)
	if _, ok := files["acknet-bundle/nodefacts.json"]; !ok {
		t.Fatal("no nodefacts.json")
	}
	replay := acknet(t, "doctor", "--from-bundle", file, "--node-checks", "-o", "json")
	if replay.stdout != string(files["acknet-bundle/report.json"]) {
		t.Errorf("replay differs from the bundle's report:\n--- bundle\n%s\n--- replay\n%s", files["acknet-bundle/report.json"], replay.stdout)
	}
	rep := parseReport(t, replay)
	for _, id := range []string{"node.conntrack-usage", "node.flannel-ip-leak"} {
		if st := rep.status(id); st == "(absent)" || st == "skip" {
			t.Errorf("%s = %s (%s): the node facts were not replayed", id, st, rep.summary(id))
		}
	}
	if debugPodsLeft(t) != 0 {
		t.Error("debug pods left")
	}
	// Without node facts in the bundle, --node-checks says so.
	plain := filepath.Join(t.TempDir(), "p.tar.gz")
	if r := acknet(t, "bundle", "-o", plain); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := acknet(t, "doctor", "--from-bundle", plain, "--node-checks"); r.code != 1 || !strings.Contains(r.stderr, "the bundle has no node facts") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}
