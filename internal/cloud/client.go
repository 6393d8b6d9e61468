package cloud

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	ecs "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"
)

// Defaults of Options.
const (
	DefaultConcurrency = 4
	DefaultAttempts    = 6
	DefaultBackoff     = 500 * time.Millisecond
	maxBackoff         = 8 * time.Second
	callTimeout        = 20 * time.Second
)

// Options configure the API clients.
type Options struct {
	Region string
	// Endpoint, when set, receives the VPC and ECS calls instead of the
	// region's public endpoints: a proxy or a test server. A URL; http://
	// only to a loopback address. Only a loopback endpoint also receives
	// the STS and instance-metadata calls (the local test server): an
	// OIDC token or the metadata service's keys never go to a proxy.
	Endpoint string
	// Concurrency bounds the calls in flight (default 4).
	Concurrency int
	// Attempts per call when throttled (default 6); Backoff is the first
	// wait, doubled each time up to 8 s, with jitter.
	Attempts int
	Backoff  time.Duration
	// Env and Home stand in for the process environment and home
	// directory in tests (nil, "": the real ones).
	Env  func(string) string
	Home string
}

// Client calls the VPC and ECS APIs for one region.
type Client struct {
	opts   Options
	source string
	redact *Redactor
	// pool holds one SDK client pair per call in flight: it bounds the
	// concurrency, and the SDK's clients are not safe for concurrent use
	// (each RPC call writes the client's Headers).
	pool chan *sdk

	mu      sync.Mutex
	calls   map[string]int
	retries int
}

// NewClient resolves credentials and builds the clients. It makes no call.
func NewClient(opts Options) (*Client, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Region == "" {
		return nil, errors.New("no region: pass --region")
	}
	if d := os.Getenv("DEBUG"); d != "" {
		// The SDK's debug output (DEBUG=dara, credential) prints request
		// headers, the security token and Authorization among them.
		for _, w := range strings.Split(d, ",") {
			if w = strings.TrimSpace(w); w == "dara" || w == "tea" || w == "credential" || w == "sdk" {
				return nil, fmt.Errorf("DEBUG=%s makes the Alibaba Cloud SDK print credentials; unset DEBUG to use --cloud", d)
			}
		}
	}
	host, scheme, err := ParseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	getenv := opts.Env
	if getenv == nil {
		getenv = os.Getenv
	}
	cred, err := ResolveCredentials(opts, host, scheme)
	if err != nil {
		return nil, err
	}
	caller := &httpCaller{client: &http.Client{Timeout: callTimeout, Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: opts.Concurrency,
		IdleConnTimeout:     30 * time.Second,
	}}}
	cfg := func(product string) *openapi.Config {
		c := &openapi.Config{
			HttpClient:     caller,
			RegionId:       dara.String(opts.Region),
			Credential:     cred,
			ReadTimeout:    dara.Int(int(callTimeout / time.Millisecond)),
			ConnectTimeout: dara.Int(5000),
			UserAgent:      dara.String("kubectl-acknet"),
		}
		if host != "" {
			c.Endpoint, c.Protocol = dara.String(host), dara.String(scheme)
		} else if getenv(EnvVPCEndpoint) == "true" {
			// Inside a VPC without Internet access: the products' VPC
			// endpoints (named, as the SDK's own map would pick the public
			// one for some regions).
			c.Endpoint = dara.String(product + "-vpc." + opts.Region + ".aliyuncs.com")
		}
		return c
	}
	c := &Client{opts: opts, source: cred.source, redact: cred.redactor, pool: make(chan *sdk, opts.Concurrency), calls: map[string]int{}}
	for i := 0; i < opts.Concurrency; i++ {
		s := &sdk{}
		if s.vpc, err = vpc.NewClient(cfg("vpc")); err != nil {
			return nil, fmt.Errorf("VPC client: %w", err)
		}
		if s.ecs, err = ecs.NewClient(cfg("ecs")); err != nil {
			return nil, fmt.Errorf("ECS client: %w", err)
		}
		c.pool <- s
	}
	return c, nil
}

// httpCaller sends the SDK's requests through one client of ours: the SDK's
// own shared client is not safe for concurrent calls (it sets the client's
// timeout on every request), and it builds a new transport per request, so
// no connection would be reused. Proxies come from the environment, as for
// any Go program; the SDK's per-request transport is not used.
type httpCaller struct{ client *http.Client }

func (h *httpCaller) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return h.client.Do(req)
}

// sdk is one VPC and one ECS client, used by one call at a time.
type sdk struct {
	vpc *vpc.Client
	ecs *ecs.Client
}

// Source names the credential source in use.
func (c *Client) Source() string { return c.source }

// ParseEndpoint checks an --cloud-endpoint value: host[:port] (https) or a
// URL. Plain http is refused except to loopback: credentials would cross
// the network unencrypted.
func ParseEndpoint(v string) (host, scheme string, err error) {
	if v == "" {
		return "", "", nil
	}
	if !strings.Contains(v, "://") {
		v = "https://" + v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", "", fmt.Errorf("--cloud-endpoint %q: want host[:port] or a URL without a path", v)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Host) {
			return "", "", fmt.Errorf("--cloud-endpoint %q: plain http only to a loopback address; use https", v)
		}
	default:
		return "", "", fmt.Errorf("--cloud-endpoint %q: scheme must be http or https", v)
	}
	return u.Host, u.Scheme, nil
}

// IsLoopback tells whether host[:port] is this machine: localhost or a
// loopback address (not a name that merely starts with 127.).
func IsLoopback(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && a.IsLoopback()
}

// do runs one API call through the pool, retrying throttled and transient
// failures with exponential backoff and jitter.
func (c *Client) do(ctx context.Context, action string, call func(*sdk) error) error {
	var s *sdk
	select {
	case s = <-c.pool:
	case <-ctx.Done():
		return ctx.Err()
	}
	wait := c.opts.Backoff
	for attempt := 1; ; attempt++ {
		c.mu.Lock()
		c.calls[action]++
		c.mu.Unlock()
		// The VPC client takes no context: wait for the call or for
		// Ctrl-C, whichever comes first (an abandoned call ends at its
		// read timeout).
		done := make(chan error, 1)
		go func() { done <- call(s) }()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			// s stays with the abandoned call: it is not returned.
			return ctx.Err()
		}
		if err == nil {
			c.pool <- s
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ce *CredentialsError
		if errors.As(err, &ce) {
			c.pool <- s
			return ce
		}
		kind, retry := classify(err)
		if !retry || attempt >= c.opts.Attempts {
			c.pool <- s
			return c.partError(action, kind, err)
		}
		c.mu.Lock()
		c.retries++
		c.mu.Unlock()
		// Wait without holding a slot: one throttled API must not starve
		// the others.
		c.pool <- s
		d := wait/2 + rand.N(wait/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(wait*2, maxBackoff)
		select {
		case s = <-c.pool:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Client) partError(action, kind string, err error) *PartError {
	pe := &PartError{Kind: kind, Action: ramAction(action)}
	if ae, ok := sdkError(err); ok {
		pe.Code, pe.Message = ae.code, cleanMessage(ae.message)
	} else {
		pe.Message = err.Error()
	}
	// Redact before cutting: a cut value would no longer match.
	pe.Message = firstLine(c.redact.String(pe.Message))
	pe.Code = c.redact.String(pe.Code)
	return pe
}

// cleanMessage turns the SDK's "code: 403, MESSAGE request id: ID" into
// "MESSAGE (request ID ID)": the ID is what Alibaba Cloud support asks for.
func cleanMessage(m string) string {
	if rest, ok := strings.CutPrefix(m, "code: "); ok {
		if _, after, found := strings.Cut(rest, ", "); found {
			m = after
		}
	}
	if i := strings.LastIndex(m, " request id: "); i >= 0 {
		m = strings.TrimSpace(m[:i]) + " (request ID " + strings.TrimSpace(m[i+len(" request id: "):]) + ")"
	}
	return m
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// ramAction maps an API call to its RAM action.
func ramAction(action string) string {
	switch action {
	case "DescribeInstances", "DescribeInstanceTypes":
		return "ecs:" + action
	}
	return "vpc:" + action
}

// RAMActions are the RAM actions doctor --cloud calls: the whole of its
// minimal policy.
func RAMActions() []string {
	return []string{"ecs:DescribeInstances", "ecs:DescribeInstanceTypes", "vpc:DescribeVSwitches",
		"vpc:DescribeRouteTableList", "vpc:DescribeRouteEntryList", "vpc:DescribeNatGateways", "vpc:DescribeSnatTableEntries"}
}

func (c *Client) runtime() *dara.RuntimeOptions {
	return &dara.RuntimeOptions{ReadTimeout: dara.Int(int(callTimeout / time.Millisecond)), ConnectTimeout: dara.Int(5000)}
}

// stats returns the calls made so far.
func (c *Client) stats() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out, c.retries
}
