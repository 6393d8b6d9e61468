package plugin

import "testing"

func TestNodeConcurrencyDefault(t *testing.T) {
	tests := []struct {
		name string
		n    NodeOptions
		qps  float32
		want int
	}{
		{"set by the user", NodeOptions{Concurrency: 7, Via: viaPod}, 100, 7},
		{"reads: twice the QPS", NodeOptions{Via: viaPod}, 100, 200},
		{"reads at a low QPS: at least 10", NodeOptions{Via: viaPod}, 2, 10},
		{"reads at a high QPS: at most 500", NodeOptions{Via: viaPod}, 1000, 500},
		{"through exec: 10 streams", NodeOptions{Via: viaExec}, 100, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.n.concurrency(tc.qps); got != tc.want {
				t.Errorf("concurrency(%v) = %d, want %d", tc.qps, got, tc.want)
			}
		})
	}
}
