//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud"
	"github.com/kubectl-acknet/kubectl-acknet/internal/cloud/cloudtest"
)

// A README transcript: the block after the line "<!-- transcript NAME -->"
// is what these steps print on a fresh load of the scenario.
type transcript struct {
	name, scenario string
	steps          []step
	// real: on the rig with real nodes, whose output varies run to run in
	// its numbers, addresses and IDs (compared through loose); setup makes
	// the state the transcript shows, undone by its t.Cleanup.
	real  bool
	setup func(t *testing.T)
	// cloud names a world file the local Alibaba Cloud API plays for the
	// steps; {endpoint} in their args is its URL, the demo key is set.
	cloud string
	// inTemp runs the steps in a new empty directory (files they write).
	inTemp bool
}

type step struct {
	args []string
	// show is the command line as the README shows it (default: the args).
	show string
}

// readmeTranscripts are the README's transcripts: the cluster-side commands
// on the kwok rig, the node commands on the real nodes.
var readmeTranscripts = []transcript{
	{name: "doctor-demo", scenario: "flannel-broken", steps: []step{{args: []string{"doctor"}}}},
	{name: "ipv6-verify", scenario: "ipv6-mixed", steps: []step{{args: []string{"ipv6", "verify", "-n", "mall"}}}},
	{name: "version", steps: []step{{args: []string{"version"}}}},
	{name: "bundle", scenario: "flannel-broken", inTemp: true, steps: []step{
		{args: []string{"bundle", "-o", "flannel-broken.tar.gz"}},
		{args: []string{"doctor", "--from-bundle", "flannel-broken.tar.gz", "--checks", "flannel.*"},
			show: "kubectl acknet doctor --from-bundle flannel-broken.tar.gz --checks 'flannel.*'"},
	}},
	{name: "doctor-cloud", scenario: "cloud-terway", cloud: "test/scenarios/cloud-terway/cloud/demo.yaml",
		steps: []step{{args: []string{"doctor", "--cloud", "--cloud-endpoint", "{endpoint}", "--checks", "cloud.*"},
			show: "kubectl acknet doctor --cloud --cloud-endpoint {endpoint} --checks 'cloud.*'"}}},
	{name: "fix-cycle", scenario: "flannel-broken", steps: []step{
		{args: []string{"fix", "kubeproxy.ipvs-udp-timeout"}},
		{args: []string{"fix", "kubeproxy.ipvs-udp-timeout", "--apply"},
			show: "kubectl acknet fix kubeproxy.ipvs-udp-timeout --apply < /dev/null      # not a terminal, no --yes"},
		{args: []string{"fix", "kubeproxy.ipvs-udp-timeout", "--apply", "--yes"}},
		{args: []string{"doctor", "--checks", "kubeproxy.ipvs-udp-timeout"}},
		{args: []string{"fix", "--rollback", "{backup}", "--yes"}},
		{args: []string{"doctor", "--checks", "kubeproxy.ipvs-udp-timeout"}},
	}},
	// One node: over both, conntrack's "highest usage" names whichever
	// node holds a few more entries at that moment.
	{name: "node-checks", real: true, steps: []step{{args: []string{"doctor", "--node-checks", "--node", nodeName(0), "--checks", "node.*"},
		show: "kubectl acknet doctor --node-checks --node " + nodeName(0) + " --checks 'node.*'"}}},
	{name: "flannel-gc", real: true, setup: func(t *testing.T) { plantLeak(t, 0) }, steps: []step{{args: []string{"flannel", "gc", "--node", nodeName(0)}}}},
	{name: "flannel-tmpfs", real: true, steps: []step{{args: []string{"flannel", "tmpfs", "--all-nodes"}}}},
	{name: "conntrack", real: true, steps: []step{{args: []string{"conntrack", "--all-nodes"}}}},
	{name: "ipvs-modules", real: true, steps: []step{{args: []string{"ipvs", "modules", "--all-nodes"}}}},
	{name: "ipvs-timeout", real: true, steps: []step{{args: []string{"ipvs", "timeout", "--node", nodeName(0)}}}},
	{name: "cleanup", real: true, steps: []step{{args: []string{"cleanup", "--dry-run"}}}},
	// Last: its test pods' IPs are released a moment after they are gone.
	{name: "connectivity", real: true, steps: []step{{args: []string{"connectivity", "test", "--test", "conn.pod-pod-same-node,conn.clusterip"}}}},
}

// settle waits until each real node runs exactly one pod on the pod
// network (its CoreDNS replica: the rig spreads them) and holds no IP for
// a pod that is gone (the runtime releases it a moment after the API
// server forgets the pod), so a transcript shows the same rows every run.
func settle(t *testing.T) {
	t.Helper()
	var why string
	for try := 0; try < 60; try++ {
		why = ""
		for i := 0; i < realNodes; i++ {
			files, pods := ipamFiles(t, i, cb0), podNetworkPods(t, nodeName(i))
			if len(pods) != 1 || len(files) != len(pods) {
				why += fmt.Sprintf(" node %d: %d allocations, pods on the pod network %v (want CoreDNS alone);", i, len(files), pods)
			}
		}
		if why == "" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("the real nodes did not settle in 30s:%s", why)
}

var (
	readmeBackupRe = regexp.MustCompile(`acknet-backup-[a-z0-9-]+-\d{8}-\d{6}(-\d+)?`)
	// What differs from run to run: ports, times, backup names.
	volatile = []*regexp.Regexp{
		regexp.MustCompile(`https?://127\.0\.0\.1:\d{3,5}`),
		regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`),
		readmeBackupRe,
		regexp.MustCompile(`go[0-9][0-9a-z.+-]* [a-z0-9]+/[a-z0-9]+|devel [^ ]+ [a-z0-9]+/[a-z0-9]+`),
		// A bundle's size varies with its timestamps' digits.
		regexp.MustCompile(`\(\d+(\.\d+)? (B|kB|MB), \d+ files\)`),
	}
	// What also differs on real nodes: addresses, IDs, ages, counts. The
	// nodes' names hold their addresses: they become node-A, node-B first.
	realNodeName = regexp.MustCompile(`cn-hangzhou\.172\.18\.0\.1(\d)\b`)
	exitLine     = regexp.MustCompile(`^\(exit \d+\)$`)
	looseRes     = []*regexp.Regexp{
		// conntrack's per-protocol counts: which protocols the table holds varies.
		regexp.MustCompile(`\b[a-z0-9]+=\d+(,[a-z0-9]+=\d+)*\b`),
		regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}(/\d+)?\b`),
		regexp.MustCompile(`\b[0-9a-f]{12,64}\b`),
		regexp.MustCompile(`\b(\d+(\.\d+)?(ms|h|m|s))+\b`),
		regexp.MustCompile(`\d+`),
	}
	blanks = regexp.MustCompile(`[ \t]+`)
)

// loose is mask, then node names made node-A, node-B, and addresses, IDs,
// durations, per-protocol counts and numbers made one token each, and runs
// of blanks one blank (column widths follow the numbers); exit codes stay
// exact. What is left still fails on any word, row or exit code that
// changes.
func loose(s string) string {
	// Letters, not digits: the numbers are masked next.
	s = realNodeName.ReplaceAllStringFunc(mask(s), func(m string) string { return "node-" + string(rune('A'+m[len(m)-1]-'0')) })
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if exitLine.MatchString(l) {
			continue
		}
		for _, re := range looseRes {
			l = re.ReplaceAllString(l, "#")
		}
		lines[i] = strings.TrimRight(blanks.ReplaceAllString(l, " "), " ")
	}
	return strings.Join(lines, "\n")
}

func mask(s string) string {
	for i, re := range volatile {
		s = re.ReplaceAllString(s, fmt.Sprintf("<volatile %d>", i))
	}
	return s
}

// run plays the steps and returns the transcript text.
func (tr transcript) run(t *testing.T) string {
	t.Helper()
	if tr.real {
		useRealRig(t)
		settle(t)
	}
	if tr.scenario != "" {
		load(t, tr.scenario)
	}
	if tr.setup != nil {
		tr.setup(t)
	}
	var env []string
	endpoint := ""
	if tr.cloud != "" {
		w, err := cloudtest.LoadWorld(filepath.Join(repoRoot, tr.cloud))
		if err != nil {
			t.Fatal(err)
		}
		w.Keys = []cloudtest.Key{{ID: cloudKeyID, Secret: cloudKeySecret}}
		endpoint = startCloud(t, w).URL()
		env = []string{cloud.EnvAccessKeyID + "=" + cloudKeyID, cloud.EnvAccessKeySecret + "=" + cloudKeySecret}
	}
	dir := ""
	if tr.inTemp {
		dir = t.TempDir()
	}
	var b strings.Builder
	backup := ""
	for _, s := range tr.steps {
		args := make([]string, len(s.args))
		for i, a := range s.args {
			args[i] = strings.ReplaceAll(strings.ReplaceAll(a, "{backup}", backup), "{endpoint}", endpoint)
		}
		show := strings.ReplaceAll(s.show, "{endpoint}", endpoint)
		if show == "" {
			show = "kubectl acknet " + strings.Join(args, " ")
		}
		out, code := runCombined(t, dir, env, args...)
		fmt.Fprintf(&b, "$ %s\n%s", show, out)
		if code != 0 {
			fmt.Fprintf(&b, "(exit %d)\n", code)
		}
		if m := readmeBackupRe.FindString(out); m != "" && backup == "" {
			backup = m
		}
	}
	return b.String()
}

// runCombined runs the plugin with stdout and stderr on one pipe, so the
// transcript shows them in the order a terminal would.
func runCombined(t *testing.T, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl-acknet"), args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig), env...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "internal error") {
		t.Errorf("%v printed an internal error:\n%s", args, out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return string(out), 0
}

// readmeBlock finds the fenced block after the marker of name: the text
// between the fences and its byte range in readme.
func readmeBlock(readme, name string) (string, int, int, error) {
	marker := "<!-- transcript " + name + " -->\n```\n"
	i := strings.Index(readme, marker)
	if i < 0 {
		return "", 0, 0, fmt.Errorf("README has no %q", strings.TrimSpace(strings.Split(marker, "\n")[0]))
	}
	start := i + len(marker)
	end := strings.Index(readme[start:], "```\n")
	if end < 0 {
		return "", 0, 0, fmt.Errorf("README transcript %s has no closing fence", name)
	}
	return readme[start : start+end], start, start + end, nil
}

// The README's transcripts are what the binary prints: a change of output
// or a hand edit fails here (make verify runs it). ACKNET_UPDATE_README=1
// (make readme) writes the new output into the README instead.
func TestREADMETranscripts(t *testing.T) {
	path := filepath.Join(repoRoot, "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	update := os.Getenv("ACKNET_UPDATE_README") == "1"
	for _, tr := range readmeTranscripts {
		if tr.real && !withNodes {
			t.Errorf("transcript %s needs the real nodes: run without ACKNET_E2E_REAL_NODES=0", tr.name)
			continue
		}
		var got string
		// A transcript that could not be played is neither written nor
		// compared: its error says why.
		if !t.Run(tr.name, func(t *testing.T) { got = tr.run(t) }) {
			continue
		}
		want, start, end, err := readmeBlock(readme, tr.name)
		if err != nil {
			t.Error(err)
			continue
		}
		if update {
			readme = readme[:start] + got + readme[end:]
			continue
		}
		same := mask(got) == mask(want)
		if tr.real {
			same = loose(got) == loose(want)
		}
		if !same {
			t.Errorf("README transcript %s is not what the binary prints (run make readme):\n--- README\n%s\n--- binary\n%s", tr.name, want, got)
		}
	}
	if update {
		if err := os.WriteFile(path, []byte(readme), 0o644); err != nil { //nolint:gosec // the README is world-readable
			t.Fatal(err)
		}
	}
}
