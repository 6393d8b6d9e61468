package plugin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestCordonNode(t *testing.T) {
	tests := []struct {
		name       string
		cordoned   bool // before the run
		failPatch  bool
		wantErr    bool
		wantHeld   bool // named as left over while held
		wantAfter  bool // unschedulable after undo
		wantOutput string
	}{
		{name: "cordoned for the run, uncordoned after", wantHeld: true, wantOutput: "uncordoned"},
		{name: "cordoned before: left so", cordoned: true, wantAfter: true, wantOutput: "was cordoned already"},
		{name: "cordon call fails: undo still given", failPatch: true, wantErr: true, wantHeld: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Unschedulable: tt.cordoned}})
			if tt.failPatch {
				first := true
				cs.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
					if first {
						first = false
						return true, nil, errors.New("timeout")
					}
					return false, nil, nil
				})
			}
			var log bytes.Buffer
			held := &cordonSet{}
			undo, err := cordonNode(context.Background(), cs, "n1", &log, held)
			if (err != nil) != tt.wantErr || undo == nil {
				t.Fatalf("err %v, undo %v", err, undo != nil)
			}
			if got := len(held.leftovers()) == 1; got != tt.wantHeld {
				t.Errorf("held %v: %v", held.leftovers(), got)
			}
			undo()
			n, _ := cs.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
			if n.Spec.Unschedulable != tt.wantAfter || len(held.leftovers()) != 0 {
				t.Errorf("after: unschedulable %v, held %v\n%s", n.Spec.Unschedulable, held.leftovers(), log.String())
			}
			if !strings.Contains(log.String(), tt.wantOutput) {
				t.Errorf("output %q, want %q", log.String(), tt.wantOutput)
			}
		})
	}
}
