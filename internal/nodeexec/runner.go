package nodeexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// Options tune a Runner.
type Options struct {
	Namespace string
	Image     string
	// HostRoot is where the pod mounts the host's /; scripts chroot into it.
	HostRoot string
	// Concurrency bounds how many nodes are worked on at once; 0 for the
	// default of each way (pool).
	Concurrency int
	// QPS is the client's rate limit, which sizes the pool of Gather.
	QPS float32
	// NodeTimeout bounds the whole job on one node; StartTimeout the wait
	// for the pod to run.
	NodeTimeout  time.Duration
	StartTimeout time.Duration
	// Progress receives one line per finished node; nil for none.
	Progress io.Writer
	// Suffix makes pod names deterministic in tests; nil for random.
	Suffix func() string
	// Exec makes Collect run read-only scripts through exec into sleeping
	// pods, as the commands that act always do, instead of as the pods' own
	// command.
	Exec bool
}

// Runner creates debug pods and runs jobs in them.
type Runner struct {
	cs   kubernetes.Interface
	cfg  *rest.Config
	opts Options

	mu      sync.Mutex
	created map[string]string // namespace/name -> node, for pods not yet deleted
}

// NewRunner returns a runner with defaults filled in.
func NewRunner(cs kubernetes.Interface, cfg *rest.Config, opts Options) *Runner {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Image == "" {
		opts.Image = DefaultImage
	}
	if opts.HostRoot == "" {
		opts.HostRoot = DefaultHostRoot
	}
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = 2 * time.Minute
	}
	if opts.StartTimeout <= 0 || opts.StartTimeout > opts.NodeTimeout {
		opts.StartTimeout = opts.NodeTimeout
	}
	if opts.Suffix == nil {
		opts.Suffix = RandomSuffix
	}
	return &Runner{cs: cs, cfg: cfg, opts: opts, created: map[string]string{}}
}

// HostRoot is where scripts find the host's /.
func (r *Runner) HostRoot() string { return r.opts.HostRoot }

// pool is how many nodes are worked on at once: Options.Concurrency, or by
// default 10 through exec (each node holds a stream to its kubelet), and for
// Gather twice the QPS (at least 10, at most 500). A read costs about one
// write per node (the create) paced by the client's rate limit, so the pool
// only needs to cover a debug pod's life, about two seconds from create to
// result on a real node (Little's law: in flight = rate x time); twice the
// QPS keeps the limiter, not the pool, the bound.
func (r *Runner) pool(gather bool) int {
	switch {
	case r.opts.Concurrency > 0:
		return r.opts.Concurrency
	case !gather:
		return 10
	}
	return min(max(int(2*r.opts.QPS), 10), 500)
}

// Session is a running debug pod on one node.
type Session struct {
	Node string
	Pod  string
	r    *Runner
}

// Job is the work done on one node.
type Job func(ctx context.Context, s *Session) error

// Result of a job on one node.
type Result struct {
	Node     string
	Err      error
	Duration time.Duration
}

// Run runs job on every node with bounded concurrency. A failure on one node
// never stops the others. When ctx is cancelled, nodes not started are
// reported as cancelled, and every pod created so far is deleted.
func (r *Runner) Run(ctx context.Context, purpose string, nodes []string, job Job) []Result {
	results := make([]Result, len(nodes))
	idx := make(chan int)
	var wg sync.WaitGroup
	var done int
	var doneMu sync.Mutex
	for w := 0; w < min(r.pool(false), len(nodes)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				start := time.Now()
				err := r.runOne(ctx, purpose, nodes[i], job)
				results[i] = Result{Node: nodes[i], Err: err, Duration: time.Since(start)}
				doneMu.Lock()
				done++
				r.progress(done, len(nodes), nodes[i], err, time.Since(start))
				doneMu.Unlock()
			}
		}()
	}
	for i := range nodes {
		if ctx.Err() != nil {
			results[i] = Result{Node: nodes[i], Err: fmt.Errorf("not started: %w", ctx.Err())}
			continue
		}
		select {
		case idx <- i:
		case <-ctx.Done():
			results[i] = Result{Node: nodes[i], Err: fmt.Errorf("not started: %w", ctx.Err())}
		}
	}
	close(idx)
	wg.Wait()
	return results
}

func (r *Runner) runOne(parent context.Context, purpose, node string, job Job) (err error) {
	ctx, cancel := context.WithTimeout(parent, r.opts.NodeTimeout)
	defer cancel()
	if _, err := r.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("node %s not found", node)
		}
		return fmt.Errorf("get node %s: %w", node, err)
	}
	// The pod outlives the plugin by at most the node timeout plus a margin.
	pod := PodSpec(r.opts.Namespace, r.opts.Image, purpose, node, r.opts.Suffix(), r.opts.NodeTimeout+time.Minute)
	created, err := r.cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		// Interrupted or timed out mid-request, the server may still have
		// created the pod: delete it by name to be sure.
		if ctx.Err() != nil {
			_ = r.deletePod(pod.Namespace, pod.Name)
		}
		return r.describeCreateError(err)
	}
	r.track(created, node)
	// Delete with a fresh context: the work context may be cancelled
	// (Ctrl-C, timeout), the pod must go anyway.
	defer func() {
		if derr := r.deletePod(created.Namespace, created.Name); derr != nil && err == nil {
			err = derr
		}
	}()
	if err := r.waitRunning(ctx, created); err != nil {
		return err
	}
	return job(ctx, &Session{Node: node, Pod: created.Name, r: r})
}

func (r *Runner) describeCreateError(err error) error {
	msg := err.Error()
	if apierrors.IsForbidden(err) && strings.Contains(msg, "PodSecurity") {
		return fmt.Errorf("namespace %s does not allow privileged pods (%s); pick one that does with --node-namespace, or label it: kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged",
			r.opts.Namespace, msg, r.opts.Namespace)
	}
	return fmt.Errorf("create debug pod: %w", err)
}

func (r *Runner) track(p *corev1.Pod, node string) {
	r.mu.Lock()
	r.created[p.Namespace+"/"+p.Name] = node
	r.mu.Unlock()
}

// Leftovers lists pods created and not yet deleted, as namespace/name.
func (r *Runner) Leftovers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.created))
	for k := range r.created {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// deleteTimeout bounds a delete, which runs after the work context may
// already be gone.
const deleteTimeout = 30 * time.Second

func (r *Runner) deletePod(ns, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	zero := int64(0)
	err := r.cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete debug pod %s/%s (remove it with: kubectl acknet cleanup): %w", ns, name, err)
	}
	r.mu.Lock()
	delete(r.created, ns+"/"+name)
	r.mu.Unlock()
	return nil
}

func (r *Runner) waitRunning(ctx context.Context, p *corev1.Pod) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := p
	var lastErr error
	for {
		cur, err := r.cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case err == nil:
			last, lastErr = cur, nil
			if cur.Status.Phase == corev1.PodRunning {
				return nil
			}
			if why := StartFailure(cur); why != "" {
				return fmt.Errorf("debug pod %s: %s", p.Name, why)
			}
		case apierrors.IsNotFound(err):
			return fmt.Errorf("debug pod %s was deleted while starting", p.Name)
		default:
			// Transient API errors (and the rate limiter refusing to wait
			// past the deadline) do not end the wait; the deadline does.
			lastErr = err
		}
		select {
		case <-ctx.Done():
			detail := r.lastEvent(p)
			if lastErr != nil {
				detail = ", last error: " + lastErr.Error()
			}
			return fmt.Errorf("debug pod %s not running after %s (phase %s%s): %w",
				p.Name, r.opts.StartTimeout, orPending(last.Status.Phase), detail, ctx.Err())
		case <-tick.C:
		}
	}
}

func orPending(p corev1.PodPhase) corev1.PodPhase {
	if p == "" {
		return corev1.PodPending
	}
	return p
}

// lastEvent returns the newest event of the pod, to say why it did not
// start; asked only when it did not.
func (r *Runner) lastEvent(p *corev1.Pod) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := r.cs.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
	if err != nil || len(evs.Items) == 0 {
		return ", no events: is a kubelet running on the node?"
	}
	e := evs.Items[len(evs.Items)-1]
	return fmt.Sprintf(", last event %s: %s", e.Reason, e.Message)
}

// ExecError is a script that ran and exited non-zero.
type ExecError struct {
	Stderr string
	Err    error
}

func (e *ExecError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	status := exitStatus(e.Err)
	if msg == "" {
		return status
	}
	return msg + " (" + status + ")"
}

var exitStatusRe = regexp.MustCompile(`exit (?:status|code) (\d+)`)

// exitStatus says how the remote command ended without repeating its argv,
// which some runtimes put into the error text (the whole script).
func exitStatus(err error) string {
	var code utilexec.CodeExitError
	if errors.As(err, &code) {
		return fmt.Sprintf("exit status %d", code.ExitStatus())
	}
	if m := exitStatusRe.FindStringSubmatch(err.Error()); m != nil {
		return "exit status " + m[1]
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

func (e *ExecError) Unwrap() error { return e.Err }

// Exec runs argv in the session's pod and returns its stdout. Nothing is
// sent on stdin: exec stdin end-of-file does not reach every runtime.
func (s *Session) Exec(ctx context.Context, argv []string) (string, error) {
	out, err := Exec(ctx, s.r.cs, s.r.cfg, s.r.opts.Namespace, s.Pod, containerName, argv)
	if err != nil && ctx.Err() != nil {
		return out, fmt.Errorf("exec on %s: %w", s.Node, ctx.Err())
	}
	return out, err
}

// Exec runs argv in a container of a pod through the API server (websocket,
// falling back to SPDY) and returns its stdout; a non-zero exit is an
// *ExecError carrying stderr. stderr is never part of the output.
func Exec(ctx context.Context, cs kubernetes.Interface, cfg *rest.Config, namespace, pod, container string, argv []string) (string, error) {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: argv, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return "", fmt.Errorf("exec: %w", err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return "", fmt.Errorf("exec: %w", err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", fmt.Errorf("exec: %w", err)
	}
	var out, errb bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb})
	if err != nil {
		if ctx.Err() != nil {
			return out.String(), fmt.Errorf("exec in %s/%s: %w", namespace, pod, ctx.Err())
		}
		return out.String(), &ExecError{Stderr: errb.String(), Err: err}
	}
	return out.String(), nil
}

// Cleanup deletes every debug pod in the namespaces (all when empty) that
// carries the managed-by label, and returns their names. With dryRun it
// only lists them.
func Cleanup(ctx context.Context, cs kubernetes.Interface, namespace string, dryRun bool) ([]string, error) {
	l, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: Selector})
	if err != nil {
		return nil, fmt.Errorf("list debug pods: %w", err)
	}
	var names []string
	var errs []error
	zero := int64(0)
	for _, p := range l.Items {
		names = append(names, p.Namespace+"/"+p.Name)
		if dryRun {
			continue
		}
		if err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s/%s: %w", p.Namespace, p.Name, err))
		}
	}
	sort.Strings(names)
	return names, errors.Join(errs...)
}

// HostRoot is where scripts find the host's /.
func (s *Session) HostRoot() string { return s.r.opts.HostRoot }
