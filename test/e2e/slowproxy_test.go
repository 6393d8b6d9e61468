//go:build e2e

package e2e

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// proxy sits between the plugin and the API server; before runs ahead of
// forwarding a request, after ahead of returning its response.
type proxy struct {
	kubeconfig string
}

// newSlowProxy holds the response of matching requests, so an interrupt can
// be sent while a pod create or delete is in flight. It forwards first and
// delays the answer: the server has acted, the client has not heard.
func newSlowProxy(t *testing.T, delay time.Duration, slow func(*http.Request) bool) *proxy {
	t.Helper()
	return newProxy(t, nil, func(resp *http.Response) {
		if slow(resp.Request) {
			time.Sleep(delay)
		}
	})
}

// newNotifyingHoldProxy holds the requests hold picks for delay before
// they reach the server, so a plugin that exits without waiting leaves the
// object; it closes the channel when it starts to hold the first one.
func newNotifyingHoldProxy(t *testing.T, delay time.Duration, hold func(*http.Request) bool) (*proxy, <-chan struct{}) {
	t.Helper()
	held := make(chan struct{})
	var once sync.Once
	return newProxy(t, func(r *http.Request) {
		if hold(r) {
			once.Do(func() { close(held) })
			time.Sleep(delay)
		}
	}, nil), held
}

func newProxy(t *testing.T, before func(*http.Request), after func(*http.Response)) *proxy {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctxName := cfg.CurrentContext
	cluster := cfg.Clusters[cfg.Contexts[ctxName].Cluster]
	target, err := url.Parse(cluster.Server)
	if err != nil {
		t.Fatal(err)
	}
	token := cfg.AuthInfos[cfg.Contexts[ctxName].AuthInfo].Token
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if before != nil {
			before(r.In)
		}
		r.SetURL(target)
		// client-go sends no bearer token to a plain-HTTP server; the proxy
		// adds the admin's on the TLS side.
		r.Out.Header.Set("Authorization", "Bearer "+token)
	}}
	// The test talks to its own loopback API server; its serving cert is
	// self-signed by the rig.
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // test proxy to the local rig
	rp.ModifyResponse = func(resp *http.Response) error {
		if after != nil {
			after(resp)
		}
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	cluster.Server = "http://" + l.Addr().String()
	cluster.CertificateAuthority = ""
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return &proxy{kubeconfig: p}
}

func isPodCall(method string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == method && strings.Contains(r.URL.Path, "/pods") && !strings.Contains(r.URL.Path, "/exec")
	}
}

// runWith is acknet with another kubeconfig.
func runWith(t *testing.T, kc string, args ...string) result {
	t.Helper()
	old := kubeconfig
	kubeconfig = kc
	defer func() { kubeconfig = old }()
	return acknet(t, args...)
}

// runInterruptedWith is runInterrupted with another kubeconfig.
func runInterruptedWith(t *testing.T, kc string, delay time.Duration, args ...string) result {
	t.Helper()
	old := kubeconfig
	kubeconfig = kc
	defer func() { kubeconfig = old }()
	return runInterrupted(t, delay, args...)
}
