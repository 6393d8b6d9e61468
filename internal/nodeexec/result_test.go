package nodeexec

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestResultWrapper runs the wrapper with sh, as the debug pod does, and
// reads its termination message and log the way Gather does.
func TestResultWrapper(t *testing.T) {
	big := strings.Repeat("count\t1\n", 600) // 4,800 bytes: over the limit
	tests := []struct {
		name       string
		script     string
		limit      string
		wantStatus int
		wantInLog  bool
		wantOut    string
		wantErr    string
	}{
		{"small output in the message", `printf 'count\t120\nmax\t262144\n'`, "4096", 0, false, "count\t120\nmax\t262144\n", ""},
		{"stderr kept apart", `printf 'a\n'; echo 'not loaded' >&2; exit 3`, "4096", 3, false, "a\n", "not loaded\n"},
		{"large output in the log", `awk 'BEGIN { for (i = 0; i < 600; i++) printf "count\t1\n" }'`, "4096", 0, true, big, ""},
		{"a lower limit moves it to the log", `printf 'count\t120\n'`, "40", 0, true, "count\t120\n", ""},
		{"only the end of a long stderr", `awk 'BEGIN { for (i = 0; i < 100; i++) printf "error line %03d\n", i > "/dev/stderr" }'; exit 1`, "4096", 1,
			false, "", ""},
		{"no output", `exit 0`, "4096", 0, false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			msgFile := filepath.Join(dir, "termination-log")
			cmd := exec.Command("sh", "-c", resultWrapper, "acknet-result", "sh", "-c", tc.script)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + dir, ResultFileEnv + "=" + msgFile, MessageLimitEnv + "=" + tc.limit}
			log, err := cmd.Output()
			if err != nil {
				t.Fatalf("wrapper: %v", err)
			}
			msg, err := os.ReadFile(msgFile)
			if err != nil {
				t.Fatal(err)
			}
			if len(msg) > MessageLimit {
				t.Errorf("message of %d bytes, over the kubelet's %d", len(msg), MessageLimit)
			}
			h, stderr, stdout, err := parseResult(string(msg))
			if err != nil {
				t.Fatalf("parse %q: %v", msg, err)
			}
			if h.Status != tc.wantStatus || h.InLog != tc.wantInLog {
				t.Errorf("status %d in log %v, want %d %v", h.Status, h.InLog, tc.wantStatus, tc.wantInLog)
			}
			if h.InLog {
				stdout = string(log)
				if h.OutBytes != len(log) {
					t.Errorf("header says %d bytes, log has %d", h.OutBytes, len(log))
				}
			} else if len(log) != 0 {
				t.Errorf("log %q, want nothing: the output is in the message", log)
			}
			if stdout != tc.wantOut {
				t.Errorf("stdout %q, want %q", stdout, tc.wantOut)
			}
			if strings.HasPrefix(tc.name, "only the end") {
				if len(stderr) != 512 || !strings.HasSuffix(stderr, "error line 099\n") || strings.Contains(stderr, "error line 000") {
					t.Errorf("stderr tail %d bytes %q", len(stderr), stderr)
				}
			} else if stderr != tc.wantErr {
				t.Errorf("stderr %q, want %q", stderr, tc.wantErr)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "acknet.*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func TestParseResult(t *testing.T) {
	tests := []struct {
		name, msg string
		wantErr   string
		wantOut   string
	}{
		{"whole", "acknet-result\t1\t0\tmessage\t3\t0\nab\n", "", "ab\n"},
		{"with stderr", "acknet-result\t1\t2\tmessage\t2\t4\noopsa\n", "", "a\n"},
		{"in the log", "acknet-result\t1\t0\tlog\t9000\t0\n", "", ""},
		{"empty: killed before it wrote", "", "no result", ""},
		{"another program's message", "OOMKilled", "no result", ""},
		{"cut short", "acknet-result\t1\t0\tmessage\t10\t0\nab\n", "cut off", ""},
		{"stderr cut short", "acknet-result\t1\t0\tmessage\t0\t10\nab", "cut off", ""},
		{"bad number", "acknet-result\t1\tx\tmessage\t0\t0\n", "malformed", ""},
		{"negative", "acknet-result\t1\t0\tmessage\t-1\t0\n", "malformed", ""},
		{"unknown way", "acknet-result\t1\t0\tsmoke\t0\t0\n", "malformed", ""},
		{"cut by the kubelet", strings.Repeat("x", MessageLimit), "cut to the kubelet's limit", ""},
		{"other version", "acknet-result\t2\t0\tmessage\t0\t0\n", "no result", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, out, err := parseResult(tc.msg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if out != tc.wantOut {
				t.Errorf("stdout %q, want %q", out, tc.wantOut)
			}
		})
	}
}
