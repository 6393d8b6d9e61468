//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ptyOut is what the plugin wrote to its terminal.
type ptyOut struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (p *ptyOut) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.Write(b)
}

func (p *ptyOut) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.String()
}

// runPTY runs the plugin on a terminal, as a user does: stdin, stdout and
// stderr are one pseudo-terminal. When answer is set, it is typed after the
// prompt "[y/N]" shows.
func runPTY(t *testing.T, env []string, answer string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "kubectl-acknet"), args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig, "TERM=xterm"), env...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tty.Close() }()
	var out ptyOut
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, tty) // ends with EIO when the plugin exits
		close(copied)
	}()
	if answer != "" {
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(out.String(), "[y/N]") {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("no prompt after a minute:\n%s", out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := tty.WriteString(answer + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("still running after 2m:\n%s", out.String())
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		code = ee.ExitCode()
	} else if werr != nil {
		t.Fatal(werr)
	}
	return out.String(), code
}

// On a terminal, --apply asks; "n" writes nothing, "y" writes (with a backup).
func TestPromptOnATerminal(t *testing.T) {
	load(t, "flannel-broken")
	before := kubeSystemData(t)
	out, code := runPTY(t, nil, "n", "fix", "kubeproxy.ipvs-udp-timeout", "--apply")
	if code != 1 || !strings.Contains(out, "Write kube-system/kube-proxy-worker (a backup of each first)? [y/N]") ||
		!strings.Contains(out, "not confirmed; nothing changed") {
		t.Fatalf("answer n: exit %d\n%s", code, out)
	}
	if after := kubeSystemData(t); after["kube-proxy-worker"]["config.conf"] != before["kube-proxy-worker"]["config.conf"] || len(after) != len(before) {
		t.Fatalf("answer n wrote something:\n%s", after["kube-proxy-worker"]["config.conf"])
	}
	if l, err := adminClient(t).CoreV1().ConfigMaps("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "acknet.kubectl.io/backup-of"}); err != nil || len(l.Items) != 0 {
		t.Fatalf("answer n left backups: %v (%v)", l, err)
	}

	out, code = runPTY(t, nil, "y", "fix", "kubeproxy.ipvs-udp-timeout", "--apply")
	if code != 0 || !strings.Contains(out, "wrote kube-system/ConfigMap/kube-proxy-worker; backup ") {
		t.Fatalf("answer y: exit %d\n%s", code, out)
	}
	if after := kubeSystemData(t); !strings.Contains(after["kube-proxy-worker"]["config.conf"], "udpTimeout: 10s") {
		t.Errorf("answer y: kube-proxy-worker not written:\n%s", after["kube-proxy-worker"]["config.conf"])
	}
	backups, err := adminClient(t).CoreV1().ConfigMaps("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "acknet.kubectl.io/backup-of=kube-proxy-worker"})
	if err != nil || len(backups.Items) != 1 {
		t.Errorf("answer y: want one backup of kube-proxy-worker, got %v (%v)", backups, err)
	}
}

// Color is decided by the terminal: on one, the report is colored; NO_COLOR,
// TERM=dumb and --no-color each turn it off. (Not on a terminal it never is:
// every other test reads plain output from a pipe.)
func TestColorOnATerminal(t *testing.T) {
	load(t, "flannel-broken")
	const esc = "\x1b["
	tests := []struct {
		name  string
		env   []string
		args  []string
		color bool
	}{
		{name: "a terminal", color: true},
		{name: "NO_COLOR", env: []string{"NO_COLOR=1"}},
		{name: "TERM=dumb", env: []string{"TERM=dumb"}},
		{name: "--no-color", args: []string{"--no-color"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runPTY(t, tt.env, "", append([]string{"doctor"}, tt.args...)...)
			if code != 2 || !strings.Contains(out, "flannel.cni-version") {
				t.Fatalf("exit %d\n%s", code, out)
			}
			if got := strings.Contains(out, esc); got != tt.color {
				t.Errorf("colored %v, want %v:\n%q", got, tt.color, out)
			}
		})
	}
}
