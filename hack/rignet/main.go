// Command rignet joins the rig's control plane, which listens on 127.0.0.1 of
// the test machine, to the rig's own "VPC" network namespace, where the real
// nodes live, without touching the machine's network (no interface, route or
// firewall rule outside the rig's namespaces):
//
//   - an HTTP CONNECT proxy on a unix socket, which kube-apiserver uses as its
//     egress for node, pod and Service traffic (EgressSelectorConfiguration
//     "cluster"): targets on 127.0.0.0/8 are dialled on the machine (kwok's
//     fake kubelets), every other target inside the VPC namespace (the real
//     kubelets);
//   - TCP forwards whose listener lives inside the VPC namespace and whose
//     target is on the machine's loopback, so nodes and pods reach the API
//     server at a VPC address, as ACK nodes reach theirs.
//
// Usage:
//
//	rignet -netns /run/netns/NAME -egress-uds PATH [-forward LISTEN=TARGET]...
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type forwards []string

func (f *forwards) String() string     { return strings.Join(*f, ",") }
func (f *forwards) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var (
		nsPath    = flag.String("netns", "", "path of the VPC network namespace (/run/netns/NAME)")
		egressUDS = flag.String("egress-uds", "", "unix socket of the CONNECT proxy for kube-apiserver's egress")
		fwd       forwards
	)
	flag.Var(&fwd, "forward", "LISTEN=TARGET: listen on LISTEN inside the namespace, dial TARGET on the machine (repeatable)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if *nsPath == "" || *egressUDS == "" {
		fmt.Fprintln(os.Stderr, "usage: rignet -netns PATH -egress-uds PATH [-forward LISTEN=TARGET]...")
		os.Exit(2)
	}
	if err := run(*nsPath, *egressUDS, fwd); err != nil {
		log.Fatalf("rignet: %v", err)
	}
}

func run(nsPath, egressUDS string, fwd []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	vpc := &netns{path: nsPath}

	_ = os.Remove(egressUDS)
	ul, err := net.Listen("unix", egressUDS)
	if err != nil {
		return fmt.Errorf("listen %s: %w", egressUDS, err)
	}
	defer func() { _ = ul.Close(); _ = os.Remove(egressUDS) }()
	go serve(ul, func(c net.Conn) { connectProxy(c, vpc) })

	for _, f := range fwd {
		listen, target, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("-forward %q: want LISTEN=TARGET", f)
		}
		l, err := vpc.listen(listen)
		if err != nil {
			return fmt.Errorf("listen %s in %s: %w", listen, nsPath, err)
		}
		defer func() { _ = l.Close() }()
		go serve(l, func(c net.Conn) {
			d := net.Dialer{Timeout: 10 * time.Second}
			up, err := d.Dial("tcp", target)
			if err != nil {
				log.Printf("forward %s -> %s: %v", listen, target, err)
				_ = c.Close()
				return
			}
			splice(c, up)
		})
		log.Printf("forwarding %s (in %s) to %s", listen, nsPath, target)
	}
	log.Printf("egress proxy on %s", egressUDS)
	<-ctx.Done()
	return nil
}

func serve(l net.Listener, handle func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Printf("accept: %v", err)
			}
			return
		}
		go handle(c)
	}
}

// connectProxy answers one HTTP CONNECT request and splices the streams.
func connectProxy(c net.Conn, vpc *netns) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		_ = c.Close()
		return
	}
	if req.Method != http.MethodConnect {
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		_ = c.Close()
		return
	}
	target := req.Host
	up, err := vpc.dialFor(target)
	if err != nil {
		log.Printf("connect %s: %v", target, err)
		_, _ = fmt.Fprintf(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		_ = c.Close()
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = c.Close()
		_ = up.Close()
		return
	}
	// Bytes the client sent after the request head belong to the tunnel.
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if _, err := up.Write(b); err != nil {
			_ = c.Close()
			_ = up.Close()
			return
		}
	}
	splice(c, up)
}

func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	_ = a.Close()
	_ = b.Close()
}

// netns runs socket creation inside a network namespace. A socket keeps the
// namespace it was created in, so only the socket() call needs the switch.
type netns struct{ path string }

func (n *netns) dialFor(target string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return d.Dial("tcp", target)
	}
	var c net.Conn
	err = n.do(func() error {
		var err error
		c, err = d.Dial("tcp", target)
		return err
	})
	return c, err
}

func (n *netns) listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.do(func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// do runs fn on a thread switched into the namespace. If the thread cannot be
// switched back it stays locked, so the Go runtime discards it.
func (n *netns) do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer func() { _ = orig.Close() }()
	target, err := os.Open(n.path)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer func() { _ = target.Close() }()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", n.path, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		log.Printf("setns back: %v (thread discarded)", err)
		return ferr
	}
	runtime.UnlockOSThread()
	return ferr
}
