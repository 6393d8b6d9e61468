package nodescripts

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestIPVSModules(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.file("proc/modules", "ip_vs 180224 6 ip_vs_rr, Live 0x0\nnf_conntrack 172032 5 ip_vs, Live 0x0\n")
		h.file("sys/module/nf_conntrack/refcnt", "5\n")
		h.file("etc/modules-load.d/k8s.conf", "br_netfilter\nip_vs\n")
		h.stub("modinfo", `case "$1" in ip_vs_lc|ip_vs|nf_conntrack) exit 0;; *) exit 1;; esac`)
		h.stub("modprobe", `echo "$1" >> "$HOST_ROOT/modprobe.log"; [ "$1" = ip_vs_lc ]`)

		out, stderr, err := h.run(sh, IPVSModules, map[string]string{"SCHEDULER": "lc"})
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		r, err := ParseModules(out)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Module{}
		for _, m := range r.Modules {
			got[m.Name] = m
		}
		if m := got["ip_vs"]; !m.Loaded || !m.Persisted {
			t.Errorf("ip_vs %+v", m)
		}
		// busybox sh runs its own modinfo/modprobe applets ahead of PATH;
		// here they find no /lib/modules, so the module is unavailable and
		// loading fails: the stubs, and what they allow, are dash's part.
		applets := sh[0] == "busybox"
		if m := got["ip_vs_lc"]; m.Loaded || m.Available == applets || m.Persisted {
			t.Errorf("ip_vs_lc %+v", m)
		}
		if m := got["nf_conntrack"]; !m.Loaded || m.Persisted {
			t.Errorf("nf_conntrack %+v", m)
		}
		if _, err := os.Stat(filepath.Join(h.root, "modprobe.log")); err == nil {
			t.Error("a read-only run called modprobe")
		}

		// Apply twice: the second run must not add duplicate lines.
		env := map[string]string{"SCHEDULER": "lc", "APPLY": "1", "PERSIST_FILE": "/etc/modules-load.d/ack-ipvs-modules.conf"}
		out, stderr, err = h.run(sh, IPVSModules, env)
		if applets {
			r, _ = ParseModules(out)
			// A load failed: nothing is persisted, not even what is loaded.
			if err == nil || r.Failed["ip_vs_lc"] == "" || len(r.Persisted) != 0 {
				t.Errorf("busybox apply: err %v, %+v", err, r)
			}
			if _, err := os.Stat(filepath.Join(h.root, "etc/modules-load.d/ack-ipvs-modules.conf")); err == nil {
				t.Error("the persist file was written although a module could not be loaded")
			}
			return
		}
		if err != nil {
			t.Fatalf("%v: %s\n%s", err, stderr, out)
		}
		r, _ = ParseModules(out)
		if strings.Join(r.Loaded, ",") != "ip_vs_lc" || strings.Join(r.Persisted, ",") != "ip_vs_lc,nf_conntrack" {
			t.Errorf("apply: loaded %v persisted %v", r.Loaded, r.Persisted)
		}
		h.file("proc/modules", "ip_vs 1 0 - Live 0x0\nip_vs_lc 1 0 - Live 0x0\nnf_conntrack 1 0 - Live 0x0\n")
		if _, _, err := h.run(sh, IPVSModules, env); err != nil {
			t.Fatal(err)
		}
		conf, _ := os.ReadFile(filepath.Join(h.root, "etc/modules-load.d/ack-ipvs-modules.conf"))
		if string(conf) != "ip_vs_lc\nnf_conntrack\n" {
			t.Errorf("persist file %q", conf)
		}
	})
}

func TestIPVSModulesLoadFailure(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.file("proc/modules", "")
		h.stub("modinfo", "exit 1")
		h.stub("modprobe", `echo "modprobe: FATAL: Module $1 not found in directory /lib/modules/4.19.91" >&2; exit 1`)
		out, _, err := h.run(sh, IPVSModules, map[string]string{"SCHEDULER": "mh", "APPLY": "1"})
		if err == nil {
			t.Fatal("want a non-zero exit")
		}
		r, perr := ParseModules(out)
		want := "not found in directory"
		if sh[0] == "busybox" {
			want = "/lib/modules" // its own modprobe applet
		}
		if perr != nil || !strings.Contains(r.Failed["ip_vs_mh"], want) {
			t.Errorf("%v %+v", perr, r)
		}
	})
}

func TestIPVSTimeout(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.file("proc/net/ip_vs", "IP Virtual Server version 1.2.1 (size=4096)\n")
		state := filepath.Join(h.root, "timeouts")
		if err := os.WriteFile(state, []byte("900 120 300"), 0o644); err != nil {
			t.Fatal(err)
		}
		h.stub("ipvsadm", `f="`+state+`"
case "$1" in
-L) echo "Timeout (tcp tcpfin udp): $(cat "$f")" ;;
--set) echo "$2 $3 $4" > "$f" ;;
*) exit 2 ;;
esac`)
		out, stderr, err := h.run(sh, IPVSTimeout, nil)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		r, err := ParseTimeouts(out)
		if err != nil || r.Current == nil || r.Current.String() != "900 120 300" {
			t.Fatalf("%v %+v\n%s", err, r, out)
		}
		out, stderr, err = h.run(sh, IPVSTimeout, map[string]string{"TCP": "900", "TCPFIN": "120", "UDP": "10"})
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		r, err = ParseTimeouts(out)
		if err != nil || r.Old.String() != "900 120 300" || r.New.String() != "900 120 10" {
			t.Errorf("%v %+v", err, r)
		}
	})
}

func TestIPVSTimeoutWithoutIpvsadm(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		_, stderr, err := h.run(sh, IPVSTimeout, nil)
		if err == nil || !strings.Contains(stderr, "yum install -y ipvsadm") {
			t.Errorf("err %v stderr %q", err, stderr)
		}
	})
}

// A kernel without module support (no /proc/modules, as on the rig's nodes):
// what /sys/module shows is built in, needs no persisting, and an apply that
// cannot load ip_vs writes nothing.
func TestIPVSModulesBuiltinKernel(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.file("sys/module/nf_conntrack/parameters/hashsize", "262144\n")
		h.stub("modinfo", "exit 1")
		h.stub("modprobe", `echo "modprobe: FATAL: Module $1 not found in directory /lib/modules/6.18.44" >&2; exit 1`)
		env := map[string]string{"SCHEDULER": "rr", "APPLY": "1", "PERSIST_FILE": "/etc/modules-load.d/ack-ipvs-modules.conf"}
		out, _, err := h.run(sh, IPVSModules, env)
		if err == nil {
			t.Fatalf("want a non-zero exit:\n%s", out)
		}
		r, perr := ParseModules(out)
		if perr != nil {
			t.Fatal(perr)
		}
		for _, m := range r.Modules {
			builtin := m.Name == "nf_conntrack"
			if m.Builtin != builtin || m.Loaded != builtin || m.Persisted != builtin {
				t.Errorf("%+v", m)
			}
		}
		if len(r.Failed) != 2 || len(r.Persisted) != 0 {
			t.Errorf("failed %v persisted %v", r.Failed, r.Persisted)
		}
		if _, err := os.Stat(filepath.Join(h.root, "etc/modules-load.d")); err == nil {
			t.Error("modules-load.d was created although nothing could be loaded")
		}
	})
}

// Without ip_vs in the kernel the script says so, sets nothing and loads
// nothing (ipvsadm itself would try modprobe).
func TestIPVSTimeoutWithoutIPVS(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.stub("ipvsadm", `echo "$@" >> "$HOST_ROOT/ipvsadm.log"; exit 1`)
		h.stub("modprobe", "exit 1")
		_, stderr, err := h.run(sh, IPVSTimeout, map[string]string{"TCP": "900", "TCPFIN": "120", "UDP": "10"})
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 4 || !strings.Contains(stderr, "the kernel has no IPVS") {
			t.Errorf("err %v stderr %q", err, stderr)
		}
		if _, err := os.Stat(filepath.Join(h.root, "ipvsadm.log")); err == nil {
			t.Error("ipvsadm ran")
		}
	})
}
