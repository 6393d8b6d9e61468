// Command benchconn measures the control-plane part of `connectivity test`
// at scale, on kwok nodes: creating the test pods and Services for K nodes,
// waiting until they are Ready with endpoints, and deleting the namespace,
// with the API requests each takes. It sends no traffic (kwok's pods have no
// network), so it needs a rig with the endpointslice and namespace
// controllers (hack/bench-conn.sh starts one).
//
//	go run ./hack/benchconn -nodes 25
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-acknet/kubectl-acknet/internal/connectivity"
	"github.com/kubectl-acknet/kubectl-acknet/internal/nodeexec"
)

// counting counts the requests of every transport the client makes.
type counting struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func main() {
	nodes := flag.Int("nodes", 10, "kwok nodes under test")
	flag.Parse()
	if err := run(*nodes); err != nil {
		fmt.Fprintln(os.Stderr, "benchconn:", err)
		os.Exit(1)
	}
}

func run(k int) error {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	var requests atomic.Int64
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return counting{next: rt, n: &requests} }
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var nodes []connectivity.Node
	var names []string
	for i := 0; i < k; i++ {
		name := fmt.Sprintf("kwok-conn-%d", i)
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}}}
		if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			return err
		}
		nodes = append(nodes, connectivity.Node{Name: name, IPs: map[connectivity.Family]string{connectivity.IPv4: "127.0.0.1"}})
		names = append(names, name)
	}
	cells := connectivity.Plan(connectivity.Input{Nodes: names, Families: []connectivity.Family{connectivity.IPv4}})
	r := connectivity.NewRunner(cs, cfg, nodes, connectivity.Options{
		Image: nodeexec.DefaultImage, Namespace: "acknet-connectivity-bench", HostPort: 31080,
		WaitTimeout: 10 * time.Minute, Deadline: time.Hour,
	})
	before := requests.Load()
	start := time.Now()
	dep, err := r.Deploy(ctx, cells)
	if err != nil {
		_ = r.Delete()
		return err
	}
	deploy, deployReq := time.Since(start), requests.Load()-before
	before, start = requests.Load(), time.Now()
	if err := r.Delete(); err != nil {
		return err
	}
	del, delReq := time.Since(start), requests.Load()-before
	runnable := 0
	for _, c := range cells {
		if c.Skip == "" {
			runnable++
		}
	}
	fmt.Printf("| %d | %d | %d | %.1f | %d | %.1f | %d |\n", k, len(dep.PodIPs), runnable, deploy.Seconds(), deployReq, del.Seconds(), delReq)
	return nil
}
