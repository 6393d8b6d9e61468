//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
)

// plantLeak writes, on real node i, a host-local file for an unused IP of
// its pod CIDR whose container is long gone and which is hours old: what gc
// moves once it holds the IPAM lock. It is removed after the test.
func plantLeak(t *testing.T, i int) string {
	t.Helper()
	n, err := adminClient(t).CoreV1().Nodes().Get(context.Background(), nodeName(i), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	ip := prefix.Addr()
	for k := 0; k < 60; k++ {
		ip = ip.Next()
	}
	dir := filepath.Join(nodeRoot(i), cb0)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, ip.String())
	if err := os.WriteFile(f, []byte(strings.Repeat("dead", 16)+"\r\neth0"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(f, old, old); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.Remove(f)
		backups, _ := filepath.Glob(filepath.Join(nodeRoot(i), "var/lib/cni/acknet-backup/*", ip.String()))
		for _, b := range backups {
			_ = os.Remove(b)
		}
	})
	return f
}

// runSignalled starts the plugin and sends sig after delay.
func runSignalled(t *testing.T, sig syscall.Signal, delay time.Duration, args ...string) result {
	t.Helper()
	ready := make(chan struct{})
	time.AfterFunc(delay, func() { close(ready) })
	return runSignalledWhen(t, sig, ready, args...)
}

// runSignalledWhen sends sig once ready is closed (or after a minute: the
// moment never came).
func runSignalledWhen(t *testing.T, sig syscall.Signal, ready <-chan struct{}, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "kubectl-acknet"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Error("the moment to signal never came")
	}
	_ = cmd.Process.Signal(sig)
	err := cmd.Wait()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	}
	return r
}

// Whatever goes wrong, and whenever the plugin is stopped, no debug pod
// stays behind on a real kubelet.
func TestRealDebugPodLifecycle(t *testing.T) {
	useRealRig(t)
	cs := adminClient(t)
	// A node without a kubelet: its pods never run.
	ghost := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cn-hangzhou.172.18.0.99"}}
	if _, err := cs.CoreV1().Nodes().Create(context.Background(), ghost, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), ghost.Name, metav1.DeleteOptions{}) })
	leak := plantLeak(t, 0)
	gc := []string{"flannel", "gc", "--node", nodeName(0), "--apply", "--yes", "--lock-timeout", "60s"}

	type fault struct {
		name  string
		args  []string
		lock  bool           // hold the IPAM lock, so gc waits in its script
		sig   syscall.Signal // sent after delay (0: none)
		delay time.Duration
		// proxy "POST": the pod create is answered 3s late (the server has
		// made it); "DELETE": the pod delete is held 3s before it reaches
		// the server, so a plugin that exits without waiting leaves the pod.
		proxy   string
		code    int
		message string
	}
	faults := []fault{
		{name: "pod never runs", args: []string{"conntrack", "--node", ghost.Name, "--start-timeout", "2s"},
			code: 1, message: "not running after 2s"},
		{name: "script fails", args: []string{"ipvs", "timeout", "--node", nodeName(0)},
			code: 1, message: "the kernel has no IPVS"},
		{name: "namespace missing (API error on create)", args: []string{"conntrack", "--node", nodeName(0), "--node-namespace", "no-such-ns"},
			code: 1, message: "create debug pod"},
		{name: "unknown node", args: []string{"conntrack", "--node", "no-such-node"},
			code: 1, message: "nodes not found: no-such-node"},
		{name: "one node fails, the other still runs", args: []string{"conntrack", "--node", ghost.Name + "," + nodeName(1), "--start-timeout", "2s"},
			code: 1, message: "1 of 2 nodes failed"},
		{name: "Ctrl-C while the pod is being created", args: []string{"conntrack", "--node", nodeName(0)}, proxy: http.MethodPost,
			sig: syscall.SIGINT, delay: time.Second, code: 1, message: "interrupted: deleting the debug pods"},
		{name: "Ctrl-C while waiting for the pod", args: []string{"conntrack", "--node", ghost.Name, "--start-timeout", "1m"},
			sig: syscall.SIGINT, delay: 1500 * time.Millisecond, code: 1, message: "context canceled"},
		{name: "Ctrl-C while the script runs", args: gc, lock: true,
			sig: syscall.SIGINT, delay: 5 * time.Second, code: 1, message: "context canceled"},
		{name: "SIGTERM while the script runs", args: gc, lock: true,
			sig: syscall.SIGTERM, delay: 5 * time.Second, code: 1, message: "context canceled"},
		// Signalled when the proxy holds the first delete, not after a
		// fixed delay: on a loaded machine the pod may not have ended yet.
		{name: "Ctrl-C while the pod is being deleted", args: []string{"conntrack", "--node", nodeName(0)}, proxy: http.MethodDelete,
			sig: syscall.SIGINT, message: "interrupted: deleting the debug pods"},
	}
	var table []string
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			kc := kubeconfig
			var held <-chan struct{}
			switch f.proxy {
			case http.MethodPost:
				kc = newSlowProxy(t, 3*time.Second, isPodCall(f.proxy)).kubeconfig
			case http.MethodDelete:
				var p *proxy
				p, held = newNotifyingHoldProxy(t, 3*time.Second, isPodCall(f.proxy))
				kc = p.kubeconfig
			}
			if f.lock {
				defer holdLock(t, 0, 90*time.Second)()
			}
			var r result
			switch {
			case f.sig != 0 && held != nil:
				old := kubeconfig
				kubeconfig = kc
				r = runSignalledWhen(t, f.sig, held, f.args...)
				kubeconfig = old
			case f.sig != 0:
				r = runSignalledWith(t, kc, f.sig, f.delay, f.args...)
			default:
				r = runWith(t, kc, f.args...)
			}
			// Checked at once: the plugin must have deleted before exiting.
			left := debugPodsLeft(t)
			if left != 0 {
				t.Errorf("%d debug pods left", left)
			}
			if r.code != f.code || !strings.Contains(r.stderr, f.message) {
				t.Errorf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", r.code, f.code, f.message, r.stdout, r.stderr)
			}
			if _, err := os.Stat(leak); err != nil {
				t.Errorf("the planted leak moved: %v", err)
			}
			if f.lock {
				// The script waiting in the deleted pod died with it: it
				// will not move the file once the lock is free.
				var out string
				gone := false
				for i := 0; i < 20 && !gone; i++ {
					var err error
					out, err = onNode(t, 0, "pgrep", "-af", "acknet-flannel-gc-apply")
					gone = err != nil
					if !gone {
						time.Sleep(500 * time.Millisecond)
					}
				}
				if !gone {
					t.Errorf("the gc script still runs on the node 10s after its pod was deleted:\n%s", out)
				}
			}
			table = append(table, fmt.Sprintf("%-40s exit %d  pods left %d  (%s)", f.name, r.code, left, r.elapsed.Round(100*time.Millisecond)))
		})
	}

	// Killed outright, the plugin deletes nothing: the pod's
	// activeDeadlineSeconds (node timeout + 1m) ends it on the kubelet, and
	// cleanup removes what is left.
	t.Run("SIGKILL: the deadline ends the pod, cleanup removes it", func(t *testing.T) {
		defer holdLock(t, 0, 150*time.Second)()
		r := runSignalled(t, syscall.SIGKILL, 5*time.Second, "flannel", "gc", "--node", nodeName(0), "--apply", "--yes", "--lock-timeout", "15s", "--node-timeout", "20s")
		if r.code != -1 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		pods, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{LabelSelector: nodeexec.Selector})
		if err != nil {
			t.Fatal(err)
		}
		var alive []corev1.Pod
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				alive = append(alive, p)
			}
		}
		if len(alive) != 1 {
			t.Fatalf("want the killed plugin's one pod, have %d", len(alive))
		}
		p := alive[0]
		if p.Spec.ActiveDeadlineSeconds == nil || *p.Spec.ActiveDeadlineSeconds != 80 {
			t.Errorf("activeDeadlineSeconds %v, want 80", p.Spec.ActiveDeadlineSeconds)
		}
		start := time.Now()
		for time.Since(start) < 2*time.Minute {
			cur, err := cs.CoreV1().Pods(p.Namespace).Get(context.Background(), p.Name, metav1.GetOptions{})
			if err == nil && cur.Status.Phase == corev1.PodFailed {
				t.Logf("the kubelet ended %s after %s: %s %s", p.Name, time.Since(p.CreationTimestamp.Time).Round(time.Second), cur.Status.Reason, cur.Status.Message)
				if cur.Status.Reason != "DeadlineExceeded" {
					t.Errorf("reason %s", cur.Status.Reason)
				}
				break
			}
			if apierrors.IsNotFound(err) {
				t.Fatal("the pod went away by itself")
			}
			time.Sleep(time.Second)
		}
		c := acknet(t, "cleanup")
		if c.code != 0 || !strings.Contains(c.stdout, "deleted pod/"+p.Namespace+"/"+p.Name) || debugPodsLeft(t) != 0 {
			t.Errorf("cleanup: exit %d\n%s%s; %d left", c.code, c.stdout, c.stderr, debugPodsLeft(t))
		}
		if _, err := os.Stat(leak); err != nil {
			t.Errorf("the planted leak moved: %v", err)
		}
		table = append(table, fmt.Sprintf("%-40s killed; deadline ended the pod, cleanup left %d", "SIGKILL while the script runs", debugPodsLeft(t)))
	})
	t.Logf("debug pod lifecycle on a real kubelet:\n%s", strings.Join(table, "\n"))
}

// runSignalledWith is runSignalled with another kubeconfig.
func runSignalledWith(t *testing.T, kc string, sig syscall.Signal, delay time.Duration, args ...string) result {
	t.Helper()
	old := kubeconfig
	kubeconfig = kc
	defer func() { kubeconfig = old }()
	return runSignalled(t, sig, delay, args...)
}

// gc --cordon cordons the node for its apply, as the FAQ does, and
// uncordons it after, also when interrupted; a node cordoned before stays so.
func TestRealFlannelGCCordon(t *testing.T) {
	useRealRig(t)
	cs := adminClient(t)
	ctx := context.Background()
	node := nodeName(0)
	unschedulable := func() bool {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Spec.Unschedulable
	}
	setCordon := func(on bool) {
		b := []byte(`{"spec":{"unschedulable":` + strconv.FormatBool(on) + `}}`)
		if _, err := cs.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, b, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { setCordon(false) })

	if r := acknet(t, "flannel", "gc", "--node", node, "--cordon"); r.code != 1 || !strings.Contains(r.stderr, "--cordon only goes with --apply") {
		t.Errorf("--cordon without --apply: exit %d %s", r.code, r.stderr)
	}

	t.Run("cordoned while the files move, uncordoned after", func(t *testing.T) {
		leak := plantLeak(t, 0)
		// gc waits for the lock in its script: the node must be cordoned then.
		release := holdLock(t, 0, 60*time.Second)
		done := make(chan result, 1)
		go func() {
			done <- acknet(t, "flannel", "gc", "--node", node, "--apply", "--yes", "--cordon", "--lock-timeout", "50s")
		}()
		deadline := time.Now().Add(40 * time.Second)
		for !unschedulable() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		cordoned := unschedulable()
		release()
		r := <-done
		if !cordoned {
			t.Error("the node was not cordoned while gc waited for the lock")
		}
		if r.code != 0 || unschedulable() || !strings.Contains(r.stderr, "cordoned for the cleanup") || !strings.Contains(r.stderr, "uncordoned") {
			t.Errorf("exit %d, unschedulable %v\n%s%s", r.code, unschedulable(), r.stdout, r.stderr)
		}
		if _, err := os.Stat(leak); !os.IsNotExist(err) {
			t.Errorf("the planted leak was not moved: %v", err)
		}
	})

	t.Run("Ctrl-C while cordoned: uncordoned", func(t *testing.T) {
		plantLeak(t, 0)
		defer holdLock(t, 0, 60*time.Second)()
		cmd := exec.Command(filepath.Join(binDir, "kubectl-acknet"), "flannel", "gc", "--node", node, "--apply", "--yes", "--cordon", "--lock-timeout", "50s")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(40 * time.Second)
		for !unschedulable() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if !unschedulable() {
			t.Error("never cordoned")
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		if err == nil || unschedulable() || !strings.Contains(stderr.String(), "uncordoned") {
			t.Errorf("%v, unschedulable %v\n%s", err, unschedulable(), stderr.String())
		}
	})

	t.Run("a node cordoned before stays cordoned", func(t *testing.T) {
		plantLeak(t, 0)
		setCordon(true)
		r := acknet(t, "flannel", "gc", "--node", node, "--apply", "--yes", "--cordon")
		if r.code != 0 || !unschedulable() || !strings.Contains(r.stderr, "was cordoned already; it stays so") {
			t.Errorf("exit %d, unschedulable %v\n%s%s", r.code, unschedulable(), r.stdout, r.stderr)
		}
		setCordon(false)
	})
	if n := debugPodsLeft(t); n != 0 {
		t.Errorf("%d debug pods left", n)
	}
}
