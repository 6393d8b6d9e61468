package connectivity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-acknet/kubectl-acknet/internal/checks"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodescripts"
)

// Options tune a Runner.
type Options struct {
	Image string
	// Namespace is the run's own namespace, created and deleted by it.
	Namespace string
	// HostPort is where the hostNetwork pods listen on their node.
	HostPort    int
	DialTimeout time.Duration
	// Attempts is how often a path is tried before it counts as broken: a
	// Service just created may not be programmed on every node yet.
	Attempts    int
	Concurrency int
	// WaitTimeout bounds the wait for the test pods and Services.
	WaitTimeout time.Duration
	// Deadline ends the test pods by themselves if the run is killed.
	Deadline      time.Duration
	ClusterDomain string
	// Progress receives a line per phase; nil for none.
	Progress io.Writer
}

// Node is a node under test.
type Node struct {
	Name string
	IPs  map[Family]string
}

// Runner deploys the test workloads, sends the traffic, and deletes them.
type Runner struct {
	cs    kubernetes.Interface
	cfg   *rest.Config
	opts  Options
	nodes []Node

	mu      sync.Mutex
	created bool
	start   time.Time
}

// NewRunner returns a runner for the nodes.
func NewRunner(cs kubernetes.Interface, cfg *rest.Config, nodes []Node, opts Options) *Runner {
	if opts.Attempts < 1 {
		opts.Attempts = 1
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = 8
	}
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = "cluster.local"
	}
	return &Runner{cs: cs, cfg: cfg, opts: opts, nodes: nodes, start: time.Now()}
}

// Progress prints a line with the time since the runner was made, so a
// user sees where the time goes.
func (r *Runner) Progress(format string, args ...any) {
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, "[%5.1fs] "+format+"\n", append([]any{time.Since(r.start).Seconds()}, args...)...)
	}
}

// Deployment is what runs once the workloads are up: addresses by role,
// node and family, and the Services.
type Deployment struct {
	PodIPs   map[Endpoint]map[Family]string
	Services map[int]*corev1.Service
	// DNS is the kube-dns ClusterIP by family; DNSErr says why there is none.
	DNS    map[Family]string
	DNSErr string
	// Families are those every test pod on the pod network has an IP of.
	Families []Family
}

// Deploy creates the namespace, the pods and Services the cells need, and
// waits until the pods are Ready and each Service has its endpoint.
func (r *Runner) Deploy(ctx context.Context, cells []Cell) (*Deployment, error) {
	ns := r.opts.Namespace
	if _, err := r.cs.CoreV1().Namespaces().Create(ctx, Namespace(ns), metav1.CreateOptions{}); err != nil {
		if ctx.Err() != nil {
			// The server may have created it before the client gave up.
			r.markCreated()
		}
		return nil, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	r.markCreated()
	// Pods of a new namespace are refused until its default ServiceAccount
	// exists (the ServiceAccount admission plugin); the controller makes it
	// within moments.
	r.waitServiceAccount(ctx)
	roles, services := Needs(cells)
	var idx []int
	for n := range roles {
		idx = append(idx, n)
	}
	sort.Ints(idx)
	var pods int
	for _, n := range idx {
		for _, role := range []Role{RoleServer, RoleClient, RoleHost} {
			if !roles[n][role] {
				continue
			}
			p := PodSpec(ns, r.opts.Image, role, n, r.nodes[n].Name, r.opts.HostPort, r.opts.Deadline)
			if _, err := r.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				return nil, fmt.Errorf("create pod %s/%s: %w", ns, p.Name, err)
			}
			pods++
		}
	}
	var svcs []*corev1.Service
	if services {
		for _, n := range idx {
			if roles[n][RoleServer] {
				svcs = append(svcs, Service(ns, n, true), HeadlessSvc(ns, n, true))
			}
		}
		for _, s := range svcs {
			if _, err := r.cs.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				return nil, fmt.Errorf("create service %s/%s: %w", ns, s.Name, err)
			}
		}
	}
	r.Progress("created %d pods and %d Services in namespace %s on %d nodes; waiting for them", pods, len(svcs), ns, len(idx))
	wctx, cancel := context.WithTimeout(ctx, r.opts.WaitTimeout)
	defer cancel()
	podList, err := r.waitPods(wctx, pods)
	if err != nil {
		return nil, err
	}
	dep := &Deployment{PodIPs: map[Endpoint]map[Family]string{}, Services: map[int]*corev1.Service{}, DNS: map[Family]string{}}
	onPodNetwork := map[Family]int{}
	podNetPods := 0
	for i := range podList {
		p := &podList[i]
		n, _ := strconv.Atoi(p.Labels[LabelNode])
		e := Endpoint{Role: Role(p.Labels[LabelRole]), Node: n}
		dep.PodIPs[e] = map[Family]string{}
		for _, ip := range p.Status.PodIPs {
			f := familyOf(ip.IP)
			dep.PodIPs[e][f] = ip.IP
			if !p.Spec.HostNetwork {
				onPodNetwork[f]++
			}
		}
		if !p.Spec.HostNetwork {
			podNetPods++
		}
	}
	for _, f := range []Family{IPv4, IPv6} {
		if podNetPods > 0 && onPodNetwork[f] == podNetPods {
			dep.Families = append(dep.Families, f)
		}
	}
	if services {
		if err := r.waitEndpoints(wctx, svcs); err != nil {
			return nil, err
		}
		for _, s := range svcs {
			got, err := r.cs.CoreV1().Services(ns).Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("read service %s: %w", s.Name, err)
			}
			if s.Spec.ClusterIP != corev1.ClusterIPNone {
				n, _ := strconv.Atoi(strings.TrimPrefix(s.Name, "srv-"))
				dep.Services[n] = got
			}
		}
	}
	dns, err := r.cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		dep.DNSErr = "no kube-system/kube-dns Service: " + err.Error()
	} else {
		for _, ip := range dns.Spec.ClusterIPs {
			dep.DNS[familyOf(ip)] = ip
		}
	}
	return dep, nil
}

func (r *Runner) waitServiceAccount(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if _, err := r.cs.CoreV1().ServiceAccounts(r.opts.Namespace).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *Runner) markCreated() {
	r.mu.Lock()
	r.created = true
	r.mu.Unlock()
}

// waitPods waits until want pods of the namespace are Ready, and says which
// are not, and why, when the time is up.
func (r *Runner) waitPods(ctx context.Context, want int) ([]corev1.Pod, error) {
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	var last []corev1.Pod
	for {
		l, err := r.cs.CoreV1().Pods(r.opts.Namespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			last = l.Items
			ready := 0
			for i := range l.Items {
				if podReady(&l.Items[i]) {
					ready++
				}
				if why := nodeexec.StartFailure(&l.Items[i]); why != "" {
					return nil, fmt.Errorf("test pod %s on %s: %s", l.Items[i].Name, l.Items[i].Spec.NodeName, why)
				}
			}
			if ready == want && len(l.Items) == want {
				return l.Items, nil
			}
		}
		select {
		case <-ctx.Done():
			var waiting []string
			for i := range last {
				if !podReady(&last[i]) {
					waiting = append(waiting, fmt.Sprintf("%s on %s (%s)", last[i].Name, last[i].Spec.NodeName, podState(&last[i])))
				}
			}
			return nil, fmt.Errorf("test pods not ready after %s: %s: %w", r.opts.WaitTimeout, strings.Join(waiting, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podState(p *corev1.Pod) string {
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			return w.Reason
		}
		if !c.Ready {
			return "running, not ready"
		}
	}
	if p.Status.Phase == "" {
		return "Pending"
	}
	return string(p.Status.Phase)
}

// waitEndpoints waits until every Service has a ready endpoint: before
// that no node can program it.
func (r *Runner) waitEndpoints(ctx context.Context, svcs []*corev1.Service) error {
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		l, err := r.cs.DiscoveryV1().EndpointSlices(r.opts.Namespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := map[string]bool{}
			for _, es := range l.Items {
				if readyEndpoint(es) {
					ready[es.Labels[discoveryv1.LabelServiceName]] = true
				}
			}
			missing := 0
			for _, s := range svcs {
				if !ready[s.Name] {
					missing++
				}
			}
			if missing == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the test Services have no ready endpoints after %s (is the endpointslice controller running?): %w", r.opts.WaitTimeout, ctx.Err())
		case <-tick.C:
		}
	}
}

func readyEndpoint(es discoveryv1.EndpointSlice) bool {
	for _, e := range es.Endpoints {
		if e.Conditions.Ready == nil || *e.Conditions.Ready {
			return true
		}
	}
	return false
}

func familyOf(ip string) Family {
	if a := net.ParseIP(ip); a != nil && a.To4() == nil {
		return IPv6
	}
	return IPv4
}

// Result is a cell's outcome.
type Result struct {
	Cell   Cell
	Status checks.Status
	// From and To say, in words, who dialled what.
	From, To string
	Detail   string
}

// probe is one dial or lookup of a source pod, and the cells it answers.
type probe struct {
	cells []int
	dns   bool
	args  []string // probe: ADDRESS PORT; dns: PROTO SERVER NAME TYPE PORT
}

// Test runs the cells' traffic from the test pods, one exec per source pod
// and kind of script, a bounded number at once.
func (r *Runner) Test(ctx context.Context, dep *Deployment, cells []Cell) []Result {
	results := make([]Result, len(cells))
	bySource := map[Endpoint]map[string]*probe{}
	var sources []Endpoint
	for i, c := range cells {
		results[i] = Result{Cell: c, From: r.describeFrom(c.From)}
		if c.Skip != "" {
			results[i].Status, results[i].Detail = checks.StatusSkip, c.Skip
			continue
		}
		key, pr, to, skip := r.resolve(dep, c)
		results[i].To = to
		if skip != "" {
			results[i].Status, results[i].Detail = checks.StatusSkip, skip
			continue
		}
		if bySource[c.From] == nil {
			bySource[c.From] = map[string]*probe{}
			sources = append(sources, c.From)
		}
		if have := bySource[c.From][key]; have != nil {
			have.cells = append(have.cells, i)
			continue
		}
		pr.cells = []int{i}
		bySource[c.From][key] = pr
	}
	type job struct {
		src    Endpoint
		dns    bool
		probes []*probe
	}
	var jobs []job
	for _, src := range sources {
		var tcp, dns []*probe
		keys := make([]string, 0, len(bySource[src]))
		for k := range bySource[src] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p := bySource[src][k]; p.dns {
				dns = append(dns, p)
			} else {
				tcp = append(tcp, p)
			}
		}
		if len(tcp) > 0 {
			jobs = append(jobs, job{src: src, probes: tcp})
		}
		if len(dns) > 0 {
			jobs = append(jobs, job{src: src, dns: true, probes: dns})
		}
	}
	r.Progress("ready; testing %d paths from %d pods", len(cells), len(sources))
	var mu sync.Mutex
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			outcome := r.run(ctx, j.src, j.dns, j.probes)
			mu.Lock()
			defer mu.Unlock()
			for pi, p := range j.probes {
				for _, ci := range p.cells {
					results[ci].Status, results[ci].Detail = outcome[pi].status, outcome[pi].detail
				}
			}
		}()
	}
	wg.Wait()
	return results
}

type probeOutcome struct {
	status checks.Status
	detail string
}

// run executes one script in a source pod for its probes.
func (r *Runner) run(ctx context.Context, src Endpoint, dns bool, probes []*probe) []probeOutcome {
	out := make([]probeOutcome, len(probes))
	fail := func(detail string) []probeOutcome {
		for i := range out {
			out[i] = probeOutcome{checks.StatusSkip, detail}
		}
		return out
	}
	if ctx.Err() != nil {
		return fail("not run: " + ctx.Err().Error())
	}
	var args []string
	for _, p := range probes {
		args = append(args, p.args...)
	}
	script := nodescripts.Probe
	if dns {
		script = nodescripts.DNS
	}
	env := map[string]string{"TIMEOUT": strconv.Itoa(max(int(r.opts.DialTimeout/time.Second), 1)), "ATTEMPTS": strconv.Itoa(r.opts.Attempts)}
	argv, err := nodescripts.Command(script, "", env, args...)
	if err != nil {
		return fail(err.Error())
	}
	stdout, err := nodeexec.Exec(ctx, r.cs, r.cfg, r.opts.Namespace, PodName(src.Role, src.Node), "test", argv)
	if err != nil {
		return fail("the test could not run in " + PodName(src.Role, src.Node) + ": " + err.Error())
	}
	tries := ""
	if r.opts.Attempts > 1 {
		tries = fmt.Sprintf(" (%d tries)", r.opts.Attempts)
	}
	if dns {
		res, err := nodescripts.ParseDNS(stdout)
		if err == nil {
			res, err = nodescripts.DNSInOrder(res, args)
		}
		if err != nil {
			return fail(fmt.Sprintf("unexpected dns output (%v): %q", err, stdout))
		}
		for i, d := range res {
			if d.OK {
				out[i] = probeOutcome{checks.StatusPass, d.Message}
			} else {
				out[i] = probeOutcome{checks.StatusFail, d.Message + tries}
			}
		}
		return out
	}
	res, err := nodescripts.ParseProbe(stdout)
	if err == nil {
		res, err = nodescripts.InOrder(res, args)
	}
	if err != nil {
		return fail(fmt.Sprintf("unexpected probe output (%v): %q", err, stdout))
	}
	for i, p := range res {
		if p.Result == "reachable" {
			out[i] = probeOutcome{checks.StatusPass, "connected"}
		} else {
			out[i] = probeOutcome{checks.StatusFail, strings.TrimSpace(p.Result+": "+p.Message) + tries}
		}
	}
	return out
}

func (r *Runner) describeFrom(e Endpoint) string {
	if e.Node < 0 || e.Node >= len(r.nodes) {
		return ""
	}
	return PodName(e.Role, e.Node) + " on " + r.nodes[e.Node].Name
}

// resolve turns a cell's target into a probe, with a key that lets cells
// of the same source share one dial, and says what it dials in words.
func (r *Runner) resolve(dep *Deployment, c Cell) (key string, p *probe, to string, skip string) {
	f := c.Family
	if dep.PodIPs[c.From] == nil || dep.PodIPs[c.From][f] == "" {
		return "", nil, "", fmt.Sprintf("%s has no %s address", PodName(c.From.Role, c.From.Node), f)
	}
	tcp := func(addr string, port int) (string, *probe) {
		hp := net.JoinHostPort(addr, strconv.Itoa(port))
		return "tcp " + hp, &probe{args: []string{addr, strconv.Itoa(port)}}
	}
	switch c.To.Type {
	case ToPod:
		ip := dep.PodIPs[Endpoint{c.To.Role, c.To.Node}][f]
		if ip == "" {
			return "", nil, "", fmt.Sprintf("%s has no %s address", PodName(c.To.Role, c.To.Node), f)
		}
		port := ServerPort
		if c.To.Role == RoleHost {
			port = r.opts.HostPort
		}
		key, p = tcp(ip, port)
		return key, p, fmt.Sprintf("%s (%s on %s)", net.JoinHostPort(ip, strconv.Itoa(port)), PodName(c.To.Role, c.To.Node), r.nodes[c.To.Node].Name), ""
	case ToClusterIP, ToNodePort:
		s := dep.Services[c.To.Node]
		if s == nil {
			return "", nil, "", "no Service " + ServiceName(c.To.Node)
		}
		if c.To.Type == ToClusterIP {
			ip := ipOf(s.Spec.ClusterIPs, f)
			if ip == "" {
				return "", nil, "", fmt.Sprintf("Service %s has no %s ClusterIP", s.Name, f)
			}
			key, p = tcp(ip, ServerPort)
			return key, p, fmt.Sprintf("%s (ClusterIP of %s, backend %s on %s)", net.JoinHostPort(ip, strconv.Itoa(ServerPort)), s.Name, PodName(RoleServer, c.To.Node), r.nodes[c.To.Node].Name), ""
		}
		nodeIP := r.nodes[c.To.At].IPs[f]
		if nodeIP == "" || len(s.Spec.Ports) == 0 || s.Spec.Ports[0].NodePort == 0 {
			return "", nil, "", fmt.Sprintf("node %s has no %s address or %s no NodePort", r.nodes[c.To.At].Name, f, s.Name)
		}
		port := int(s.Spec.Ports[0].NodePort)
		key, p = tcp(nodeIP, port)
		return key, p, fmt.Sprintf("%s (NodePort of %s on %s)", net.JoinHostPort(nodeIP, strconv.Itoa(port)), s.Name, r.nodes[c.To.At].Name), ""
	case ToNode:
		ip := r.nodes[c.To.Node].IPs[f]
		if ip == "" {
			return "", nil, "", fmt.Sprintf("node %s has no %s address", r.nodes[c.To.Node].Name, f)
		}
		key, p = tcp(ip, KubeletPort)
		return key, p, fmt.Sprintf("%s (the kubelet of %s)", net.JoinHostPort(ip, strconv.Itoa(KubeletPort)), r.nodes[c.To.Node].Name), ""
	case ToHeadless, ToDNS:
		server := dep.DNS[f]
		if server == "" {
			if dep.DNSErr != "" {
				return "", nil, "", dep.DNSErr
			}
			return "", nil, "", fmt.Sprintf("kube-dns has no %s ClusterIP", f)
		}
		qtype := "a"
		if f == IPv6 {
			qtype = "aaaa"
		}
		if c.To.Type == ToHeadless {
			name := HeadlessFQDN(r.opts.Namespace, c.From.Node, r.opts.ClusterDomain)
			return "dns connect " + qtype, &probe{dns: true, args: []string{"connect", server, name, qtype, strconv.Itoa(ServerPort)}},
				fmt.Sprintf("%s, resolved through %s, port %d", name, server, ServerPort), ""
		}
		name := "kubernetes.default.svc." + r.opts.ClusterDomain
		return "dns " + c.To.Proto + " " + qtype, &probe{dns: true, args: []string{c.To.Proto, server, name, qtype, "53"}},
			fmt.Sprintf("%s %s of %s at %s (kube-dns)", strings.ToUpper(c.To.Proto), strings.ToUpper(qtype), name, server), ""
	case ToExternal:
		key = "tcp " + net.JoinHostPort(c.To.Host, c.To.Port)
		return key, &probe{args: []string{c.To.Host, c.To.Port}}, net.JoinHostPort(c.To.Host, c.To.Port), ""
	}
	return "", nil, "", "unknown target"
}

func ipOf(ips []string, f Family) string {
	for _, ip := range ips {
		if ip != "None" && familyOf(ip) == f {
			return ip
		}
	}
	return ""
}

// deleteTimeout bounds the namespace's deletion, which runs after the work
// context may be gone.
const deleteTimeout = 2 * time.Minute

// Delete removes the run's namespace, with everything in it, with a fresh
// bounded context, and waits until it is gone, so a run leaves nothing.
func (r *Runner) Delete() error {
	r.mu.Lock()
	created := r.created
	r.mu.Unlock()
	if !created {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	ns := r.opts.Namespace
	zero := int64(0)
	// Pods first, at once: the namespace then goes without waiting for
	// their grace periods.
	_ = r.cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	if err := r.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s (remove it with: kubectl acknet cleanup): %w", ns, err)
	}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := r.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s is still being deleted after %s (kubectl acknet cleanup removes it): %w", ns, deleteTimeout, errors.Join(err, ctx.Err()))
		case <-tick.C:
		}
	}
}

// Created reports whether the run's namespace may exist.
func (r *Runner) Created() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.created
}

// Cleanup deletes the namespaces that runs of the test left behind (a run
// that was killed), and returns their names. With dryRun it only lists them.
func Cleanup(ctx context.Context, cs kubernetes.Interface, dryRun bool) ([]string, error) {
	l, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: nodeexec.Selector + "," + LabelPurpose + "=" + Purpose})
	if err != nil {
		return nil, fmt.Errorf("list test namespaces: %w", err)
	}
	var names []string
	var errs []error
	for _, ns := range l.Items {
		names = append(names, ns.Name)
		if dryRun || ns.DeletionTimestamp != nil {
			continue
		}
		if err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns.Name, err))
		}
	}
	sort.Strings(names)
	return names, errors.Join(errs...)
}
