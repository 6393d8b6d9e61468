package nodeexec

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Output is what a read-only script printed on one node.
type Output struct {
	Result
	// Stdout is the script's standard output, also when it exited non-zero
	// (Err is then an *ExecError with the end of its stderr).
	Stdout string
	// Via says how the output came back: ViaMessage, ViaLog or ViaExec.
	Via string
}

// Collect runs a read-only script on every node and returns what it
// printed: as each debug pod's own command (Gather), or, with Options.Exec,
// through an exec into a sleeping pod as the commands that act do.
func (r *Runner) Collect(ctx context.Context, purpose string, nodes []string, argv func(node string) ([]string, error)) []Output {
	if !r.opts.Exec {
		return r.Gather(ctx, purpose, nodes, argv)
	}
	outs := make([]Output, len(nodes))
	at := map[string]int{}
	for i, n := range nodes {
		at[n] = i
	}
	var mu sync.Mutex
	results := r.Run(ctx, purpose, nodes, func(ctx context.Context, s *Session) error {
		a, err := argv(s.Node)
		if err != nil {
			return err
		}
		out, err := s.Exec(ctx, a)
		mu.Lock()
		outs[at[s.Node]].Stdout = out
		mu.Unlock()
		return err
	})
	for i, res := range results {
		outs[i].Result, outs[i].Via = res, ViaExec
	}
	return outs
}

// Gather runs argv on every node as the debug pod's own command and reads
// each result from the pod: from the termination message the watch event
// carries, or with one GET of its log when larger. Per node that is one
// create; pods that ended are deleted a batch at a time (deleteBatch), a pod
// that did not end at once; the whole run adds one LIST and one watch on the
// run's label. A failure on one node never stops the others; when ctx is
// cancelled, nodes not started are reported as not started, and every pod
// created so far is deleted before Gather returns.
func (r *Runner) Gather(ctx context.Context, purpose string, nodes []string, argv func(node string) ([]string, error)) []Output {
	outs := make([]Output, len(nodes))
	run := RandomSuffix() + RandomSuffix()
	w := r.watchRun(ctx, run)
	defer w.stop()
	b := newBatches(len(nodes))

	idx := make(chan int)
	var wg sync.WaitGroup
	var done int
	var doneMu sync.Mutex
	for range min(r.pool(true), len(nodes)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				start := time.Now()
				o, ended := r.gatherOne(ctx, w, purpose, run, b.of(i), nodes[i], argv)
				o.Node, o.Duration = nodes[i], time.Since(start)
				outs[i] = o
				r.finish(b, run, i, ended, outs)
				doneMu.Lock()
				done++
				r.progress(done, len(nodes), nodes[i], o.Err, o.Duration)
				doneMu.Unlock()
			}
		}()
	}
	for i := range nodes {
		select {
		case idx <- i:
		case <-ctx.Done():
			outs[i].Result = Result{Node: nodes[i], Err: fmt.Errorf("not started: %w", ctx.Err())}
			r.finish(b, run, i, "", outs)
		}
	}
	close(idx)
	wg.Wait()
	return outs
}

// batchSize is how many nodes' pods one DeleteCollection removes.
const batchSize = 50

// batches counts the nodes of each batch still being worked on, and the
// ended pods waiting for their batch's delete.
type batches struct {
	mu     sync.Mutex
	left   map[int]int
	ended  map[int][]endedPod
	perPod bool // DeleteCollection was refused: delete pods one by one
}

type endedPod struct {
	name string
	idx  int
}

func newBatches(nodes int) *batches {
	b := &batches{left: map[int]int{}, ended: map[int][]endedPod{}}
	for i := range nodes {
		b.left[b.of(i)]++
	}
	return b
}

func (b *batches) of(i int) int { return i / batchSize }

// finish records that node i is done (ended names its pod when the pod
// ended and still exists) and deletes the batch's pods once all of its
// nodes are done.
func (r *Runner) finish(b *batches, run string, i int, ended string, outs []Output) {
	k := b.of(i)
	b.mu.Lock()
	if ended != "" {
		b.ended[k] = append(b.ended[k], endedPod{name: ended, idx: i})
	}
	b.left[k]--
	last := b.left[k] == 0
	pods := b.ended[k]
	b.mu.Unlock()
	if last && len(pods) > 0 {
		r.deleteBatch(b, run, k, pods, outs)
	}
}

// deleteBatch deletes the ended pods of one batch with one DeleteCollection
// on the run's and the batch's labels, instead of one request per pod:
// nothing runs in them any more, and this halves the requests of a read.
// Without the right to delete collections it deletes them one by one.
func (r *Runner) deleteBatch(b *batches, run string, k int, pods []endedPod, outs []Output) {
	b.mu.Lock()
	perPod := b.perPod
	b.mu.Unlock()
	if !perPod {
		ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
		zero := int64(0)
		err := r.cs.CoreV1().Pods(r.opts.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero},
			metav1.ListOptions{LabelSelector: fmt.Sprintf("%s=%s,%s=%d", LabelRun, run, LabelBatch, k)})
		cancel()
		if err == nil {
			r.mu.Lock()
			for _, p := range pods {
				delete(r.created, r.opts.Namespace+"/"+p.name)
			}
			r.mu.Unlock()
			return
		}
		if apierrors.IsForbidden(err) {
			b.mu.Lock()
			b.perPod = true
			b.mu.Unlock()
		}
	}
	for _, p := range pods {
		if err := r.deletePod(r.opts.Namespace, p.name); err != nil && outs[p.idx].Err == nil {
			outs[p.idx].Err = err
		}
	}
}

// progress prints one line per finished node.
func (r *Runner) progress(done, total int, node string, err error, took time.Duration) {
	if r.opts.Progress == nil {
		return
	}
	status := "done"
	if err != nil {
		status = "failed"
	}
	fmt.Fprintf(r.opts.Progress, "[%d/%d] %s %s (%s)\n", done, total, node, status, took.Round(100*time.Millisecond))
}

// gatherOne runs the script on one node. A pod that ended is left for its
// batch's delete (its name is returned); one that did not is deleted here,
// so nothing keeps running on the node.
func (r *Runner) gatherOne(parent context.Context, w *runWatch, purpose, run string, batch int, node string, argv func(string) ([]string, error)) (o Output, ended string) {
	ctx, cancel := context.WithTimeout(parent, r.opts.NodeTimeout)
	defer cancel()
	if parent.Err() != nil {
		o.Err = fmt.Errorf("not started: %w", parent.Err())
		return o, ""
	}
	a, err := argv(node)
	if err != nil {
		o.Err = err
		return o, ""
	}
	pod := ResultPodSpec(r.opts.Namespace, r.opts.Image, purpose, node, r.opts.Suffix(), run, batch, r.opts.NodeTimeout+time.Minute, a)
	updates := w.subscribe(pod.Name)
	defer w.unsubscribe(pod.Name)
	created, err := r.cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if ctx.Err() != nil {
			_ = r.deletePod(pod.Namespace, pod.Name)
		}
		o.Err = r.describeCreateError(err)
		return o, ""
	}
	r.track(created, node)
	done, err := r.waitDone(ctx, w, created, updates)
	if err != nil {
		if derr := r.deletePod(created.Namespace, created.Name); derr != nil {
			err = fmt.Errorf("%w; %w", err, derr)
		}
		return Output{Result: Result{Err: err}}, ""
	}
	return r.readResult(ctx, done), created.Name
}

// waitDone waits until the pod's container has ended, from the run's
// watch; if the watch has ended for good (it resumes by itself from where it
// stopped, unless its resourceVersion has expired), it asks for the pod now
// and then.
func (r *Runner) waitDone(ctx context.Context, w *runWatch, p *corev1.Pod, updates <-chan *corev1.Pod) (*corev1.Pod, error) {
	startBy := time.NewTimer(r.opts.StartTimeout)
	defer startBy.Stop()
	poll := time.NewTicker(5 * time.Second)
	defer poll.Stop()
	last := p
	for {
		select {
		case cur := <-updates:
			if cur == nil {
				return nil, fmt.Errorf("debug pod %s was deleted before it ended", p.Name)
			}
			last = cur
		case <-poll.C:
			if !w.broken() {
				continue
			}
			cur, err := r.cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				return nil, fmt.Errorf("debug pod %s was deleted before it ended", p.Name)
			case err != nil:
				continue
			}
			last = cur
		case <-startBy.C:
			if last.Status.Phase == corev1.PodPending {
				return nil, fmt.Errorf("debug pod %s not running after %s (phase Pending%s)", p.Name, r.opts.StartTimeout, r.lastEvent(p))
			}
			continue
		case <-ctx.Done():
			return nil, fmt.Errorf("debug pod %s did not end (phase %s%s): %w", p.Name, orPending(last.Status.Phase), r.lastEvent(p), ctx.Err())
		}
		if ended(last) {
			return last, nil
		}
		if why := StartFailure(last); why != "" {
			return nil, fmt.Errorf("debug pod %s: %s", p.Name, why)
		}
	}
}

// ended reports whether the pod's container has terminated.
func ended(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == containerName && cs.State.Terminated != nil {
			return true
		}
	}
	return false
}

// readResult turns the ended pod into its output: the termination message,
// and the log when the message says the output is there.
func (r *Runner) readResult(ctx context.Context, p *corev1.Pod) Output {
	var t *corev1.ContainerStateTerminated
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == containerName {
			t = cs.State.Terminated
		}
	}
	h, stderr, stdout, err := parseResult(t.Message)
	if err != nil {
		return Output{Result: Result{Err: fmt.Errorf("debug pod %s ended (%s, exit code %d) with %w", p.Name, t.Reason, t.ExitCode, err)}}
	}
	o := Output{Stdout: stdout, Via: ViaMessage}
	if h.InLog {
		o.Via = ViaLog
		if o.Stdout, err = r.readLog(ctx, p, h.OutBytes); err != nil {
			o.Err = err
			return o
		}
	}
	if h.Status != 0 {
		o.Err = &ExecError{Stderr: stderr, Err: fmt.Errorf("exit status %d", h.Status)}
	}
	return o
}

// readLog reads the container log, which holds stdout alone, and checks it
// is whole.
func (r *Runner) readLog(ctx context.Context, p *corev1.Pod, size int) (string, error) {
	limit := int64(size) + 1
	rc, err := r.cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: containerName, LimitBytes: &limit}).Stream(ctx)
	if err != nil {
		return "", fmt.Errorf("read the log of debug pod %s: %w", p.Name, err)
	}
	defer func() { _ = rc.Close() }()
	var b strings.Builder
	if _, err := io.Copy(&b, rc); err != nil {
		return "", fmt.Errorf("read the log of debug pod %s: %w", p.Name, err)
	}
	if b.Len() != size {
		return "", fmt.Errorf("the log of debug pod %s holds %d bytes, the script printed %d (was the log rotated?)", p.Name, b.Len(), size)
	}
	return b.String(), nil
}

// runWatch is the one watch on a Gather's pods, fanned out to the goroutine
// waiting for each pod.
type runWatch struct {
	mu     sync.Mutex
	subs   map[string]chan *corev1.Pod
	rw     *watchtools.RetryWatcher
	cancel context.CancelFunc
	gone   chan struct{} // closed when the watch ends
}

// watchRun starts the watch on the run's label from a LIST of it (empty, but
// it gives the resourceVersion to start from, so no event is missed). A
// watch that cannot start leaves the waiters to poll.
func (r *Runner) watchRun(ctx context.Context, run string) *runWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &runWatch{subs: map[string]chan *corev1.Pod{}, cancel: cancel, gone: make(chan struct{})}
	pods := r.cs.CoreV1().Pods(r.opts.Namespace)
	sel := LabelRun + "=" + run
	l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err == nil {
		w.rw, err = watchtools.NewRetryWatcherWithContext(ctx, l.ResourceVersion, &cache.ListWatch{
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				opts.LabelSelector = sel
				return pods.Watch(ctx, opts)
			},
		})
	}
	if err != nil {
		close(w.gone)
		return w
	}
	go w.dispatch()
	return w
}

func (w *runWatch) dispatch() {
	defer close(w.gone)
	for ev := range w.rw.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue // a watch error: the retry watcher goes on or ends
		}
		name := p.Name
		if ev.Type == watch.Deleted {
			p = nil
		}
		w.mu.Lock()
		ch := w.subs[name]
		w.mu.Unlock()
		if ch == nil {
			continue
		}
		// Keep only the newest state: a waiter needs no history.
		select {
		case <-ch:
		default:
		}
		ch <- p
	}
}

func (w *runWatch) subscribe(name string) <-chan *corev1.Pod {
	ch := make(chan *corev1.Pod, 1)
	w.mu.Lock()
	w.subs[name] = ch
	w.mu.Unlock()
	return ch
}

func (w *runWatch) unsubscribe(name string) {
	w.mu.Lock()
	delete(w.subs, name)
	w.mu.Unlock()
}

// broken reports whether the watch has ended, so waiters must poll.
func (w *runWatch) broken() bool {
	select {
	case <-w.gone:
		return true
	default:
		return false
	}
}

func (w *runWatch) stop() {
	w.cancel()
	if w.rw != nil {
		w.rw.Stop()
	}
	<-w.gone
}
