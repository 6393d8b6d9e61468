package nodeexec

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The ended pods of a batch go in one DeleteCollection once every node of
// the batch is done; without the right to delete collections, one by one.
func TestBatchDelete(t *testing.T) {
	tests := []struct {
		name           string
		refuse         bool
		wantCollection int
		wantDeletes    int
	}{
		{"one request per batch", false, 2, 0},
		{"refused: pod by pod, asked once", true, 1, batchSize + 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			if tc.refuse {
				cs.PrependReactor("delete-collection", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", fmt.Errorf("no deletecollection"))
				})
			}
			r := NewRunner(cs, nil, Options{})
			nodes := batchSize + 4
			b := newBatches(nodes)
			outs := make([]Output, nodes)
			collections := func() (n int, selectors []string) {
				for _, a := range cs.Actions() {
					if dc, ok := a.(k8stesting.DeleteCollectionAction); ok {
						n++
						selectors = append(selectors, dc.GetListRestrictions().Labels.String())
					}
				}
				return n, selectors
			}
			for i := range nodes {
				name := fmt.Sprintf("pod-%d", i)
				if i == 7 {
					r.finish(b, "run1", i, "", outs) // failed: its pod was deleted at once
					continue
				}
				if _, err := cs.CoreV1().Pods(DefaultNamespace).Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: DefaultNamespace}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				r.track(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: DefaultNamespace}}, "node")
				if n, _ := collections(); i == batchSize-2 && n != 0 {
					t.Fatalf("a batch deleted before all its nodes were done")
				}
				r.finish(b, "run1", i, name, outs)
			}
			n, selectors := collections()
			deletes := 0
			for _, a := range cs.Actions() {
				if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
					deletes++
				}
			}
			if n != tc.wantCollection || deletes != tc.wantDeletes {
				t.Errorf("%d DeleteCollection, %d deletes; want %d, %d", n, deletes, tc.wantCollection, tc.wantDeletes)
			}
			if want := LabelBatch + "=0," + LabelRun + "=run1"; len(selectors) == 0 || selectors[0] != want {
				t.Errorf("selectors %v, want the first %q", selectors, want)
			}
			if left := r.Leftovers(); len(left) != 0 {
				t.Errorf("still tracked: %v", left)
			}
		})
	}
}

func TestPool(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int
		qps         float32
		gather      bool
		want        int
	}{
		{"set by the user", 7, 100, true, 7},
		{"set by the user, through exec", 7, 100, false, 7},
		{"reads: twice the QPS", 0, 100, true, 200},
		{"reads at a low QPS: at least 10", 0, 2, true, 10},
		{"reads at a high QPS: at most 500", 0, 1000, true, 500},
		{"through exec: 10 streams", 0, 100, false, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRunner(fake.NewClientset(), nil, Options{Concurrency: tc.concurrency, QPS: tc.qps})
			if got := r.pool(tc.gather); got != tc.want {
				t.Errorf("pool(%v) = %d, want %d", tc.gather, got, tc.want)
			}
		})
	}
}
