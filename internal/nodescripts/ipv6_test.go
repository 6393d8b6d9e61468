package nodescripts

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestListen(t *testing.T) {
	forEachShell(t, func(t *testing.T, sh []string) {
		h := newFakeHost(t)
		h.stub("crictl", `case "$1" in
pods) case "$*" in *io.kubernetes.pod.name=web*) echo sandbox-web;; *) ;; esac ;;
inspectp) echo 4242 ;;
esac`)
		// nginx listening on 0.0.0.0:80 only; a sidecar on [::]:9090 (0x2382);
		// an established connection that is no listener.
		h.file("proc/4242/net/tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
			"   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n"+
			"   1: 0100007F:1F90 0100007F:A0B2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1\n")
		h.file("proc/4242/net/tcp6", "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
			"   0: 00000000000000000000000000000000:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0\n")
		out, stderr, err := h.run(sh, Listen, nil, "shop", "web", "shop", "gone")
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		res, err := ParseListen(out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		web := res["shop/web"]
		if web == nil || web.PID != 4242 || len(web.Sockets) != 3 {
			t.Fatalf("web %+v\n%s", web, out)
		}
		if v6, v4 := web.Listens(80); v6 || !v4 {
			t.Errorf("port 80: v6 %t v4 %t", v6, v4)
		}
		if v6, v4 := web.Listens(9090); !v6 || v4 {
			t.Errorf("port 9090: v6 %t v4 %t", v6, v4)
		}
		if v6, v4 := web.Listens(8080); v6 || v4 {
			t.Error("an established connection counted as a listener")
		}
		if g := res["shop/gone"]; g == nil || !strings.Contains(g.Err, "no ready sandbox") {
			t.Errorf("gone %+v", g)
		}
	})
}

func TestProbeAgainstLoopback(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	open := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	closed, _ := net.Listen("tcp6", "[::1]:0")
	closedPort := strconv.Itoa(closed.Addr().(*net.TCPAddr).Port)
	_ = closed.Close()

	h := newFakeHost(t)
	h.stub("nc", `exec busybox nc "$@"`)
	for _, sh := range shells {
		out, stderr, err := h.run(sh, Probe, map[string]string{"TIMEOUT": "2"}, "::1", open, "::1", closedPort)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		res, err := ParseProbe(out)
		if err != nil || len(res) != 2 {
			t.Fatalf("%v %+v", err, res)
		}
		// The targets are dialled at once; InOrder restores the order asked.
		if res, err = InOrder(res, []string{"::1", open, "::1", closedPort}); err != nil {
			t.Fatal(err)
		}
		if res[0].Result != "reachable" || res[1].Result != "refused" {
			t.Errorf("%s: %+v", sh[0], res)
		}
	}
}
