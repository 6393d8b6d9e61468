//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeRoot is a host root for node scripts: busybox-static as the shell and
// tools, /dev/null, and the files and stubs a test writes. kwok runs the
// debug pod's exec on this machine, and the scripts chroot into it exactly as
// they chroot into /host on a real node. Only what this machine cannot have
// is faked with it (a kernel with IPVS); every other node command is tested
// on the real nodes.
type fakeRoot struct {
	t   *testing.T
	dir string
}

func newFakeRoot(t *testing.T) *fakeRoot {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the node e2e tests chroot into a fake host root and need root")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox-static is required: %v", err)
	}
	dir := t.TempDir()
	r := &fakeRoot{t: t, dir: dir}
	for _, d := range []string{"bin", "usr/bin", "dev", "proc/sys/net/netfilter"} {
		r.mkdir(d)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	applets, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if a == "busybox" || strings.ContainsRune(a, '[') {
			continue
		}
		_ = os.Symlink("busybox", filepath.Join(dir, "bin", a))
	}
	if err := os.Symlink("../../bin/busybox", filepath.Join(dir, "usr/bin/env")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(dir, "dev/null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatalf("mknod /dev/null: %v", err)
	}
	return r
}

func (r *fakeRoot) mkdir(rel string) {
	r.t.Helper()
	if err := os.MkdirAll(filepath.Join(r.dir, rel), 0o755); err != nil {
		r.t.Fatal(err)
	}
}

func (r *fakeRoot) write(rel, content string, age time.Duration) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	r.mkdir(filepath.Dir(rel))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if age > 0 {
		when := time.Now().Add(-age)
		if err := os.Chtimes(p, when, when); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *fakeRoot) stub(name, body string) {
	r.t.Helper()
	p := filepath.Join(r.dir, "usr/bin", name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		r.t.Fatal(err)
	}
}
