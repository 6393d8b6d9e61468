package nodescripts

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shells are the POSIX shells every script must run under: dash (Debian's
// /bin/sh) and busybox sh (minimal node images and the debug pod image).
var shells = [][]string{{"dash"}, {"busybox", "sh"}}

const (
	sandboxA = "7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678a"
	sandboxB = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29180706f5e4d3c2b1a0f9e8d7c6b"
	goneC    = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
	goneD    = "d00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00d"
	goneE    = "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"
)

type fakeHost struct {
	t    *testing.T
	root string
	bin  string
}

// scriptTools are the commands the scripts use besides the shell builtins.
var scriptTools = []string{"date", "sed", "tr", "stat", "cut", "cat", "awk", "grep", "tail", "mkdir", "mv", "flock", "dirname", "busybox", "head", "base64", "rm"}

// newFakeHost builds a fake host root and a PATH that holds only stubs and
// the basic tools, so that the machine's own crictl or docker stay hidden.
func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	h := &fakeHost{t: t, root: t.TempDir(), bin: t.TempDir()}
	for _, tool := range scriptTools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s is required: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(h.bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *fakeHost) file(rel, content string) {
	h.t.Helper()
	p := filepath.Join(h.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// stub puts a fake command on PATH.
func (h *fakeHost) stub(name, body string) {
	h.t.Helper()
	p := filepath.Join(h.bin, name)
	_ = os.Remove(p)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		h.t.Fatal(err)
	}
}

// alloc writes a host-local file in the current format: ID\r\nifname.
func (h *fakeHost) alloc(dir, ip, id string) {
	h.file(filepath.Join(dir, ip), id+"\r\neth0")
}

func (h *fakeHost) run(shell []string, s Script, env map[string]string, args ...string) (string, string, error) {
	h.t.Helper()
	argv := append(append([]string{}, shell[1:]...), "-c", s.Text, "acknet-"+s.Name)
	argv = append(argv, args...)
	cmd := exec.Command(shell[0], argv...)
	cmd.Env = []string{"PATH=" + h.bin, "HOST_ROOT=" + h.root}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func forEachShell(t *testing.T, fn func(t *testing.T, shell []string)) {
	for _, sh := range shells {
		if _, err := exec.LookPath(sh[0]); err != nil {
			t.Fatalf("%s is required for the script tests (apt-get install dash busybox-static): %v", sh[0], err)
		}
		t.Run(strings.Join(sh, " "), func(t *testing.T) { fn(t, sh) })
	}
}

var scanEnv = map[string]string{"NETWORK": "cb0", "IPAM_DIRS": "/var/lib/cni/networks /var/run/cni/networks"}

func TestFlannelScan(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		d := "var/lib/cni/networks/cb0"
		h.alloc(d, "172.20.1.2", sandboxA)
		h.alloc(d, "fd00:10:244:1::2", sandboxA)
		h.alloc(d, "172.20.1.3", goneC)
		h.file(d+"/10.244.0.7", goneD) // pre-v0.8 format: ID only, no newline
		h.file(d+"/lock", "")
		h.file(d+"/last_reserved_ip.0", "172.20.1.3")
		h.file(d+"/not an ip", "x")
		h.alloc("var/run/cni/networks/cb0", "172.20.1.9", sandboxB)
		conflist := "{\n  \"name\": \"cb0\",\n  \"plugins\": [{\"type\": \"flannel\", \"dataDir\": \"/var/run/cni/flannel\"}]\n}\n"
		h.file("etc/cni/net.d/10-flannel.conflist", conflist)
		h.stub("crictl", `[ "$1 $2" = "pods -q" ] || exit 9; echo `+sandboxA+`; echo `+sandboxB)

		out, stderr, err := h.run(sh, FlannelScan, scanEnv)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		r, err := ParseScan(out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !r.Runtime.OK || r.Runtime.Name != "crictl" || len(r.Runtime.Sandboxes) != 2 {
			t.Errorf("runtime %+v", r.Runtime)
		}
		if !r.Dirs["/var/lib/cni/networks/cb0"] || !r.Dirs["/var/run/cni/networks/cb0"] {
			t.Errorf("dirs %v", r.Dirs)
		}
		if got := r.CNIConfs["/etc/cni/net.d/10-flannel.conflist"]; got != conflist || len(r.CNIConfs) != 1 {
			t.Errorf("CNI configs %q", r.CNIConfs)
		}
		for _, base := range []string{"/var/lib/cni/networks", "/var/run/cni/networks"} {
			if fs := r.FSTypes[base]; fs == "" || fs == "-" {
				t.Errorf("filesystem of %s: %q (%v)", base, fs, r.FSTypes)
			}
		}
		got := map[string]string{}
		for _, a := range r.Allocations {
			got[a.Dir+" "+a.IP.String()] = a.ContainerID + "/" + a.IfName
			if time.Since(a.ModTime) > time.Hour {
				t.Errorf("%s: mtime %s", a.IP, a.ModTime)
			}
		}
		want := map[string]string{
			"/var/lib/cni/networks/cb0 172.20.1.2":       sandboxA + "/eth0",
			"/var/lib/cni/networks/cb0 fd00:10:244:1::2": sandboxA + "/eth0",
			"/var/lib/cni/networks/cb0 172.20.1.3":       goneC + "/eth0",
			"/var/lib/cni/networks/cb0 10.244.0.7":       goneD + "/",
			"/var/run/cni/networks/cb0 172.20.1.9":       sandboxB + "/eth0",
		}
		if len(got) != len(want) {
			t.Errorf("allocations %v", got)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
	})
}

// A relative IPAM dir (a bad kube-flannel-cfg) must not hang the scan.
func TestFlannelScanRelativeDir(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.stub("crictl", `echo `+sandboxA)
		done := make(chan struct{})
		var out string
		var err error
		go func() {
			defer close(done)
			out, _, err = h.run(sh, FlannelScan, map[string]string{"NETWORK": "cb0", "IPAM_DIRS": "var/lib/cni/networks /var/run/cni/networks"})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the scan hangs on a relative IPAM dir")
		}
		r, perr := ParseScan(out)
		if err != nil || perr != nil || r.FSTypes["var/lib/cni/networks"] != "-" {
			t.Errorf("%v %v %+v", err, perr, r)
		}
	})
}

func TestFlannelScanRuntimeFailures(t *testing.T) {
	tests := []struct {
		name    string
		stubs   map[string]string
		runtime string
		errPart string
		ok      bool
		count   int
	}{
		{name: "crictl fails", stubs: map[string]string{"crictl": `echo 'connect: connect endpoint "unix:///run/containerd/containerd.sock": permission denied' >&2; exit 1`},
			runtime: "crictl", errPart: "permission denied"},
		{name: "docker runtime", stubs: map[string]string{"docker": `echo ` + sandboxA},
			runtime: "docker", ok: true, count: 1},
		{name: "no runtime tool", runtime: "none", errPart: "neither crictl nor docker"},
		// crictl without /etc/crictl.yaml warns on stderr; an empty listing
		// stays empty (and is refused later), the warning is no sandbox.
		{name: "crictl warns on stderr, lists nothing", stubs: map[string]string{"crictl": `echo 'WARN[0000] Config "/etc/crictl.yaml" does not exist, trying next: "/usr/bin/crictl.yaml"' >&2; echo 'WARN[0000] runtime connect using default endpoints: [unix:///run/containerd/containerd.sock]' >&2`},
			runtime: "crictl", ok: true, count: 0},
		{name: "crictl warns on stderr, lists two", stubs: map[string]string{"crictl": `echo 'time="2026-12-01T15:33:45Z" level=warning msg="runtime connect using default endpoints"' >&2; echo ` + sandboxA + `; echo ` + sandboxB},
			runtime: "crictl", ok: true, count: 2},
		{name: "a word that is no ID on stdout", stubs: map[string]string{"crictl": `echo ` + sandboxA + `; echo 'level=warning'`},
			runtime: "crictl", errPart: "unexpected word in the sandbox listing: level=warning"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, sh []string) {
				h := newFakeHost(t)
				h.alloc("var/lib/cni/networks/cb0", "172.20.1.2", sandboxA)
				for name, body := range tt.stubs {
					h.stub(name, body)
				}
				out, stderr, err := h.run(sh, FlannelScan, scanEnv)
				if err != nil {
					t.Fatalf("%v: %s", err, stderr)
				}
				r, err := ParseScan(out)
				if err != nil {
					t.Fatal(err)
				}
				if r.Runtime.Name != tt.runtime || r.Runtime.OK != tt.ok || len(r.Runtime.Sandboxes) != tt.count || !strings.Contains(r.Runtime.Err, tt.errPart) {
					t.Errorf("runtime %+v", r.Runtime)
				}
			})
		})
	}
}

// A file whose age cannot be read must not look old enough to release. Under
// dash only: busybox sh runs its own stat applet ahead of any PATH stub.
func TestFlannelScanStatFails(t *testing.T) {
	h := newFakeHost(t)
	h.alloc("var/lib/cni/networks/cb0", "172.20.1.2", goneC)
	h.stub("crictl", "echo "+sandboxA)
	h.stub("stat", `echo "stat: cannot statx '$3': Permission denied" >&2; exit 1`)
	out, stderr, err := h.run([]string{"dash"}, FlannelScan, scanEnv)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	if !strings.Contains(out, "alloc\t/var/lib/cni/networks/cb0\t172.20.1.2\t"+goneC+"\teth0\t-\n") {
		t.Errorf("want an unknown mtime (-):\n%s", out)
	}
	r, err := ParseScan(out)
	if err != nil || len(r.Allocations) != 1 || !r.Allocations[0].ModTime.IsZero() {
		t.Fatalf("%v %+v", err, r)
	}
}

func TestFlannelScanTakesParametersLiterally(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.stub("crictl", "true")
		marker := filepath.Join(h.root, "pwned")
		env := map[string]string{"NETWORK": "cb0; touch " + marker + " #", "IPAM_DIRS": "/var/lib/cni/networks"}
		out, stderr, err := h.run(sh, FlannelScan, env)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("a parameter was executed as shell code")
		}
		if !strings.Contains(out, "dir\t/var/lib/cni/networks/cb0; touch") {
			t.Errorf("output %q", out)
		}
	})
}

func TestFlannelGCApply(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		d := "var/lib/cni/networks/cb0"
		h.alloc(d, "172.20.1.2", sandboxA) // live
		h.alloc(d, "172.20.1.3", goneC)
		h.alloc(d, "172.20.1.4", goneD)
		h.alloc(d, "fd00:10:244:1::5", goneE)
		h.alloc(d, "172.20.1.6", sandboxB) // live
		h.alloc(d, "172.20.1.7", sandboxB) // was leaked at scan time, reused since
		h.file(d+"/lock", "")
		env := map[string]string{"NETWORK_DIR": "/" + d, "BACKUP_DIR": "/var/lib/cni/acknet-backup/cb0-test"}
		out, stderr, err := h.run(sh, FlannelGCApply, env,
			"172.20.1.3", goneC, "172.20.1.4", goneD, "fd00:10:244:1::5", goneE, "172.20.1.7", goneC, "172.20.1.8", goneC)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		recs, err := ParseApply(out)
		if err != nil {
			t.Fatal(err)
		}
		moved, kept := 0, map[string]string{}
		for _, r := range recs {
			if r.Moved {
				moved++
				if _, err := os.Stat(filepath.Join(h.root, r.Detail)); err != nil {
					t.Errorf("backup of %s missing: %v", r.IP, err)
				}
			} else {
				kept[r.IP] = r.Detail
			}
		}
		if moved != 3 || !strings.Contains(kept["172.20.1.7"], "now names container "+sandboxB) || kept["172.20.1.8"] != "file is gone" {
			t.Errorf("moved %d, kept %v", moved, kept)
		}
		left, _ := os.ReadDir(filepath.Join(h.root, d))
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != "172.20.1.2 172.20.1.6 172.20.1.7 lock" {
			t.Errorf("left in the network dir: %v", names)
		}
	})
}

func TestFlannelGCApplyRefusals(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		d := "var/lib/cni/networks/cb0"
		h.alloc(d, "172.20.1.3", goneC)
		for _, tt := range []struct {
			env  map[string]string
			args []string
			want string
		}{
			{map[string]string{"NETWORK_DIR": "/" + d, "BACKUP_DIR": "/" + d + "/backup"}, []string{"172.20.1.3", goneC}, "outside NETWORK_DIR"},
			{map[string]string{"NETWORK_DIR": "/" + d, "BACKUP_DIR": "/b"}, []string{"172.20.1.3"}, "pairs"},
			{map[string]string{"NETWORK_DIR": "/nope", "BACKUP_DIR": "/b"}, nil, "does not exist"},
		} {
			_, stderr, err := h.run(sh, FlannelGCApply, tt.env, tt.args...)
			if err == nil || !strings.Contains(stderr, tt.want) {
				t.Errorf("env %v: err %v stderr %q, want %q", tt.env, err, stderr, tt.want)
			}
		}
		if _, err := os.Stat(filepath.Join(h.root, d, "172.20.1.3")); err != nil {
			t.Error("a refused run moved a file")
		}
	})
}

func TestConntrack(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.file("proc/sys/net/netfilter/nf_conntrack_count", "3\n")
		h.file("proc/sys/net/netfilter/nf_conntrack_max", "4\n")
		h.file("proc/sys/net/netfilter/nf_conntrack_buckets", "1024\n")
		h.file("proc/net/nf_conntrack", strings.Join([]string{
			"ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [ASSURED] mark=0 zone=0 use=2",
			"ipv4     2 udp      17 29 src=10.0.0.1 dst=10.96.0.10 sport=3 dport=53 [UNREPLIED] mark=0 zone=0 use=2",
			"ipv6     10 tcp      6 86399 ESTABLISHED src=fd00::1 dst=fd00::2 sport=1 dport=2 mark=0 zone=0 use=2",
			// A reply from port 53 is no DNS query of this node's pods.
			"ipv4     2 udp      17 29 src=10.0.0.9 dst=10.0.0.1 sport=53 dport=4000 src=10.0.0.1 dst=10.0.0.9 sport=4000 dport=53 mark=0 zone=0 use=2",
		}, "\n")+"\n")
		h.stub("dmesg", `echo '[  12.3] eth0: link up'; echo '[ 812.0] nf_conntrack: nf_conntrack: table full, dropping packet'`)
		out, stderr, err := h.run(sh, Conntrack, nil)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		c, err := ParseConntrack(out)
		if err != nil {
			t.Fatal(err)
		}
		if c.Count != 3 || c.Max != 4 || c.Buckets != 1024 || c.Protocols["tcp"] != 2 || c.Protocols["udp"] != 2 || c.Usage() != 75 || c.DNS != 1 {
			t.Errorf("%+v", c)
		}
		// busybox sh runs its own dmesg applet ahead of PATH, so the stub
		// (and the kernel log line) is only seen under dash.
		if sh[0] == "dash" && !strings.Contains(c.TableFull, "table full, dropping packet") {
			t.Errorf("table full line %q", c.TableFull)
		}
	})
}

func TestConntrackSet(t *testing.T) {
	tests := []struct {
		name       string
		max        string
		apply      bool
		readOnly   bool
		allowLower bool
		noCount    bool
		wantCode   int
		wantNew    int64
		wantFile   bool
		wantError  string
	}{
		{name: "dry run changes nothing", max: "655350", wantCode: 0},
		{name: "apply sets and persists", max: "655350", apply: true, wantCode: 0, wantNew: 655350, wantFile: true},
		{name: "below the count: refused", max: "100", apply: true, wantCode: ExitBelowCount, wantError: "below the 3000 entries"},
		{name: "read-only: nothing persisted", max: "655350", apply: true, readOnly: true, wantCode: 1, wantError: "the kernel refused it"},
		{name: "below the limit: refused", max: "200000", apply: true, wantCode: ExitBelowLimit, wantError: "below the current limit 262144"},
		{name: "below the limit with ALLOW_LOWER", max: "200000", apply: true, allowLower: true, wantCode: 0, wantNew: 200000, wantFile: true},
		{name: "count unreadable: refused", max: "655350", apply: true, noCount: true, wantCode: 1, wantError: "cannot read nf_conntrack_count"},
	}
	for _, tt := range tests {
		forEachShell(t, func(t *testing.T, sh []string) {
			t.Run(tt.name, func(t *testing.T) {
				h := newFakeHost(t)
				if !tt.noCount {
					h.file("proc/sys/net/netfilter/nf_conntrack_count", "3000\n")
				}
				h.file("proc/sys/net/netfilter/nf_conntrack_max", "262144\n")
				maxFile := filepath.Join(h.root, "proc/sys/net/netfilter/nf_conntrack_max")
				if tt.readOnly {
					// A sysctl of mode 0444 refuses writes even from root, as a
					// network namespace's nf_conntrack_max does; reading it
					// gives a number. The write is refused: nothing changes.
					if err := os.Remove(maxFile); err != nil {
						t.Fatal(err)
					}
					if err := os.Symlink("/proc/sys/kernel/ngroups_max", maxFile); err != nil {
						t.Fatal(err)
					}
				}
				env := map[string]string{"MAX": tt.max, "DROPIN": ConntrackDropIn}
				if tt.apply {
					env["APPLY"] = "1"
				}
				if tt.allowLower {
					env["ALLOW_LOWER"] = "1"
				}
				out, stderr, err := h.run(sh, ConntrackSet, env)
				code := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				}
				if code != tt.wantCode || (tt.wantError != "" && !strings.Contains(stderr, tt.wantError)) {
					t.Fatalf("exit %d (%v), stderr %q, out %q", code, err, stderr, out)
				}
				// The script's message, not the shell's own redirection error
				// ("cannot create ...", "can't create ...").
				if tt.readOnly && strings.Contains(stderr, "create") {
					t.Errorf("stderr has more than the script's message: %q", stderr)
				}
				_, statErr := os.Stat(filepath.Join(h.root, ConntrackDropIn))
				if (statErr == nil) != tt.wantFile {
					t.Errorf("drop-in written: %v, want %v", statErr == nil, tt.wantFile)
				}
				if code != 0 {
					return
				}
				r, err := ParseConntrackSet(out)
				if err != nil || r.Count != 3000 || r.Old != 262144 || r.New != tt.wantNew {
					t.Errorf("%+v %v", r, err)
				}
				if tt.wantFile {
					b, _ := os.ReadFile(filepath.Join(h.root, ConntrackDropIn))
					if !strings.Contains(string(b), "net.netfilter.nf_conntrack_max = "+tt.max) || !strings.Contains(string(b), "the value before was 262144") || r.Persisted != ConntrackDropIn {
						t.Errorf("drop-in %q, persisted %q", b, r.Persisted)
					}
					if now, _ := os.ReadFile(maxFile); strings.TrimSpace(string(now)) != tt.max {
						t.Errorf("nf_conntrack_max is %q", now)
					}
				}
			})
		})
	}
}

func TestConntrackWithoutModule(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		_, stderr, err := h.run(sh, Conntrack, nil)
		if err == nil || !strings.Contains(stderr, "is nf_conntrack loaded") {
			t.Errorf("err %v, stderr %q", err, stderr)
		}
	})
}

func TestCommand(t *testing.T) {
	argv, err := Command(FlannelScan, "/host", map[string]string{"NETWORK": "cb0", "IPAM_DIRS": "/a /b"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"chroot", "/host", "/usr/bin/env", "-i", "PATH=" + HostPath, "IPAM_DIRS=/a /b", "NETWORK=cb0", "/bin/sh", "-c", FlannelScan.Text, "acknet-flannel-scan", "x"}
	if strings.Join(argv, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("argv %q", argv)
	}
	if _, err := Command(FlannelScan, "/host", map[string]string{"A": "x\ny"}); err == nil {
		t.Error("newline in a value accepted")
	}
	if _, err := Command(FlannelScan, "/host", map[string]string{"A=B": "x"}); err == nil {
		t.Error("bad env name accepted")
	}
}

func TestCombined(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.file("proc/sys/net/netfilter/nf_conntrack_count", "5\n")
		h.file("proc/sys/net/netfilter/nf_conntrack_max", "10\n")
		h.stub("crictl", "exit 0")
		all := Combined("node-checks", IPVSTimeout, Conntrack, FlannelScan)
		out, stderr, err := h.run(sh, all, scanEnv)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		secs := SplitSections(out)
		// ipvsadm is missing: its section fails with status 3, the others run.
		if s := secs["ipvs-timeout"]; s == nil || !s.Ended || s.Status != 3 {
			t.Errorf("ipvs-timeout section %+v", s)
		}
		c, err := ParseConntrack(secs["conntrack"].Output)
		if err != nil || c.Count != 5 || secs["conntrack"].Status != 0 {
			t.Errorf("conntrack %+v %v", c, err)
		}
		if _, err := ParseScan(secs["flannel-scan"].Output); err != nil {
			t.Errorf("scan: %v", err)
		}
	})
}
