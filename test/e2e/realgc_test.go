//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
)

const cb0 = "var/lib/cni/networks/cb0"

// leakedLines are the IPs a gc output calls leaked (its table rows whose
// decision is "leaked" or "moved to ...").
func leakedLines(out string) []string {
	var ips []string
	re := regexp.MustCompile(`^\s+(\S+)\s+\S+\s+\S+\s+(leaked|moved to .*)$`)
	for _, l := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			ips = append(ips, m[1])
		}
	}
	sort.Strings(ips)
	return ips
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The FAQ's leak, made the way it happens, and released on a real node:
// containerd loses its sandboxes in a reboot while /var/lib/cni/networks/cb0
// survives, next to pods that live on.
func TestRealFlannelGC(t *testing.T) {
	useRealRig(t)
	ns := testNamespace(t, "gc")
	node := nodeName(0)
	names := []string{"web-0", "web-1", "web-2"}
	before := map[string]string{}
	for _, n := range names {
		createPod(t, webPod(ns, n, node))
	}
	for _, n := range names {
		before[n] = podIP(t, ns, n, "")
		waitAnswers(t, before[n], n)
	}

	// Every pod on the pod network of node 0 leaks its IP in the reboot,
	// the test's and any other the rig runs there (CoreDNS, say).
	podsBefore := podNetworkPods(t, node)
	for _, n := range names {
		if podsBefore[ns+"/"+n] != before[n] {
			t.Fatalf("pod %s: %q in the listing, %q before", n, podsBefore[ns+"/"+n], before[n])
		}
	}

	rebootLosingRuntime(t, 0)
	live := map[string]string{}
	for key, ip := range podsBefore {
		nsName := strings.SplitN(key, "/", 2)
		live[key] = podIP(t, nsName[0], nsName[1], ip)
	}
	for _, n := range names {
		waitAnswers(t, live[ns+"/"+n], n)
	}
	files := ipamFiles(t, 0, cb0)
	var wantLeaked []string
	for key, ip := range podsBefore {
		if files[ip] == "" || files[live[key]] == "" {
			t.Fatalf("%s: want files for the old IP %s and the new IP %s, have %v", key, ip, live[key], files)
		}
		wantLeaked = append(wantLeaked, ip)
		// The reboot was hours ago: older than gc's --min-age.
		old := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(filepath.Join(nodeRoot(0), cb0, ip), old, old); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(wantLeaked)
	header := fmt.Sprintf("node %s: %s, %d leaked", node, checks.Count(len(files), "allocation"), len(wantLeaked))
	// listed is the runtime's count in gc's output; it must be what the
	// runtime lists: the pods' sandboxes and that of gc's own debug pod,
	// give or take the sandboxes of earlier debug pods that the kubelet has
	// not collected yet (it does so every minute).
	listed := regexp.MustCompile(`the runtime \(crictl\) lists (\d+) sandbox(es)?\b`)
	checkListed := func(t *testing.T, out string, before int) {
		t.Helper()
		after := sandboxCount(t, 0)
		m := listed.FindStringSubmatch(out)
		n := -1
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if n < min(before, after) || n > max(before, after)+1 {
			t.Errorf("gc says the runtime lists %v sandboxes; crictl lists %d before and %d after:\n%s", m, before, after, out)
		}
	}

	t.Run("dry run lists exactly the leaked IPs", func(t *testing.T) {
		before := sandboxCount(t, 0)
		r := acknet(t, "flannel", "gc", "--node", node)
		if r.code != 0 || !strings.Contains(r.stdout, header+" (dry run)") {
			t.Fatalf("exit %d, want %q:\n%s%s", r.code, header, r.stdout, r.stderr)
		}
		checkListed(t, r.stdout, before)
		if got := leakedLines(r.stdout); strings.Join(got, " ") != strings.Join(wantLeaked, " ") {
			t.Errorf("leaked %v, want %v\n%s", got, wantLeaked, r.stdout)
		}
		if n := strings.Count(r.stdout, "kept: live sandbox"); n != len(live) {
			t.Errorf("%d live sandboxes kept, want %d\n%s", n, len(live), r.stdout)
		}
		if got := ipamFiles(t, 0, cb0); len(got) != len(files) {
			t.Errorf("the dry run changed files: %v", got)
		}
		t.Logf("dry run:\n%s", r.stdout)
	})

	t.Run("doctor --node-checks sees the leak on the node", func(t *testing.T) {
		r := acknet(t, "doctor", "--node-checks", "--node", node, "--checks", "node.*", "-o", "json")
		rep := parseReport(t, r)
		want := map[string]string{"node.flannel-ip-leak": "warn", "node.conntrack-usage": "pass", "node.flannel-ipam-tmpfs": "info",
			"node.ipvs-modules": "skip", "node.ipvs-timeouts": "skip"}
		for id, st := range want {
			if got := rep.status(id); got != st {
				t.Errorf("%s = %s (%s), want %s", id, got, rep.summary(id), st)
			}
		}
		if objs := rep.findingObjects("node.flannel-ip-leak"); len(objs) != 1 || objs[0] != "node/"+node ||
			!strings.Contains(findingMessages(rep, "node.flannel-ip-leak"), strconv.Itoa(len(wantLeaked))) {
			t.Errorf("leak findings %v: %s", objs, findingMessages(rep, "node.flannel-ip-leak"))
		}
		if r.code != 0 {
			t.Errorf("exit %d (nothing at fail): %s", r.code, r.stderr)
		}
		// Without --node-checks no debug pod is made and no node check runs.
		plain := parseReport(t, acknet(t, "doctor", "-o", "json"))
		if plain.status("node.conntrack-usage") != "(absent)" {
			t.Error("node checks ran without --node-checks")
		}
		t.Logf("doctor --node-checks:\n%s", acknet(t, "doctor", "--node-checks", "--node", node, "--checks", "node.*").stdout)
	})

	t.Run("crictl without /etc/crictl.yaml: its warnings are no sandboxes", func(t *testing.T) {
		conf := filepath.Join(nodeRoot(0), "etc/crictl.yaml")
		if err := os.Rename(conf, conf+".off"); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = os.Rename(conf+".off", conf) }()
		if out, _ := onNode(t, 0, "sh", "-c", "crictl pods -q 2>&1 >/dev/null"); !strings.Contains(out, "level=warning") {
			t.Fatalf("crictl does not warn without its config here, the case is not shown: %q", out)
		}
		before := sandboxCount(t, 0)
		r := acknet(t, "flannel", "gc", "--node", node)
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		checkListed(t, r.stdout, before)
		if got := leakedLines(r.stdout); strings.Join(got, " ") != strings.Join(wantLeaked, " ") {
			t.Errorf("leaked %v, want %v", got, wantLeaked)
		}
	})

	t.Run("crictl cannot reach the runtime: refused, nothing moved", func(t *testing.T) {
		conf := filepath.Join(nodeRoot(0), "etc/crictl.yaml")
		orig, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = os.WriteFile(conf, orig, 0o644) }()
		if err := os.WriteFile(conf, []byte("runtime-endpoint: unix:///run/nowhere.sock\nimage-endpoint: unix:///run/nowhere.sock\ntimeout: 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := acknet(t, "flannel", "gc", "--node", node, "--apply", "--yes")
		if r.code != 1 || !strings.Contains(r.stdout, "REFUSED: the runtime listing (crictl) failed") || !strings.Contains(r.stdout, "nowhere.sock") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := ipamFiles(t, 0, cb0); len(got) != len(files) {
			t.Errorf("files moved although refused: %v", got)
		}
	})

	t.Run("another holder of the IPAM lock: gc waits, gives up, moves nothing", func(t *testing.T) {
		// Held until gc has given up (the deferred release), however long its
		// two scans take on a loaded machine.
		holder := holdLock(t, 0, 2*time.Minute)
		defer holder()
		r := acknet(t, "flannel", "gc", "--node", node, "--apply", "--yes", "--lock-timeout", "2s")
		if r.code != 1 || !strings.Contains(r.stderr, "another process holds the IPAM lock /var/lib/cni/networks/cb0/lock; gave up after 2s, nothing moved") {
			t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := ipamFiles(t, 0, cb0); len(got) != len(files) {
			t.Errorf("files moved without the lock: %v", got)
		}
	})

	t.Run("apply after the lock is free; pods created meanwhile keep their IPs", func(t *testing.T) {
		holder := holdLock(t, 0, 3*time.Second)
		defer holder()
		var wg sync.WaitGroup
		wg.Add(1)
		var r result
		go func() {
			defer wg.Done()
			r = acknet(t, "flannel", "gc", "--node", node, "--apply", "--yes", "--lock-timeout", "60s")
		}()
		// New pods start while gc scans and waits for the lock (their CNI
		// ADD waits for it too).
		fresh := []string{"new-0", "new-1"}
		for _, n := range fresh {
			createPod(t, webPod(ns, n, node))
		}
		wg.Wait()
		if r.code != 0 || !strings.Contains(r.stdout, "(applied after a second scan)") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := leakedLines(r.stdout); strings.Join(got, " ") != strings.Join(wantLeaked, " ") {
			t.Errorf("moved %v, want %v\n%s", got, wantLeaked, r.stdout)
		}
		left := ipamFiles(t, 0, cb0)
		for _, ip := range wantLeaked {
			if left[ip] != "" {
				t.Errorf("leaked %s still in cb0", ip)
			}
		}
		for key, ip := range live {
			if left[ip] == "" {
				t.Errorf("the file of live pod %s (%s) is gone", key, ip)
			}
		}
		for _, n := range names {
			waitAnswers(t, live[ns+"/"+n], n)
		}
		for _, n := range fresh {
			ip := podIP(t, ns, n, "")
			if left := ipamFiles(t, 0, cb0); left[ip] == "" {
				t.Errorf("pod %s created during gc lost its IPAM file %s: %v", n, ip, sortedKeys(left))
			}
			waitAnswers(t, ip, n)
		}
		backups, _ := filepath.Glob(filepath.Join(nodeRoot(0), "var/lib/cni/acknet-backup/cb0-*"))
		if len(backups) != 1 {
			t.Fatalf("backups %v", backups)
		}
		moved, _ := os.ReadDir(backups[0])
		if len(moved) != len(wantLeaked) {
			t.Errorf("backup holds %d files, want %d", len(moved), len(wantLeaked))
		}
		if !strings.Contains(r.stdout, "to restore, on the node: mv /var/lib/cni/acknet-backup/"+filepath.Base(backups[0])+"/* /var/lib/cni/networks/cb0/") {
			t.Errorf("no restore hint:\n%s", r.stdout)
		}
		t.Logf("apply:\n%s", r.stdout)
	})
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}

// holdLock takes host-local's lock of cb0 on node i for at most d, as a CNI
// ADD or DEL would; it returns once the lock is held. The returned func
// releases it (if still held) and waits for the holder to end.
func holdLock(t *testing.T, i int, d time.Duration) func() {
	t.Helper()
	sleep := "sleep " + strconv.Itoa(int(d/time.Second))
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "node.sh"), "exec", strconv.Itoa(i), "--",
		"flock", "-x", "/var/lib/cni/networks/cb0/lock", "sh", "-c", "echo held; exec "+sleep)
	cmd.Env = append(os.Environ(), "ACKNET_RIG_DIR="+realDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf[:4]) != "held" {
		t.Fatalf("lock holder: %q %v", buf, err)
	}
	return func() {
		_, _ = onNode(t, i, "pkill", "-x", "-f", sleep)
		_ = cmd.Wait()
	}
}
