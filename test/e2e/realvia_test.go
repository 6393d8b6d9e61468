//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	acknetreport "github.com/kubectl-acknet/kubectl-acknet/pkg/report"
)

// plantAllocations writes n IPAM files of pods that do not exist on real
// node i (addresses from offset from on), older than the gc's grace, and
// removes them after the test.
func plantAllocations(t *testing.T, i, from, n int) {
	t.Helper()
	node, err := adminClient(t).CoreV1().Nodes().Get(context.Background(), nodeName(i), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := netip.ParsePrefix(node.Spec.PodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	ip := prefix.Addr()
	for k := 0; k < from; k++ {
		ip = ip.Next()
	}
	dir := filepath.Join(nodeRoot(i), cb0)
	old := time.Now().Add(-3 * time.Hour)
	for k := 0; k < n; k++ {
		f := filepath.Join(dir, ip.String())
		id := strings.Repeat(strconv.FormatInt(int64(k%16), 16), 64)
		if err := os.WriteFile(f, []byte(id+"\r\neth0"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(f) })
		ip = ip.Next()
	}
}

var numbers = regexp.MustCompile(`\d+(\.\d+)?`)

// requestsOf is the API request count --request-stats printed.
func requestsOf(t *testing.T, r result) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^api-requests: (\d+)$`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no request count in %q", r.stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// The read-only node commands give the same answer whichever way the script
// runs: as the debug pod's own command (the default: the result comes back
// in the termination message, or in the pod's log when it is larger than
// the kubelet keeps there) or through exec into a sleeping pod.
func TestRealSameResultThroughPodAndExec(t *testing.T) {
	useRealRig(t)
	node := nodeName(0)
	both := func(t *testing.T, args ...string) (pod, exec result) {
		t.Helper()
		pod = acknet(t, append(args, "--request-stats")...)
		exec = acknet(t, append(args, "--via", "exec")...)
		return pod, exec
	}
	same := func(t *testing.T, what string, pod, exec result, mask func(string) string) {
		t.Helper()
		if pod.code != exec.code || mask(pod.stdout) != mask(exec.stdout) {
			t.Errorf("%s: through the pod (exit %d):\n%s%s\nthrough exec (exit %d):\n%s%s", what, pod.code, pod.stdout, pod.stderr, exec.code, exec.stdout, exec.stderr)
		}
	}
	exact := func(s string) string { return s }
	// The node's conntrack table moves between two runs: its numbers do.
	masked := func(s string) string { return numbers.ReplaceAllString(s, "N") }

	small, smallExec := both(t, "flannel", "tmpfs", "--node", node)
	same(t, "flannel tmpfs", small, smallExec, exact)
	ct, ctExec := both(t, "conntrack", "--node", node)
	same(t, "conntrack", ct, ctExec, masked)
	ipvs, ipvsExec := both(t, "ipvs", "timeout", "--node", node)
	if ipvs.code != 1 || ipvs.code != ipvsExec.code || !strings.Contains(ipvs.stderr, "the kernel has no IPVS") ||
		numbers.ReplaceAllString(lastLine(ipvs.stderr), "N") != numbers.ReplaceAllString(lastLine(ipvsExec.stderr), "N") {
		t.Errorf("ipvs timeout: through the pod exit %d %q, through exec exit %d %q", ipvs.code, ipvs.stderr, ipvsExec.code, ipvsExec.stderr)
	}

	// Enough allocations that the scan's output (about 120 bytes each) is
	// over the termination message's 4,096 bytes: it comes back through the
	// log, one request more, and whole.
	plantAllocations(t, 0, 100, 80)
	large, largeExec := both(t, "flannel", "tmpfs", "--node", node)
	same(t, "flannel tmpfs, output in the log", large, largeExec, exact)
	if got, want := requestsOf(t, large), requestsOf(t, small)+1; got != want {
		t.Errorf("flannel tmpfs with its output in the log made %d requests, want %d (one GET of the log more than the %d without)", got, want, want-1)
	}
	doc, docExec := both(t, "doctor", "--node-checks", "--node", node, "-o", "json")
	checksOf := func(r result) map[string]string {
		var rep acknetreport.DoctorReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("doctor -o json: %v\n%s%s", err, r.stdout, r.stderr)
		}
		out := map[string]string{}
		for _, c := range rep.Checks {
			b, _ := json.Marshal(c)
			out[c.ID] = numbers.ReplaceAllString(string(b), "N")
		}
		return out
	}
	viaPod, viaExec := checksOf(doc), checksOf(docExec)
	if doc.code != docExec.code || len(viaPod) != len(viaExec) {
		t.Errorf("doctor --node-checks: exit %d with %d checks through the pod, exit %d with %d through exec", doc.code, len(viaPod), docExec.code, len(viaExec))
	}
	for id, c := range viaPod {
		if viaExec[id] != c {
			t.Errorf("doctor --node-checks, %s:\nthrough the pod %s\nthrough exec    %s", id, c, viaExec[id])
		}
	}
	if leaked := viaPod["node.flannel-ip-leak"]; !strings.Contains(leaked, `"status":"warn"`) {
		t.Errorf("the planted allocations are not found: %s", leaked)
	}
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
	t.Logf("requests through the pod: flannel tmpfs %d (output in the message), %d (in the log); doctor --node-checks %d",
		requestsOf(t, small), requestsOf(t, large), requestsOf(t, doc))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
