package bundle

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-acknet/kubectl-acknet/internal/cluster"
)

func TestLogsHandsEachLogToTheSink(t *testing.T) {
	var pods []cluster.PodRef
	for i := 0; i < 50; i++ {
		pods = append(pods, cluster.PodRef{Namespace: "kube-system", Name: fmt.Sprintf("kube-proxy-worker-%02d", i), Detail: "kube-proxy"})
	}
	tests := []struct {
		name     string
		failAt   int // the sink fails on this call; 0: never
		wantSeen int
		wantErr  bool
	}{
		{name: "every pod once", wantSeen: 50},
		{name: "a sink error stops the reads", failAt: 3, wantSeen: 3, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]int{}
			var inSink atomic.Int32
			err := Logs(context.Background(), fake.NewClientset(), pods, LogOptions{Concurrency: 4}, func(l AgentLog) error {
				// Called from one goroutine: the archive writer is not
				// safe for concurrent use.
				if inSink.Add(1) != 1 {
					t.Error("sink called concurrently")
				}
				defer inSink.Add(-1)
				seen[l.Pod.Name]++
				if l.Err != nil || len(l.Data) == 0 {
					t.Errorf("%s: %v %q", l.Pod.Name, l.Err, l.Data)
				}
				if len(seen) == tc.failAt {
					return errors.New("disk full")
				}
				return nil
			})
			if (err != nil) != tc.wantErr || len(seen) != tc.wantSeen {
				t.Errorf("err %v, %d pods seen, want %d", err, len(seen), tc.wantSeen)
			}
			for name, n := range seen {
				if n != 1 {
					t.Errorf("%s seen %d times", name, n)
				}
			}
		})
	}
}
