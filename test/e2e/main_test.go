//go:build e2e

// Package e2e runs the built kubectl-acknet binary, as a user would, against
// a real kube-apiserver (hack/rig.sh) loaded with the scenarios of
// test/scenarios, and against a second rig with two real nodes (kubelet,
// containerd, Flannel CNI, kube-proxy; hack/node.sh) for the node commands.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-acknet/kubectl-acknet/test/scenario"
)

var (
	repoRoot   string
	rigDir     string
	kubeconfig string
	binDir     string
	rigBin     string

	// The rig with real nodes.
	realDir        string
	realKubeconfig string
	// withNodes is false when the real nodes were not started.
	withNodes bool
)

// realNodes is how many real nodes the second rig starts.
const realNodes = 2

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if err := os.MkdirAll(filepath.Join(repoRoot, ".cache"), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var err error
	rigDir, err = os.MkdirTemp(filepath.Join(repoRoot, ".cache"), "rig-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rigBin = filepath.Join(repoRoot, ".cache", "rig", "bin")
	if b := os.Getenv("ACKNET_RIG_BIN"); b != "" {
		rigBin = b // where hack/build-rig.sh put them, too
	}
	baseline = readMachineState()
	realDir, err = os.MkdirTemp(filepath.Join(repoRoot, ".cache"), "rig-e2e-real-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rig := func(dir, arg string, extra ...string) error {
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "rig.sh"), arg)
		cmd.Env = append(append(os.Environ(), "ACKNET_RIG_DIR="+dir), extra...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	// Down runs whatever happens, so no etcd, kube-apiserver or node outlives
	// the tests; then nothing of the rigs may be left on the machine.
	defer func() {
		_ = rig(rigDir, "down")
		_ = rig(realDir, "down")
		if left := rigLeftovers(); left != "" {
			fmt.Fprintln(os.Stderr, "FAIL: the rigs left behind:\n"+left)
			code = 1
		}
	}()
	// The real nodes boot while the other rig starts; both need the binaries
	// built first (one build at a time).
	// ACKNET_E2E_REAL_NODES=0 (quick runs of the kwok tests) starts the
	// kwok rig alone, for tests that need no real node.
	withNodes = os.Getenv("ACKNET_E2E_REAL_NODES") != "0"
	buildArgs := []string{}
	if withNodes {
		buildArgs = append(buildArgs, "--nodes")
	}
	build := exec.Command(filepath.Join(repoRoot, "hack", "build-rig.sh"), buildArgs...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rig:", err)
		return 1
	}
	realUp := make(chan error, 1)
	if withNodes {
		go func() { realUp <- rig(realDir, "up", fmt.Sprintf("ACKNET_RIG_NODES=%d", realNodes)) }()
	} else {
		realUp <- nil
	}
	if err := rig(rigDir, "up"); err != nil {
		fmt.Fprintln(os.Stderr, "rig up:", err)
		if err := <-realUp; err != nil {
			fmt.Fprintln(os.Stderr, "rig up with real nodes:", err)
		}
		return 1
	}
	kubeconfig = filepath.Join(rigDir, "kubeconfig")
	if err := <-realUp; err != nil {
		fmt.Fprintln(os.Stderr, "rig up with real nodes:", err)
		return 1
	}
	realKubeconfig = filepath.Join(realDir, "kubeconfig")

	binDir, err = os.MkdirTemp("", "acknet-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(binDir) }()
	gobuild := exec.Command("go", "build", "-o", filepath.Join(binDir, "kubectl-acknet"), "./cmd/kubectl-acknet")
	gobuild.Dir, gobuild.Stdout, gobuild.Stderr = repoRoot, os.Stderr, os.Stderr
	if err := gobuild.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		return 1
	}
	return m.Run()
}

func restConfig(t *testing.T) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg
}

func adminClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// load resets the cluster and loads one scenario of test/scenarios.
func load(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := adminClient(t)
	if err := scenario.Reset(ctx, cs); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if err := scenario.Load(ctx, cs, filepath.Join(repoRoot, "test", "scenarios", name)); err != nil {
		t.Fatalf("load: %v", err)
	}
}

type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// acknet runs the plugin binary with the rig's kubeconfig.
func acknet(t *testing.T, args ...string) result {
	t.Helper()
	return runBin(t, filepath.Join(binDir, "kubectl-acknet"), args...)
}

func runBin(t *testing.T, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+binDir+string(os.PathListSeparator)+rigBin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s %v: %v", bin, args, err)
	}
	// A check that panics reports skip with "internal error": no run may.
	if strings.Contains(r.stdout+r.stderr, "internal error") {
		t.Errorf("%s %v printed an internal error:\n%s\n%s", filepath.Base(bin), args, r.stdout, r.stderr)
	}
	return r
}

// report is the part of the public DoctorReport schema the tests read.
type report struct {
	Kind       string         `json:"kind"`
	APIVersion string         `json:"apiVersion"`
	Cluster    map[string]any `json:"cluster"`
	Summary    map[string]int `json:"summary"`
	Checks     []struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Summary  string `json:"summary"`
		Findings []struct {
			Object      string `json:"object"`
			Node        string `json:"node"`
			Message     string `json:"message"`
			Remediation string `json:"remediation"`
		} `json:"findings"`
	} `json:"checks"`
}

func parseReport(t *testing.T, r result) report {
	t.Helper()
	var rep report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report (%v); exit %d, stderr:\n%s\nstdout:\n%s", err, r.code, r.stderr, r.stdout)
	}
	if (rep.Kind != "DoctorReport" && rep.Kind != "IPv6Report") || rep.APIVersion == "" {
		t.Fatalf("kind %q apiVersion %q", rep.Kind, rep.APIVersion)
	}
	return rep
}

func (r report) status(id string) string {
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return "(absent)"
}

func (r report) summary(id string) string {
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Summary
		}
	}
	return ""
}

func (r report) findingObjects(id string) []string {
	var out []string
	for _, c := range r.Checks {
		if c.ID == id {
			for _, f := range c.Findings {
				out = append(out, f.Object)
			}
		}
	}
	return out
}
