// Package scenario loads a directory of Kubernetes objects, status included,
// into a real API server that has no kubelet or controllers: it creates each
// object, then writes its status through the status subresource, as the
// missing components would have. Every object it creates carries the label
// LabelKey, so Reset can remove a scenario before the next one is loaded.
package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// LabelKey marks the objects a scenario created.
const LabelKey = "acknet.test/scenario"

// AnnotationAge on an Event sets its firstTimestamp that long before now
// (lastTimestamp is now), since an API server stamps creation times itself.
const AnnotationAge = "acknet.test/age"

// Load creates every object of the YAML files in dir (sorted by name).
func Load(ctx context.Context, cs kubernetes.Interface, dir string) error {
	objs, err := Read(dir)
	if err != nil {
		return err
	}
	name := filepath.Base(dir)
	// Namespaces first, then nodes, so that pods can refer to both.
	sort.SliceStable(objs, func(i, j int) bool { return order(objs[i]) < order(objs[j]) })
	for _, o := range objs {
		if err := create(ctx, cs, name, o); err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
	}
	return nil
}

func order(o runtime.Object) int {
	switch o.(type) {
	case *corev1.Namespace:
		return 0
	case *corev1.Node:
		return 1
	case *corev1.Event:
		return 3
	}
	return 2
}

// Read decodes the objects of a scenario directory.
func Read(dir string) ([]runtime.Object, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("scenario %s: no *.yaml files", dir)
	}
	sort.Strings(files)
	var out []runtime.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := utilyaml.NewYAMLReader(bufioReader(data))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 || isOnlyComments(doc) {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, obj)
		}
	}
	return out, nil
}

func isOnlyComments(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

func label(m *metav1.ObjectMeta, scenario string) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[LabelKey] = scenario
}

func ensureNamespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	if ns == "" {
		return nil
	}
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	// Without kube-controller-manager nobody creates the default
	// ServiceAccount, and the admission plugin refuses pods without it.
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create serviceaccount %s/default: %w", ns, err)
	}
	return nil
}

func create(ctx context.Context, cs kubernetes.Interface, scenario string, obj runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return ensureNamespace(ctx, cs, o.Name)
	case *corev1.Node:
		label(&o.ObjectMeta, scenario)
		status := o.Status
		created, err := cs.CoreV1().Nodes().Create(ctx, o, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create node %s: %w", o.Name, err)
		}
		created.Status = status
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("status of node %s: %w", o.Name, err)
		}
	case *corev1.Pod:
		label(&o.ObjectMeta, scenario)
		if err := ensureNamespace(ctx, cs, o.Namespace); err != nil {
			return err
		}
		status := o.Status
		created, err := cs.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create pod %s/%s: %w", o.Namespace, o.Name, err)
		}
		if status.Phase != "" {
			created.Status = status
			if _, err := cs.CoreV1().Pods(o.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("status of pod %s/%s: %w", o.Namespace, o.Name, err)
			}
		}
	case *corev1.Service:
		label(&o.ObjectMeta, scenario)
		if err := ensureNamespace(ctx, cs, o.Namespace); err != nil {
			return err
		}
		if _, err := cs.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create service %s/%s: %w", o.Namespace, o.Name, err)
		}
	case *corev1.ConfigMap:
		label(&o.ObjectMeta, scenario)
		if err := ensureNamespace(ctx, cs, o.Namespace); err != nil {
			return err
		}
		if _, err := cs.CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create configmap %s/%s: %w", o.Namespace, o.Name, err)
		}
	case *appsv1.DaemonSet:
		label(&o.ObjectMeta, scenario)
		if err := ensureNamespace(ctx, cs, o.Namespace); err != nil {
			return err
		}
		status := o.Status
		created, err := cs.AppsV1().DaemonSets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create daemonset %s/%s: %w", o.Namespace, o.Name, err)
		}
		created.Status = status
		if _, err := cs.AppsV1().DaemonSets(o.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("status of daemonset %s/%s: %w", o.Namespace, o.Name, err)
		}
	case *corev1.Event:
		label(&o.ObjectMeta, scenario)
		if err := ensureNamespace(ctx, cs, o.Namespace); err != nil {
			return err
		}
		now := time.Now()
		if o.LastTimestamp.IsZero() {
			o.LastTimestamp = metav1.NewTime(now)
		}
		if o.FirstTimestamp.IsZero() {
			o.FirstTimestamp = o.LastTimestamp
		}
		if age := o.Annotations[AnnotationAge]; age != "" {
			d, err := time.ParseDuration(age)
			if err != nil {
				return fmt.Errorf("event %s: annotation %s: %w", o.Name, AnnotationAge, err)
			}
			o.FirstTimestamp = metav1.NewTime(now.Add(-d))
		}
		if _, err := cs.CoreV1().Events(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create event %s/%s: %w", o.Namespace, o.Name, err)
		}
	default:
		return fmt.Errorf("unsupported object %T", obj)
	}
	return nil
}

// Reset deletes every object a scenario created. Namespaces stay: without
// kube-controller-manager nothing would finalize their deletion.
func Reset(ctx context.Context, cs kubernetes.Interface) error {
	sel := metav1.ListOptions{LabelSelector: LabelKey}
	zero := int64(0)
	del := metav1.DeleteOptions{GracePeriodSeconds: &zero}
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	for _, ns := range nss.Items {
		n := ns.Name
		steps := []func() error{
			func() error { return cs.CoreV1().Pods(n).DeleteCollection(ctx, del, sel) },
			func() error { return cs.CoreV1().ConfigMaps(n).DeleteCollection(ctx, del, sel) },
			// Backups that kubectl acknet fix left.
			func() error {
				return cs.CoreV1().ConfigMaps(n).DeleteCollection(ctx, del, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=kubectl-acknet"})
			},
			func() error { return cs.AppsV1().DaemonSets(n).DeleteCollection(ctx, del, sel) },
			func() error { return cs.CoreV1().Events(n).DeleteCollection(ctx, del, sel) },
			func() error { return deleteServices(ctx, cs, n) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return fmt.Errorf("reset namespace %s: %w", n, err)
			}
		}
	}
	if err := cs.CoreV1().Nodes().DeleteCollection(ctx, del, sel); err != nil {
		return fmt.Errorf("reset nodes: %w", err)
	}
	return waitGone(ctx, cs)
}

// Services have no DeleteCollection.
func deleteServices(ctx context.Context, cs kubernetes.Interface, ns string) error {
	l, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelKey})
	if err != nil {
		return err
	}
	for _, s := range l.Items {
		if err := cs.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

func waitGone(ctx context.Context, cs kubernetes.Interface) error {
	sel := metav1.ListOptions{LabelSelector: LabelKey}
	deadline := time.Now().Add(30 * time.Second)
	for {
		pods, err := cs.CoreV1().Pods("").List(ctx, sel)
		if err != nil {
			return err
		}
		nodes, err := cs.CoreV1().Nodes().List(ctx, sel)
		if err != nil {
			return err
		}
		if len(pods.Items) == 0 && len(nodes.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("reset: %d pods and %d nodes still there after 30s", len(pods.Items), len(nodes.Items))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
