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
)

// A README transcript: the block after the line "<!-- transcript NAME -->"
// is what these steps print on a fresh load of the scenario.
type transcript struct {
	name, scenario string
	steps          []step
}

type step struct {
	args []string
	// show is the command line as the README shows it (default: the args).
	show string
}

// readmeTranscripts are the README's transcripts of cluster-side commands;
// the node commands' transcripts come from real nodes and vary run to run.
var readmeTranscripts = []transcript{
	{name: "doctor-unreachable", steps: []step{{args: []string{"doctor", "--server", "https://127.0.0.1:1"}}}},
	{name: "doctor-demo", scenario: "flannel-broken", steps: []step{{args: []string{"doctor"}}}},
	{name: "ipv6-verify", scenario: "ipv6-mixed", steps: []step{{args: []string{"ipv6", "verify", "-n", "mall"}}}},
	{name: "fix-list", steps: []step{{args: []string{"fix", "--list"}}}},
	{name: "fix-cycle", scenario: "flannel-broken", steps: []step{
		{args: []string{"fix", "kubeproxy.ipvs-udp-timeout"}},
		{args: []string{"fix", "kubeproxy.ipvs-udp-timeout", "--apply"},
			show: "kubectl acknet fix kubeproxy.ipvs-udp-timeout --apply < /dev/null      # not a terminal, no --yes"},
		{args: []string{"fix", "kubeproxy.ipvs-udp-timeout", "--apply", "--yes"}},
		{args: []string{"doctor", "--checks", "kubeproxy.ipvs-udp-timeout"}},
		{args: []string{"fix", "--rollback", "{backup}", "--yes"}},
		{args: []string{"doctor", "--checks", "kubeproxy.ipvs-udp-timeout"}},
	}},
}

var (
	readmeBackupRe = regexp.MustCompile(`acknet-backup-[a-z0-9-]+-\d{8}-\d{6}(-\d+)?`)
	// What differs from run to run: ports, times, backup names.
	volatile = []*regexp.Regexp{
		regexp.MustCompile(`https://127\.0\.0\.1:\d{3,5}`),
		regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`),
		readmeBackupRe,
	}
)

func mask(s string) string {
	for i, re := range volatile {
		s = re.ReplaceAllString(s, fmt.Sprintf("<volatile %d>", i))
	}
	return s
}

// run plays the steps and returns the transcript text.
func (tr transcript) run(t *testing.T) string {
	t.Helper()
	if tr.scenario != "" {
		load(t, tr.scenario)
	}
	var b strings.Builder
	backup := ""
	for _, s := range tr.steps {
		args := make([]string, len(s.args))
		for i, a := range s.args {
			args[i] = strings.ReplaceAll(a, "{backup}", backup)
		}
		show := s.show
		if show == "" {
			show = "kubectl acknet " + strings.Join(args, " ")
		}
		out, code := runCombined(t, args...)
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
func runCombined(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl-acknet"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
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
		got := tr.run(t)
		want, start, end, err := readmeBlock(readme, tr.name)
		if err != nil {
			t.Error(err)
			continue
		}
		if update {
			readme = readme[:start] + got + readme[end:]
			continue
		}
		if mask(got) != mask(want) {
			t.Errorf("README transcript %s is not what the binary prints (run make readme):\n--- README\n%s\n--- binary\n%s", tr.name, want, got)
		}
	}
	if update {
		if err := os.WriteFile(path, []byte(readme), 0o644); err != nil { //nolint:gosec // the README is world-readable
			t.Fatal(err)
		}
	}
}
