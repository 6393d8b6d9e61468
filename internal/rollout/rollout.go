// Package rollout restarts a DaemonSet's pods the controlled way, so that a
// config change reaches every node without taking the network agent down on
// all of them at once: either a rollout restart that the DaemonSet
// controller carries out under its own update strategy, or pod by pod with
// at most N nodes down, each replacement waited for until it is Ready. The
// first replacement that does not become Ready stops the restart.
package rollout

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// RestartedAtAnnotation is the pod template annotation `kubectl rollout
// restart` sets; the same key keeps kubectl's history readable.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// Options tune a restart.
type Options struct {
	// MaxUnavailable > 0 restarts pod by pod with at most this many nodes
	// without a Ready pod at once. 0 lets a RollingUpdate DaemonSet roll
	// under its own strategy; an OnDelete DaemonSet is then restarted pod by
	// pod, one at a time.
	MaxUnavailable int
	// Timeout is how long one replacement pod may take to become Ready (pod
	// by pod), or how long a rollout may go without progress.
	Timeout time.Duration
	// Interval is how often a rollout's DaemonSet status is read (default
	// 500ms); pod by pod, replacements are seen through a watch.
	Interval time.Duration
	Out      io.Writer
}

// Restart restarts DaemonSet ns/name.
func Restart(ctx context.Context, cs kubernetes.Interface, ns, name string, o Options) error {
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	ds, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get DaemonSet %s/%s: %w", ns, name, err)
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType && o.MaxUnavailable == 0 {
		return rolloutRestart(ctx, cs, ds, o)
	}
	if o.MaxUnavailable == 0 {
		o.MaxUnavailable = 1
	}
	return podByPod(ctx, cs, ds, o)
}

func rolloutRestart(ctx context.Context, cs kubernetes.Interface, ds *appsv1.DaemonSet, o Options) error {
	id := ds.Namespace + "/" + ds.Name
	maxU := "1"
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		maxU = ru.MaxUnavailable.String()
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, RestartedAtAnnotation, time.Now().UTC().Format(time.RFC3339))
	updated, err := cs.AppsV1().DaemonSets(ds.Namespace).Patch(ctx, ds.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("rollout restart of DaemonSet %s: %w", id, err)
	}
	fmt.Fprintf(o.Out, "rollout restart of DaemonSet %s: the DaemonSet controller replaces its pods (RollingUpdate, maxUnavailable %s)\n", id, maxU)
	gen := updated.Generation
	start, lastProgress := time.Now(), time.Now()
	last := ""
	for {
		cur, err := cs.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("watch rollout of %s: %w", id, err)
		}
		st := cur.Status
		if st.ObservedGeneration >= gen {
			state := fmt.Sprintf("%d of %d updated, %d available", st.UpdatedNumberScheduled, st.DesiredNumberScheduled, st.NumberAvailable)
			if state != last {
				fmt.Fprintf(o.Out, "  %s\n", state)
				last, lastProgress = state, time.Now()
			}
			if st.UpdatedNumberScheduled == st.DesiredNumberScheduled && st.NumberAvailable == st.DesiredNumberScheduled && st.NumberUnavailable == 0 {
				fmt.Fprintf(o.Out, "DaemonSet %s restarted: %d pods in %s\n", id, st.DesiredNumberScheduled, time.Since(start).Round(100*time.Millisecond))
				return nil
			}
		}
		if time.Since(lastProgress) > o.Timeout {
			stuck := notReady(ctx, cs, cur)
			return fmt.Errorf("the rollout of DaemonSet %s made no progress for %s (%s); not Ready: %s. "+
				"The DaemonSet controller keeps at most maxUnavailable %s pods down and waits for them; "+
				"fix or roll back the config, and the rollout goes on", id, o.Timeout, last, stuck, maxU)
		}
		if err := sleep(ctx, o.Interval); err != nil {
			return fmt.Errorf("rollout of %s: %w (the DaemonSet controller goes on by itself)", id, err)
		}
	}
}

// notReady describes the DaemonSet's pods that are not Ready.
func notReady(ctx context.Context, cs kubernetes.Interface, ds *appsv1.DaemonSet) string {
	pods, err := ownedPods(ctx, cs, ds)
	if err != nil {
		return "(cannot list pods: " + err.Error() + ")"
	}
	var out []string
	for _, p := range pods {
		if !isReady(&p) {
			out = append(out, describe(&p))
		}
	}
	if len(out) == 0 {
		return "(no pod; the controller has not created the next one)"
	}
	return strings.Join(out, "; ")
}

func podByPod(ctx context.Context, cs kubernetes.Interface, ds *appsv1.DaemonSet, o Options) error {
	id := ds.Namespace + "/" + ds.Name
	// One list and one watch of the DaemonSet's pods, shared by every
	// worker: waiting for replacements costs no request per node, however
	// many nodes and workers there are.
	cache, stop, err := watchPods(ctx, cs, ds)
	if err != nil {
		return err
	}
	defer stop()
	pods := cache.pods("")
	// Pods that are down already go first: restarting them costs nothing.
	sort.SliceStable(pods, func(i, j int) bool {
		ri, rj := isReady(&pods[i]), isReady(&pods[j])
		if ri != rj {
			return !ri
		}
		return pods[i].Spec.NodeName < pods[j].Spec.NodeName
	})
	total := len(pods)
	fmt.Fprintf(o.Out, "restarting DaemonSet %s pod by pod: %d pods, at most %d down at once, %s per pod\n", id, total, o.MaxUnavailable, o.Timeout)
	start := time.Now()
	// A sliding window: each of MaxUnavailable workers deletes one pod and
	// waits for its replacement before it takes the next, so at most that
	// many nodes are without the agent, and a slow node does not hold up
	// the others. The first failure stops every worker from taking more.
	var (
		mu       sync.Mutex
		next     int
		done     int
		firstErr error
		wg       sync.WaitGroup
	)
	take := func() (corev1.Pod, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || ctx.Err() != nil || next >= len(pods) {
			return corev1.Pod{}, false
		}
		next++
		return pods[next-1], true
	}
	for w := 0; w < min(o.MaxUnavailable, total); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p, ok := take()
				if !ok {
					return
				}
				began := time.Now()
				repl, err := replace(ctx, cs, cache, &p, o)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					done++
					fmt.Fprintf(o.Out, "  [%d/%d] %s: %s -> %s Ready after %s\n", done, total, p.Spec.NodeName, p.Name, repl.Name, time.Since(began).Round(100*time.Millisecond))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return stopped(id, done, total, pods[next:], firstErr)
	}
	fmt.Fprintf(o.Out, "DaemonSet %s restarted: %d pods in %s\n", id, total, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// replace deletes pod p (only that incarnation) and waits for its
// replacement to be Ready.
func replace(ctx context.Context, cs kubernetes.Interface, cache *podCache, p *corev1.Pod, o Options) (*corev1.Pod, error) {
	deleted := time.Now()
	uid := p.UID
	err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return waitReplacement(ctx, cache, p, deleted, o)
}

func stopped(id string, done, total int, rest []corev1.Pod, cause error) error {
	var nodes []string
	for _, p := range rest {
		nodes = append(nodes, p.Spec.NodeName)
	}
	msg := fmt.Sprintf("restart of DaemonSet %s stopped after %d of %d pods: %v", id, done, total, cause)
	if len(nodes) > 0 {
		msg += fmt.Sprintf("; not restarted, still on the old config: %s", strings.Join(nodes, ", "))
	}
	return fmt.Errorf("%s", msg)
}

// waitReplacement waits until the DaemonSet runs a Ready pod on old's node
// that is not old.
func waitReplacement(ctx context.Context, cache *podCache, old *corev1.Pod, since time.Time, o Options) (*corev1.Pod, error) {
	node := old.Spec.NodeName
	var last *corev1.Pod
	for {
		pods := cache.pods(node)
		last = nil
		for i := range pods {
			p := &pods[i]
			if p.UID == old.UID || p.DeletionTimestamp != nil {
				continue
			}
			if isReady(p) {
				return p, nil
			}
			last = p
		}
		if time.Since(since) > o.Timeout {
			if last == nil {
				return nil, fmt.Errorf("node %s: no replacement of %s appeared within %s", node, old.Name, o.Timeout)
			}
			return nil, fmt.Errorf("node %s: the replacement %s is not Ready after %s", node, describe(last), o.Timeout)
		}
		// The cache is in memory: looking often costs no request.
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, fmt.Errorf("node %s: waiting for the replacement of %s: %w", node, old.Name, err)
		}
	}
}

// podCache is the informer-fed view of one DaemonSet's pods.
type podCache struct {
	ds     *appsv1.DaemonSet
	lister corelisters.PodLister
}

// watchPods starts an informer on the DaemonSet's pods (its label selector,
// its namespace) and waits until it has the first list.
func watchPods(ctx context.Context, cs kubernetes.Interface, ds *appsv1.DaemonSet) (*podCache, func(), error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil, nil, fmt.Errorf("DaemonSet %s/%s has no usable selector", ds.Namespace, ds.Name)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ds.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
	podInformer := factory.Core().V1().Pods()
	informer := podInformer.Informer()
	stopCh := make(chan struct{})
	factory.Start(stopCh)
	stop := func() {
		close(stopCh)
		factory.Shutdown()
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		stop()
		return nil, nil, fmt.Errorf("list pods of DaemonSet %s/%s: %w", ds.Namespace, ds.Name, context.Cause(ctx))
	}
	return &podCache{ds: ds, lister: podInformer.Lister()}, stop, nil
}

// pods returns copies of the DaemonSet's pods, on one node when node is set.
func (c *podCache) pods(node string) []corev1.Pod {
	all, _ := c.lister.Pods(c.ds.Namespace).List(labels.Everything())
	var out []corev1.Pod
	for _, p := range all {
		if owned(p, c.ds) && (node == "" || p.Spec.NodeName == node) {
			out = append(out, *p.DeepCopy())
		}
	}
	return out
}

// ownedPods lists the DaemonSet's pods.
func ownedPods(ctx context.Context, cs kubernetes.Interface, ds *appsv1.DaemonSet) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil, fmt.Errorf("DaemonSet %s/%s has no usable selector", ds.Namespace, ds.Name)
	}
	var out []corev1.Pod
	err = cluster.ListPaged(ctx, cluster.DefaultChunkSize, metav1.ListOptions{LabelSelector: sel.String()}, func(opts metav1.ListOptions) (string, error) {
		l, err := cs.CoreV1().Pods(ds.Namespace).List(ctx, opts)
		if err != nil {
			return "", err
		}
		for _, p := range l.Items {
			if owned(&p, ds) {
				out = append(out, p)
			}
		}
		return l.Continue, nil
	}, func() { out = nil })
	if err != nil {
		return nil, fmt.Errorf("list pods of DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return out, nil
}

func owned(p *corev1.Pod, ds *appsv1.DaemonSet) bool {
	for _, r := range p.OwnerReferences {
		if r.UID == ds.UID {
			return true
		}
	}
	return false
}

func isReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// describe says where a pod is and why it is not Ready.
func describe(p *corev1.Pod) string {
	node := p.Spec.NodeName
	if node == "" {
		node = "(not scheduled)"
	}
	why := string(p.Status.Phase)
	if why == "" {
		why = "no status"
	}
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			why += ", " + c.Name + ": " + w.Reason
		}
	}
	return fmt.Sprintf("pod %s on %s (%s)", p.Name, node, why)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Consumers returns the names of the DaemonSets among dss whose pods mount
// ConfigMap cm.
func Consumers(dss []appsv1.DaemonSet, cm string) []string {
	var out []string
	for _, ds := range dss {
		for _, v := range ds.Spec.Template.Spec.Volumes {
			if mountsConfigMap(v, cm) {
				out = append(out, ds.Name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func mountsConfigMap(v corev1.Volume, cm string) bool {
	if v.ConfigMap != nil && v.ConfigMap.Name == cm {
		return true
	}
	if v.Projected != nil {
		for _, s := range v.Projected.Sources {
			if s.ConfigMap != nil && s.ConfigMap.Name == cm {
				return true
			}
		}
	}
	return false
}
