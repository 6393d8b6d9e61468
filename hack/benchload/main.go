// Command benchload fills the local cluster with kwok-managed nodes, pods,
// Services and Warning events for `make bench`. It uses $KUBECONFIG.
//
//	go run ./hack/benchload -nodes 1000 -pods 30000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	nodes := flag.Int("nodes", 1000, "kwok-managed nodes")
	pods := flag.Int("pods", 30000, "pods, spread over the nodes")
	services := flag.Int("services", 300, "Services")
	events := flag.Int("events", 2000, "Warning events (a tenth of them name IP exhaustion)")
	namespaces := flag.Int("namespaces", 10, "namespaces for pods, Services and events")
	workers := flag.Int("workers", 32, "parallel creates")
	flag.Parse()
	if err := run(*nodes, *pods, *services, *events, *namespaces, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "benchload:", err)
		os.Exit(1)
	}
}

func run(nodes, pods, services, events, namespaces, workers int) error {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	for i := 0; i < namespaces; i++ {
		ns := fmt.Sprintf("bench-%d", i)
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	start := time.Now()
	if err := parallel(nodes, workers, "nodes", func(i int) error {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-node-%04d", i),
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}, Labels: map[string]string{"bench": "true"}},
			Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.%d.%d.0/24", 200+i/256, i%256)}}
		_, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	if err := parallel(pods, workers, "pods", func(i int) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%05d", i), Namespace: fmt.Sprintf("bench-%d", i%namespaces),
			Labels: map[string]string{"app": fmt.Sprintf("app-%d", i%services)}},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("bench-node-%04d", i%nodes),
				Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/bench/app:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
		_, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	if err := parallel(services, workers, "services", func(i int) error {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%d", i), Namespace: fmt.Sprintf("bench-%d", i%namespaces)},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": fmt.Sprintf("app-%d", i)}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
		_, err := cs.CoreV1().Services(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	if err := parallel(events, workers, "events", func(i int) error {
		ns := fmt.Sprintf("bench-%d", i%namespaces)
		msg := "Back-off restarting failed container"
		reason := "BackOff"
		if i%10 == 0 {
			msg = "failed to allocate for range 0: no IP addresses available in range set: 10.200.0.1-10.200.0.254"
			reason = "FailedCreatePodSandBox"
		}
		e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%05d", i), Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("app-%05d", i)},
			Reason:         reason, Message: msg, Type: corev1.EventTypeWarning, Count: 1,
			Source:         corev1.EventSource{Component: "kubelet", Host: fmt.Sprintf("bench-node-%04d", i%nodes)},
			FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now()}
		_, err := cs.CoreV1().Events(ns).Create(ctx, e, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchload: %d nodes, %d pods, %d services, %d events in %s\n", nodes, pods, services, events, time.Since(start).Round(time.Second))
	return nil
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func parallel(n, workers int, what string, fn func(int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("create %s: %w", what, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
